package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatrelay/internal/jsclient"
	"chatrelay/internal/proctest"
	"chatrelay/internal/testkit"
)

// lockedBuffer collects the server's output.
type lockedBuffer = proctest.LockedBuffer

// TestGoRunEmbedded runs the README's command, `go run ./cmd/chatrelay`,
// from the repository root with no RabbitMQ configured (the embedded
// broker), makes a real stompjs pub/sub round trip through it, then sends
// SIGTERM: the client gets an ERROR and a close with a reason, and the
// process exits cleanly.
func TestGoRunEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the command")
	}
	js := jsclient.NewT(t)
	js.Timeout = 10 * time.Second
	root, err := jsclient.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	addr := testkit.FreeAddr(t)
	cmd := exec.Command("go", "run", "./cmd/chatrelay")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CHATRELAY_HTTP_ADDR="+addr, "CHATRELAY_BROKER_MODE=", "CHATRELAY_LOGGING_FORMAT=json")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	// this goroutine owns cmd.Wait
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})
	// wait for /readyz (the build may take a while on a cold cache)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("chatrelay exited early: %v\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("chatrelay not ready at %s\n%s", addr, out.String())
		}
	}
	if log := out.String(); !strings.Contains(log, "listening") || !strings.Contains(log, "embedded") {
		t.Errorf("start-up log does not say where it listens and which broker it uses:\n%s", log)
	}
	room := createRoom(t, "http://"+addr, "lobby")
	if _, err := js.Connect("ws://"+addr+"/ws", "solo", "", nil); err != nil {
		t.Fatal(err)
	}
	if err := js.Subscribe("s", "/topic/room."+room, map[string]string{"receipt": "sub"}); err != nil {
		t.Fatal(err)
	}
	if err := js.Send("/app/chat.send", `{"roomId":"`+room+`","message":"round trip"}`, nil); err != nil {
		t.Fatal(err)
	}
	e, err := js.WaitMessage(10*time.Second, func(e jsclient.Event) bool { return strings.Contains(e.Body, `"TALK"`) })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.Body, `"round trip"`) || !strings.Contains(e.Body, `"sender":"solo"`) {
		t.Fatalf("round trip gave %q", e.Body)
	}
	// graceful shutdown: SIGTERM to the server process itself, as a
	// process manager would send it (go run passes on its exit status)
	if err := syscall.Kill(serverPid(t, cmd.Process.Pid), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ev, err := js.WaitEvent(10*time.Second, func(e jsclient.Event) bool { return e.Event == "error" })
	if err != nil {
		t.Fatalf("no ERROR on shutdown: %v", err)
	}
	if !strings.Contains(ev.Headers["message"], "shutting down") {
		t.Errorf("shutdown ERROR %v", ev.Headers)
	}
	cl, err := js.WaitEvent(10*time.Second, func(e jsclient.Event) bool { return e.Event == "closed" })
	if err != nil {
		t.Fatalf("socket not closed on shutdown: %v", err)
	}
	if cl.Code != 1001 || cl.Reason == "" {
		t.Errorf("close %d %q, want 1001 with a reason", cl.Code, cl.Reason)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("chatrelay exited with %v\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("chatrelay did not exit after SIGTERM\n%s", out.String())
	}
	if !strings.Contains(out.String(), `"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", out.String())
	}
}

// serverPid finds the chatrelay process that `go run` (pid) started; any
// thread of go run may have forked it.
func serverPid(t *testing.T, pid int) int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("cannot list the threads of go run: %v", err)
	}
	var children []string
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			continue // the thread ended meanwhile
		}
		children = append(children, strings.Fields(string(b))...)
	}
	if len(children) != 1 {
		t.Fatalf("go run has children %q, want one", children)
	}
	child, err := strconv.Atoi(children[0])
	if err != nil {
		t.Fatal(err)
	}
	return child
}

// createRoom creates a room through the REST API at base and returns its id.
func createRoom(t *testing.T, base, name string) string {
	t.Helper()
	resp, err := http.Post(base+"/api/rooms", "application/json", strings.NewReader(`{"name":"`+name+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var room struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&room); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create room: %d %v", resp.StatusCode, err)
	}
	return room.ID
}
