package session

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"chatrelay/internal/proctest"
)

// records returns the JSON records written to buf so far.
func records(t *testing.T, buf *proctest.LockedBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("record %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// TestLogAttributes: every record carries the session's id, remote
// address and transport, and the user once CONNECT named one; records
// below the logger's level are not written.
func TestLogAttributes(t *testing.T) {
	var buf proctest.LockedBuffer
	opts := newObserved(t, nil)
	opts.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))

	// a frame too big before CONNECT: no user yet
	_, _ = runSession(t, opts, "SEND\ndestination:/app/echo\ncontent-length:2000\n\n")
	// connected as ann, then a frame too big
	_, _ = runSession(t, opts, "CONNECT\naccept-version:1.2\nlogin:ann\n\n\x00", "SEND\ndestination:/app/echo\ncontent-length:2000\n\n")

	recs := records(t, &buf)
	seen := map[string]map[string]any{}
	for _, r := range recs {
		if r["level"] == "DEBUG" {
			t.Errorf("debug record written at level info: %v", r)
		}
		if r["remote"] != "test" || r["transport"] != "ws" || !strings.HasPrefix(r["session"].(string), "s-") {
			t.Errorf("record without the session's attributes: %v", r)
		}
		seen[r["msg"].(string)] = r
	}
	connected, ok := seen["connected"]
	if !ok || connected["user"] != "ann" || connected["version"] != "1.2" {
		t.Fatalf("connected record %v (all: %v)", connected, recs)
	}
	var before map[string]any
	for _, r := range recs {
		if r["session"] != connected["session"] {
			before = r
		} else if r["user"] != "ann" {
			t.Errorf("record of ann's session without her: %v", r)
		}
	}
	if before == nil || before["user"] != nil {
		t.Fatalf("record of the session that never connected: %v (all: %v)", before, recs)
	}
}
