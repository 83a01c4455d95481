package apispec

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"chatrelay/internal/config"
	"chatrelay/internal/destination"
	"chatrelay/internal/httpapi"
	"chatrelay/internal/server"
	"chatrelay/internal/testkit"
)

// document is the part of the AsyncAPI document the tests read.
type document struct {
	AsyncAPI string `json:"asyncapi"`
	Channels map[string]struct {
		Address string `json:"address"`
	} `json:"channels"`
	Components struct {
		Schemas map[string]schema `json:"schemas"`
	} `json:"components"`
}

// schema is the part of a JSON schema the tests read.
type schema struct {
	Type       any               `json:"type"`
	Required   []string          `json:"required"`
	Properties map[string]schema `json:"properties"`
}

func load(t *testing.T) document {
	t.Helper()
	var d document
	if err := json.Unmarshal(httpapi.AsyncAPI(), &d); err != nil {
		t.Fatal(err)
	}
	if d.AsyncAPI != "3.0.0" {
		t.Fatalf("asyncapi %q, want 3.0.0", d.AsyncAPI)
	}
	return d
}

// TestAsyncAPIValid runs @asyncapi/parser (test/js/asyncapi.mjs) on the
// served document: no error, no warning, every channel built.
func TestAsyncAPIValid(t *testing.T) {
	node, err := exec.LookPath("node")
	testkit.Require(t, testkit.Node, err)
	dir := filepath.Join(testkit.RepoRoot(t), "test", "js")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@asyncapi", "parser")); err != nil {
		testkit.Require(t, testkit.Node, err)
	}
	file := filepath.Join(t.TempDir(), "asyncapi.json")
	if err := os.WriteFile(file, httpapi.AsyncAPI(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "asyncapi.mjs", file)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res struct {
		Version    string
		Channels   []string
		Operations int
		Errors     []string
		Warnings   []string
	}
	if jerr := json.Unmarshal(bytes.TrimSpace(out), &res); jerr != nil {
		t.Fatalf("asyncapi.mjs: %v %v\n%s\n%s", err, jerr, out, stderr.String())
	}
	if err != nil || len(res.Errors) > 0 || len(res.Warnings) > 0 || res.Version != "3.0.0" {
		t.Fatalf("@asyncapi/parser: version %q, errors %q, warnings %q, %v\n%s", res.Version, res.Errors, res.Warnings, err, stderr.String())
	}
	if want := len(load(t).Channels); len(res.Channels) != want || res.Operations < want {
		t.Fatalf("parser built %d channels and %d operations, the document has %d channels", len(res.Channels), res.Operations, want)
	}
	t.Logf("@asyncapi/parser: valid, %d channels, %d operations", len(res.Channels), res.Operations)
}

// shape turns a destination pattern or channel address into a comparable
// shape: every variable ({id}, **) is {}.
var variable = regexp.MustCompile(`\{[^}]*\}|\*\*`)

func shape(s string) string { return variable.ReplaceAllString(s, "{}") }

// TestAsyncAPICoversDestinations: every destination of the policy's
// defaults (aliases both ways, what clients may SEND and SUBSCRIBE to)
// and every /app route a default server registers is a channel, and
// every /app channel is a route or an alias.
func TestAsyncAPICoversDestinations(t *testing.T) {
	testkit.SkipShort(t, testkit.Tool{Name: "an in-process server"})
	d := load(t)
	channels := map[string]bool{}
	for _, c := range d.Channels {
		channels[shape(c.Address)] = true
	}
	srv, err := server.New(config.Defaults(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(t.Context()) })
	routes := srv.Router().Patterns()
	if len(routes) < 10 {
		t.Fatalf("only %d /app routes registered: %v", len(routes), routes)
	}
	want := map[string]string{} // shape → where it comes from
	for _, r := range routes {
		want[shape(r)] = "route " + r
	}
	def := destination.DefaultConfig()
	for _, a := range def.Aliases {
		want[shape(a.From)] = "alias " + a.From
		want[shape(a.To)] = "alias target " + a.To
	}
	for _, p := range append(def.ClientSend, def.ClientSubscribe...) {
		if p == "/app/**" {
			continue // the routes above
		}
		want[shape(p)] = "client pattern " + p
	}
	var missing []string
	for s, from := range want {
		if s == "/app/{}" {
			continue // an alias target standing for every route
		}
		if !channels[s] {
			missing = append(missing, from)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("not in the AsyncAPI document:\n%s", strings.Join(missing, "\n"))
	}
	for s := range channels {
		if strings.HasPrefix(s, "/app/") {
			if _, ok := want[s]; !ok {
				t.Errorf("the document describes %s, which no route or alias serves", s)
			}
		}
	}
	t.Logf("%d routes and %d default destinations, all channels of the document", len(routes), len(want)-len(routes))
}
