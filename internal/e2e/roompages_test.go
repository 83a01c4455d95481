package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
)

// roomPagesRooms is how many rooms TestBrowserRoomPages makes: more than
// two of the page's /app/rooms pages (100 rooms each), within the default
// cap of 300 rooms.
const roomPagesRooms = 230

// TestBrowserRoomPages: the web page follows the room list's next
// cursors, so a replica with more rooms than one page holds shows them
// all in Chromium.
func TestBrowserRoomPages(t *testing.T) {
	tl := requireTools(t)
	node := rabbittest.Require(t, rabbit)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r := startReplica(t, "pages",
		"CHATRELAY_HTTP_API_KEY=pages-key", // to make many rooms at once
		"CHATRELAY_BROKER_MODE=rabbitmq",
		"CHATRELAY_BROKER_ADDRESSES="+node.STOMPAddr(),
		"CHATRELAY_BROKER_AMQP_ADDRESSES="+node.AMQPAddr(),
	)
	r.proc.WaitReady(t, 30*time.Second)
	want := make([]string, 0, roomPagesRooms)
	suffix := time.Now().Format("150405.000")
	for i := range roomPagesRooms {
		body, _ := json.Marshal(map[string]string{"name": fmt.Sprintf("page-room-%d-%s", i, suffix)})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.HTTP()+"/api/rooms", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer pages-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var room struct{ ID string }
		err = json.NewDecoder(resp.Body).Decode(&room)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("room %d: %d %v", i, resp.StatusCode, err)
		}
		want = append(want, room.ID)
	}
	cfg, _ := json.Marshal(map[string]any{
		"base":        r.HTTP(),
		"chromium":    tl.chromium,
		"userDataDir": filepath.Join(t.TempDir(), "profile"),
		"want":        want,
		"timeoutMs":   60000,
	})
	dir := filepath.Dir(tl.script)
	run := exec.CommandContext(ctx, "node", filepath.Join(dir, "roompages.mjs"), string(cfg))
	run.Dir = dir
	home := t.TempDir()
	run.Env = append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(home, "config"), "XDG_CACHE_HOME="+filepath.Join(home, "cache"))
	run.Cancel = func() error { return run.Process.Signal(syscall.SIGTERM) }
	run.WaitDelay = 10 * time.Second
	var stderr bytes.Buffer
	run.Stderr = &stderr
	out, err := run.Output()
	var res struct {
		Listed  int
		Missing []string
		Errors  []string
	}
	if jerr := json.Unmarshal(bytes.TrimSpace(out), &res); jerr != nil {
		t.Fatalf("roompages.mjs: %v %v\nstdout: %s\nstderr: %s", err, jerr, out, stderr.String())
	}
	if err != nil || len(res.Missing) > 0 || res.Listed < roomPagesRooms {
		t.Fatalf("the page lists %d rooms, %d of ours missing (%v); errors %v; %v\nstderr: %s",
			res.Listed, len(res.Missing), res.Missing[:min(5, len(res.Missing))], res.Errors, err, stderr.String())
	}
	t.Logf("the page lists %d rooms (%d made here)", res.Listed, roomPagesRooms)
}
