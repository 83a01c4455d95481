package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"

	"chatrelay/internal/auth"
	"chatrelay/internal/jsclient"
	"chatrelay/internal/rooms"
	"chatrelay/internal/testkit"
)

// nameCases is testdata/names.json: user names with the verdict, room
// names with the name stored (null: refused).
type nameCases struct {
	Users []struct {
		Name string `json:"name"`
		OK   bool   `json:"ok"`
	} `json:"users"`
	Rooms []struct {
		Name  string  `json:"name"`
		Clean *string `json:"clean"`
	} `json:"rooms"`
}

func loadNameCases(t *testing.T) (nameCases, []byte) {
	t.Helper()
	raw, err := os.ReadFile("testdata/names.json")
	if err != nil {
		t.Fatal(err)
	}
	var c nameCases
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Users) < 10 || len(c.Rooms) < 10 {
		t.Fatalf("only %d user and %d room cases", len(c.Users), len(c.Rooms))
	}
	return c, raw
}

// TestNameCasesServer: the server's rules give the verdicts the cases
// say, so that the page's rules, checked against the same cases by
// TestNameCasesPage, accept exactly what the server accepts.
func TestNameCasesServer(t *testing.T) {
	c, _ := loadNameCases(t)
	for _, u := range c.Users {
		if got := auth.ValidUser(u.Name); got != u.OK {
			t.Errorf("auth.ValidUser(%q) = %v, want %v", u.Name, got, u.OK)
		}
	}
	for _, r := range c.Rooms {
		got, ok := rooms.CleanName(r.Name)
		if ok != (r.Clean != nil) || (ok && got != *r.Clean) {
			t.Errorf("rooms.CleanName(%q) = %q, %v; want %v", r.Name, got, ok, r.Clean)
		}
	}
}

// pageNamesScript runs static/names.js in a fresh context and prints its
// verdicts on the cases read from stdin.
const pageNamesScript = `
const fs = require("fs"), vm = require("vm");
const ctx = { TextEncoder };
vm.createContext(ctx);
vm.runInContext(fs.readFileSync("static/names.js", "utf8"), ctx);
const n = ctx.chatrelayNames, c = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify({
  users: c.users.map((u) => n.validUser(u.name)),
  rooms: c.rooms.map((r) => n.cleanRoomName(r.name)),
}));
`

// TestNameCasesPage: the page's checks (static/names.js, run by Node.js)
// give the verdicts of the cases, the server's own (TestNameCasesServer).
func TestNameCasesPage(t *testing.T) {
	testkit.Require(t, testkit.Node, jsclient.Available())
	c, raw := loadNameCases(t)
	cmd := exec.Command("node", "-e", pageNamesScript)
	cmd.Stdin = bytes.NewReader(raw)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var got struct {
		Users []bool    `json:"users"`
		Rooms []*string `json:"rooms"`
	}
	if err := json.Unmarshal(out, &got); err != nil || len(got.Users) != len(c.Users) || len(got.Rooms) != len(c.Rooms) {
		t.Fatalf("unreadable verdicts %s (%v)", out, err)
	}
	for i, u := range c.Users {
		if got.Users[i] != u.OK {
			t.Errorf("page validUser(%q) = %v, want %v", u.Name, got.Users[i], u.OK)
		}
	}
	for i, r := range c.Rooms {
		g, w := got.Rooms[i], r.Clean
		if (g == nil) != (w == nil) || (g != nil && *g != *w) {
			t.Errorf("page cleanRoomName(%q) = %v, want %v", r.Name, deref(g), deref(w))
		}
	}
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// TestConfigJSON: /config.json tells the page the server's message limit
// and name bounds.
func TestConfigJSON(t *testing.T) {
	for _, tc := range []struct {
		h    http.Handler
		want int
	}{{Handler(), rooms.DefaultMaxMessageBytes}, {HandlerWith(Options{MaxMessageBytes: 1234}), 1234}} {
		rec := httptest.NewRecorder()
		tc.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/config.json", nil))
		var cfg map[string]int
		if err := json.Unmarshal(rec.Body.Bytes(), &cfg); rec.Code != 200 || err != nil {
			t.Fatalf("GET /config.json: %d %s (%v)", rec.Code, rec.Body, err)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		want := map[string]int{"maxMessageBytes": tc.want, "maxRoomNameLen": rooms.MaxNameLen,
			"maxRoomNameBytes": rooms.MaxNameBytes, "maxUserNameLen": 64}
		for k, v := range want {
			if cfg[k] != v {
				t.Errorf("config.json %s = %d, want %d (%v)", k, cfg[k], v, cfg)
			}
		}
	}
}
