package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatrelay/internal/apicheck"
)

// TestBrowserAPIDocs: /api/docs shows the REST API reference in
// Chromium (the vendored Swagger UI under the page's Content-Security-
// Policy) with every operation of the OpenAPI document, and "Try it out"
// on GET /api/rooms gets a 200 from the server.
func TestBrowserAPIDocs(t *testing.T) {
	tl := requireTools(t)
	doc, err := apicheck.Load()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			want = append(want, method+" "+path)
		}
	}
	slices.Sort(want)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r := startReplica(t, "apidocs")
	r.proc.WaitReady(t, 30*time.Second)
	cfg, _ := json.Marshal(map[string]any{
		"base":        r.HTTP(),
		"chromium":    tl.chromium,
		"userDataDir": filepath.Join(t.TempDir(), "profile"),
		"timeoutMs":   30000,
	})
	dir := filepath.Dir(tl.script)
	run := exec.CommandContext(ctx, "node", filepath.Join(dir, "apidocs.mjs"), string(cfg))
	run.Dir = dir
	home := t.TempDir()
	run.Env = append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(home, "config"), "XDG_CACHE_HOME="+filepath.Join(home, "cache"))
	run.Cancel = func() error { return run.Process.Signal(syscall.SIGTERM) }
	run.WaitDelay = 10 * time.Second
	var stderr bytes.Buffer
	run.Stderr = &stderr
	out, err := run.Output()
	var res struct {
		Title      string
		Operations []string
		TryStatus  string
		Errors     []string
	}
	if jerr := json.Unmarshal(bytes.TrimSpace(out), &res); jerr != nil {
		t.Fatalf("apidocs.mjs: %v %v\nstdout: %s\nstderr: %s", err, jerr, out, stderr.String())
	}
	got := slices.Clone(res.Operations)
	slices.Sort(got)
	if err != nil || len(res.Errors) > 0 || res.Title == "" || !strings.HasPrefix(res.Title, "chatrelay REST API") ||
		!slices.Equal(got, want) || res.TryStatus != "200" {
		t.Fatalf("/api/docs: title %q, try-it-out status %q, errors %q, %v\noperations shown %q\nwant %q\nstderr: %s",
			res.Title, res.TryStatus, res.Errors, err, got, want, stderr.String())
	}
	t.Logf("/api/docs shows %q with all %d operations; Try it out on GET /api/rooms: %s", res.Title, len(got), res.TryStatus)
}
