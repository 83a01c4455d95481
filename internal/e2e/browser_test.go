package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/jsclient"
	"chatrelay/internal/nginxtest"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/testkit"
)

// testTimeout bounds TestBrowserChat as a whole: building the server,
// starting the replicas and nginx, and both browser runs.
const testTimeout = 3 * time.Minute

// artifactsEnv names a directory that keeps screenshots of failed runs.
const artifactsEnv = "CHATRELAY_E2E_ARTIFACTS"

// rabbit is the package's private RabbitMQ node; nil when RabbitMQ is not
// installed or the other tools are missing.
var rabbit *rabbittest.Node

func TestMain(m *testing.M) {
	if _, missing := findTools(); len(missing) > 0 {
		// the test skips (or fails) before it needs a broker
		fmt.Fprintf(os.Stderr, "e2e: not starting RabbitMQ: %v\n", missing)
		os.Exit(m.Run())
	}
	os.Exit(rabbittest.Main(m, &rabbit))
}

// tools are the programs and scripts a browser run needs.
type tools struct {
	chromium string // the browser executable
	script   string // test/js/browser.mjs
}

// missingTool is a tool that is not there, and why.
type missingTool struct {
	tool testkit.Tool
	err  error
}

func (m missingTool) String() string {
	return fmt.Sprintf("%v (%s=1 makes this fatal)", m.err, m.tool.Env)
}

// findTools finds the tools and lists the missing ones.
func findTools() (tools, []missingTool) {
	var tl tools
	var missing []missingTool
	if err := jsclient.Available(); err != nil {
		missing = append(missing, missingTool{testkit.Node, err})
	} else if root, err := jsclient.ModuleRoot(); err != nil {
		missing = append(missing, missingTool{testkit.Node, err})
	} else {
		js := filepath.Join(root, "test", "js")
		tl.script = filepath.Join(js, "browser.mjs")
		if _, err := os.Stat(filepath.Join(js, "node_modules", "playwright-core", "package.json")); err != nil {
			missing = append(missing, missingTool{testkit.Node,
				fmt.Errorf("playwright-core is not installed in %s/node_modules (run `npm ci --prefix test/js`)", js)})
		} else if _, err := os.Stat(tl.script); err != nil {
			missing = append(missing, missingTool{testkit.Node, err})
		}
	}
	var err error
	if tl.chromium, err = findBinary("chromium", "/usr/bin/chromium"); err != nil {
		missing = append(missing, missingTool{testkit.Browser, fmt.Errorf("Debian package chromium: %w", err)})
	}
	if _, err := nginxtest.Find(); err != nil {
		missing = append(missing, missingTool{testkit.Nginx, fmt.Errorf("Debian package nginx: %w", err)})
	}
	return tl, missing
}

// requireTools returns the tools, or ends the test: a failure when the
// variable of a missing tool is "1", a loud skip otherwise, and always a
// skip under -short.
func requireTools(t testing.TB) tools {
	t.Helper()
	testkit.SkipShort(t, testkit.Browser)
	tl, missing := findTools()
	for _, m := range missing {
		if m.tool.Required() {
			testkit.Require(t, m.tool, m.err)
		}
	}
	if len(missing) > 0 {
		t.Skipf("SKIPPING browser test: missing %v", missing)
	}
	return tl
}

// TestBrowserChat: through nginx in front of two replicas, two Chromium
// pages on different replicas chat in a new room, see each other online
// and find the room's history after a reload, over WebSocket and, with
// window.WebSocket deleted, over SockJS.
func TestBrowserChat(t *testing.T) {
	tl := requireTools(t)
	node := rabbittest.Require(t, rabbit)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s := startStack(t, ctx, node)
	t.Logf("nginx at %s; %s at %s, %s at %s", s.base,
		s.replicas[0].name, s.replicas[0].addr, s.replicas[1].name, s.replicas[1].addr)
	for _, transport := range []string{"websocket", "sockjs"} {
		t.Run(transport, func(t *testing.T) {
			if _, err := s.waitSessions(0, 15*time.Second); err != nil {
				t.Fatalf("before the run: %v", err)
			}
			run := runBrowser(t, ctx, s, tl, transport)
			checkRun(t, run, transport)
		})
	}
}

// jsLine is one line browser.mjs writes on stdout: a step, a question, the
// result or the failure.
type jsLine struct {
	Type string `json:"type"`
	// step
	Step string `json:"step"`
	MS   int    `json:"ms"`
	// ask
	ID        int    `json:"id"`
	What      string `json:"what"`
	Total     int    `json:"total"`
	Tag       string `json:"tag"`
	TimeoutMS int    `json:"timeoutMs"`
	// fail
	Error string          `json:"error"`
	Pages json.RawMessage `json:"pages"`
}

// browserResult is browser.mjs's result line.
type browserResult struct {
	Transport   string         `json:"transport"`
	RoomID      string         `json:"roomId"`
	ReplicaA    int            `json:"replicaA"`
	ReplicaB    int            `json:"replicaB"`
	Tries       int            `json:"tries"`
	OnlineA     []string       `json:"onlineA"`
	OnlineB     []string       `json:"onlineB"`
	OnlineAfter []string       `json:"onlineAfter"`
	SeenA       []talkMessage  `json:"seenA"`
	SeenB       []talkMessage  `json:"seenB"`
	History     []talkMessage  `json:"history"`
	LatencyMS   map[string]int `json:"latencyMs"` // from clicking Send to the other page showing it
	// Typing is bob's page while alice types (her name shown, in ms from
	// her first keystroke; her own page shows nobody) and after she
	// cleared the input (Cleared: the line hidden again)
	Typing struct {
		Text      string `json:"text"`
		Visible   bool   `json:"visible"`
		MS        int    `json:"ms"`
		OnOwnPage string `json:"onOwnPage"`
		Cleared   bool   `json:"cleared"`
	} `json:"typing"`
	// Moderation: the moderator buttons each page showed (alice's, the
	// owner's: user:action; bob's: how many), and bob's page after alice
	// kicked him (how long until it left the room, the banner it showed)
	Moderation struct {
		Buttons struct {
			OnA []string `json:"onA"`
			OnB int      `json:"onB"`
		} `json:"buttons"`
		Kicked struct {
			MS     int    `json:"ms"`
			Banner string `json:"banner"`
		} `json:"kicked"`
	} `json:"moderation"`
	// Revision: bob edited a message (alice's page showed the new text,
	// marked edited, without the old one; she could not edit it), then
	// alice, the owner, deleted it (bob's page showed a tombstone)
	Revision struct {
		Edited struct {
			MS           int  `json:"ms"`
			Marked       bool `json:"marked"`
			OldGone      bool `json:"oldGone"`
			AliceMayEdit int  `json:"aliceMayEdit"`
		} `json:"edited"`
		Deleted struct {
			MS        int    `json:"ms"`
			Text      string `json:"text"`
			FixedGone bool   `json:"fixedGone"`
		} `json:"deleted"`
	} `json:"revision"`
	// Reads: alice wrote to bob privately; bob's room list showed the
	// conversation (named after her) with 1 unread, alice's message in it
	// showed 1 unread until bob opened it (MS: from his click to her
	// page showing 0), and his badge was gone
	Reads struct {
		Room        string `json:"room"`
		BadgeBefore struct {
			Text string `json:"text"`
			Name string `json:"name"`
		} `json:"badgeBefore"`
		CountBefore string `json:"countBefore"`
		CountAfter  string `json:"countAfter"`
		MS          int    `json:"ms"`
		BadgeAfter  string `json:"badgeAfter"`
	} `json:"reads"`
	Pages map[string]pageR `json:"pages"`
}

// talkMessage is a TALK message as a page shows it.
type talkMessage struct {
	Sender string `json:"sender"`
	Text   string `json:"text"`
	Offset int64  `json:"offset"`
	Mine   bool   `json:"mine"`
}

// pageR is what browser.mjs reports of one page.
type pageR struct {
	Transport        string   `json:"transport"`
	WebSockets       int      `json:"websockets"`
	SockJSTransports []string `json:"sockjsTransports"`
	PageErrors       []string `json:"pageErrors"`
	ErrorShown       string   `json:"errorShown"`
}

// browserRun is one finished run of browser.mjs.
type browserRun struct {
	result  browserResult
	landing []map[string]int // sessions per replica when both pages had landed
	suffix  string           // makes the users alice-SUFFIX and bob-SUFFIX
}

// runBrowser runs browser.mjs against s and answers its questions about
// the replicas' sessions. Node and every Chromium process are gone when
// the test ends.
func runBrowser(t *testing.T, ctx context.Context, s *stack, tl tools, transport string) browserRun {
	t.Helper()
	// Everything Chromium writes (profile, crash database, caches) is in
	// dir, whose path, in every Chromium process's arguments, finds them.
	dir := t.TempDir()
	userDataDir := filepath.Join(dir, "profile")
	suffix := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	timeout := 2 * time.Minute
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d) - 15*time.Second // leaves time to report and clean up
	}
	if timeout < 30*time.Second {
		t.Fatalf("only %v left of the test's %v", timeout, testTimeout)
	}
	p := startBrowserScript(t, ctx, tl.script, dir, map[string]any{
		"base":        s.base,
		"transport":   transport,
		"chromium":    tl.chromium,
		"userDataDir": userDataDir,
		"suffix":      suffix,
		"timeoutMs":   timeout.Milliseconds(),
		"artifacts":   os.Getenv(artifactsEnv),
	})

	run := browserRun{suffix: suffix}
	var failure *jsLine
	gotResult := false
	sc := p.lines
	for sc.Scan() {
		var line jsLine
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Logf("browser.mjs: %s", sc.Text())
			continue
		}
		switch line.Type {
		case "step":
			t.Logf("%6.1fs %s", float64(line.MS)/1000, line.Step)
		case "ask":
			answer := map[string]any{"id": line.ID}
			snap, err := s.waitSessions(line.Total, time.Duration(line.TimeoutMS)*time.Millisecond)
			if err != nil {
				answer["error"] = err.Error()
			} else {
				answer["sessions"] = snap
			}
			t.Logf("        sessions (%s): %v %v", line.Tag, snap, errString(err))
			if line.Tag == "landed" {
				run.landing = snap
			}
			p.answer(answer)
		case "result":
			if err := json.Unmarshal(sc.Bytes(), &run.result); err != nil {
				t.Fatalf("unreadable result %s: %v", sc.Text(), err)
			}
			gotResult = true
		case "fail":
			failure = &line
		}
	}
	waitErr := p.wait()
	if failure != nil {
		t.Fatalf("browser run failed at step %q: %s\npages: %s\nnode stderr:\n%s",
			failure.Step, failure.Error, indentJSON(failure.Pages), p.stderr.String())
	}
	if waitErr != nil || !gotResult {
		t.Fatalf("browser.mjs ended with %v and no result (test context: %v)\nnode stderr:\n%s",
			waitErr, ctx.Err(), p.stderr.String())
	}
	if testing.Verbose() && p.stderr.String() != "" {
		t.Logf("node stderr:\n%s", p.stderr.String())
	}
	return run
}

// checkRun checks a run's result against what the replicas said.
func checkRun(t *testing.T, run browserRun, transport string) {
	t.Helper()
	r := run.result
	label := map[string]string{"websocket": "ws", "sockjs": "sockjs"}[transport]
	if r.Transport != transport {
		t.Errorf("run transport %q, want %q", r.Transport, transport)
	}
	// the replicas' own word: one session each, on the expected transport
	if len(run.landing) != 2 {
		t.Fatalf("no session counts recorded when both pages had landed: %v", run.landing)
	}
	for i, m := range run.landing {
		if m[label] != 1 || total(m) != 1 {
			t.Errorf("replica %d holds sessions %v, want exactly one on %q", i+1, m, label)
		}
	}
	if r.ReplicaA == r.ReplicaB || r.ReplicaA < 0 || r.ReplicaB < 0 {
		t.Errorf("pages on replicas %d and %d, want different ones", r.ReplicaA, r.ReplicaB)
	}
	t.Logf("alice on replica %d, bob on replica %d after %d tries; room %s; send-to-seen latency %v ms",
		r.ReplicaA+1, r.ReplicaB+1, r.Tries, r.RoomID, r.LatencyMS)

	alice, bob := "alice-"+run.suffix, "bob-"+run.suffix
	for name, online := range map[string][]string{"alice": r.OnlineA, "bob": r.OnlineB, "bob after reload": r.OnlineAfter} {
		if !contains(online, alice) || !contains(online, bob) {
			t.Errorf("%s's page shows online %v, want %s and %s", name, online, alice, bob)
		}
	}
	want := []talkMessage{
		{Sender: alice, Text: "hello from " + alice + " over " + transport},
		{Sender: bob, Text: "hello from " + bob + " over " + transport},
	}
	for _, seen := range []struct {
		who  string
		me   string
		msgs []talkMessage
	}{{"alice", alice, r.SeenA}, {"bob", bob, r.SeenB}, {"bob after reload", bob, r.History}} {
		if len(seen.msgs) != len(want) {
			t.Errorf("%s's page shows %d messages %+v, want %d", seen.who, len(seen.msgs), seen.msgs, len(want))
			continue
		}
		for i, m := range seen.msgs {
			if m.Sender != want[i].Sender || m.Text != want[i].Text || m.Mine != (m.Sender == seen.me) {
				t.Errorf("%s's page, message %d: %+v, want %+v (mine=%v)", seen.who, i, m, want[i], m.Sender == seen.me)
			}
			if i > 0 && m.Offset <= seen.msgs[i-1].Offset {
				t.Errorf("%s's page: offsets out of order: %+v", seen.who, seen.msgs)
			}
		}
	}

	if tp := r.Typing; !tp.Visible || !strings.Contains(tp.Text, alice) || tp.OnOwnPage != "" || !tp.Cleared {
		t.Errorf("typing line: %+v; want alice's name shown on bob's page, nothing on hers, hidden once she cleared the input", tp)
	}
	t.Logf("bob's page showed %q %d ms after alice typed", r.Typing.Text, r.Typing.MS)

	// the owner sees kick, mute and ban beside bob (not beside herself);
	// bob sees no buttons; her kick makes his page leave the room with
	// a banner naming her, and he joins again (the history checks above
	// ran after that)
	mod := r.Moderation
	if want := []string{bob + ":ban", bob + ":kick", bob + ":mute"}; strings.Join(mod.Buttons.OnA, ",") != strings.Join(want, ",") || mod.Buttons.OnB != 0 {
		t.Errorf("moderator buttons: alice's page %v (want %v), bob's page %d (want 0)", mod.Buttons.OnA, want, mod.Buttons.OnB)
	}
	if !strings.Contains(mod.Kicked.Banner, alice) {
		t.Errorf("bob's page after the kick shows %q; want a banner naming alice", mod.Kicked.Banner)
	}
	if ed, del := r.Revision.Edited, r.Revision.Deleted; !ed.Marked || !ed.OldGone || ed.AliceMayEdit != 0 || !del.FixedGone || del.Text == "" {
		t.Errorf("edit and delete on the pages: %+v; want the edit shown marked on alice's page (no edit button for her), the tombstone on bob's", r.Revision)
	}
	t.Logf("bob's edit reached alice's page in %d ms; her delete reached his in %d ms (%q)", r.Revision.Edited.MS, r.Revision.Deleted.MS, r.Revision.Deleted.Text)
	t.Logf("bob's page left the room %d ms after alice's click on kick was done: %q", mod.Kicked.MS, mod.Kicked.Banner)

	rd := r.Reads
	if !strings.HasPrefix(rd.Room, "dm-") || rd.BadgeBefore.Text != "1" || !strings.HasPrefix(rd.BadgeBefore.Name, "@alice-") ||
		rd.CountBefore != "1" || rd.CountAfter != "" || rd.BadgeAfter != "0" {
		t.Errorf("unread counts: %+v; want bob's list to show the conversation @alice-… with 1 unread, alice's message 1 unread, then 0 once he opened it, and his badge gone", rd)
	}
	t.Logf("alice's message went from 1 unread to 0 %d ms after bob opened the conversation", rd.MS)

	for _, name := range []string{"alice", "bob"} {
		p, ok := r.Pages[name]
		if !ok {
			t.Errorf("no report of %s's page", name)
			continue
		}
		if p.Transport != transport {
			t.Errorf("%s's page shows transport %q, want %q", name, p.Transport, transport)
		}
		if len(p.PageErrors) > 0 || p.ErrorShown != "" {
			t.Errorf("%s's page: uncaught errors %q, error banner %q", name, p.PageErrors, p.ErrorShown)
		}
		switch transport {
		case "websocket":
			if p.WebSockets == 0 {
				t.Errorf("%s's page opened no WebSocket", name)
			}
		case "sockjs":
			if p.WebSockets != 0 {
				t.Errorf("%s's page opened %d WebSockets without window.WebSocket", name, p.WebSockets)
			}
			if len(p.SockJSTransports) == 0 || contains(p.SockJSTransports, "websocket") {
				t.Errorf("%s's page used SockJS transports %q, want HTTP ones", name, p.SockJSTransports)
			}
		}
	}
	if transport == "sockjs" {
		t.Logf("SockJS transports used: alice %q, bob %q", r.Pages["alice"].SockJSTransports, r.Pages["bob"].SockJSTransports)
	}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// indentJSON formats raw for a failure message.
func indentJSON(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return strings.TrimSpace(string(b))
}
