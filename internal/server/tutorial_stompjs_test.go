package server

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/jsclient"
	"chatrelay/internal/rooms"
	"chatrelay/internal/testkit"
)

// tutorialUser is one user of test/js/springtutorial.mjs.
type tutorialUser struct {
	Name    string `json:"name"`
	Replica int    `json:"replica"`
}

// tutorialRun is what test/js/springtutorial.mjs prints.
type tutorialRun struct {
	RoomID  string                          `json:"roomId"`
	Created struct{ RoomID, Name string }   `json:"created"`
	Room    struct{ RoomID, Name string }   `json:"room"`
	List    []struct{ RoomID, Name string } `json:"list"`
	Members [][]string                      `json:"members"`
	Views   map[string][]rooms.Message      `json:"views"`
	Errors  []string                        `json:"errors"`
}

// runTutorialClient runs test/js/springtutorial.mjs with cfg; it skips
// (or fails with CHATRELAY_TEST_REQUIRE_NODE=1) without node and the
// test/js packages.
func runTutorialClient(t *testing.T, cfg map[string]any) tutorialRun {
	t.Helper()
	testkit.Require(t, testkit.Node, jsclient.Available())
	script, err := jsclient.ScriptPath()
	if err != nil {
		t.Fatal(err)
	}
	arg, _ := json.Marshal(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(filepath.Dir(script), "springtutorial.mjs"), string(arg))
	cmd.Dir = filepath.Dir(script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var out tutorialRun
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &out); err != nil || runErr != nil || len(out.Errors) > 0 {
		t.Fatalf("springtutorial.mjs: %v; result %v %+v\nstderr (tail):\n%s", runErr, err, out, tail(stderr.String(), 3000))
	}
	return out
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// TestSpringTutorialClientAcrossReplicas is the Spring-tutorial
// acceptance test: the tutorial's own client (SockJS /ws-stomp,
// Stomp.over, no login, /sub/chat/room/{id}, /pub/chat/message with ENTER
// then TALK, the room made with a form POST /chat/room) used by four users
// on two replicas of one RabbitMQ. Every user is shown under the name it
// typed, each ENTER reaches the room once with the Korean text, every TALK
// reaches every user on both replicas, and the first user's LEAVE reaches
// the others once it disconnects.
func TestSpringTutorialClientAcrossReplicas(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	cfg.Rooms.Presence.Messages = true
	cfg.Rooms.Presence.LeaveGrace = 200 * time.Millisecond
	a, b := start(t, cfg), start(t, cfg)
	users := []tutorialUser{{"철수", 0}, {"영희", 1}, {"민수", 0}, {"지훈", 1}}
	roomName := "채팅방 " + unique(t)
	run := runTutorialClient(t, map[string]any{
		"replicas": []string{a.HTTP(), b.HTTP()},
		"users":    users,
		"roomName": roomName,
	})
	if run.Created.Name != roomName || run.Room != run.Created || run.RoomID == "" {
		t.Fatalf("POST /chat/room %+v, GET /chat/room/{id} on the other replica %+v", run.Created, run.Room)
	}
	listed := false
	for _, r := range run.List {
		listed = listed || r == run.Created
	}
	if !listed {
		t.Fatalf("GET /chat/rooms on the other replica does not list %+v", run.Created)
	}
	// the script waited for this; a members list it settled for must
	// hold exactly the typed names, on both replicas
	if len(run.Members) != 2 {
		t.Fatalf("members per replica %v", run.Members)
	}
	for i, ms := range run.Members {
		if strings.Join(ms, ",") != "민수,영희,지훈,철수" {
			t.Errorf("replica %d lists %v", i, ms)
		}
	}
	for i, viewer := range users {
		msgs := run.Views[viewer.Name]
		for _, m := range msgs {
			if strings.HasPrefix(m.Sender, "anon-") || m.RoomID != run.RoomID {
				t.Errorf("%s got %+v: every message names a typed user and the room", viewer.Name, m)
			}
		}
		for j, u := range users {
			enters := filter(msgs, rooms.Enter, u.Name)
			// a user sees the ENTERs from its own on: earlier users
			// entered before it subscribed
			want := 0
			if j >= i {
				want = 1
			}
			if len(enters) != want {
				t.Errorf("%s (replica %d) saw %d ENTERs of %s, want %d: %v", viewer.Name, viewer.Replica, len(enters), u.Name, want, summary(msgs))
			}
			for _, m := range enters {
				if m.Message != u.Name+"님이 입장하셨습니다." {
					t.Errorf("ENTER text %q", m.Message)
				}
			}
			talks := filter(msgs, rooms.Talk, u.Name)
			if len(talks) != 1 || !strings.HasPrefix(talks[0].Message, u.Name+": 안녕하세요") {
				t.Errorf("%s (replica %d) got TALKs %v of %s, want exactly one", viewer.Name, viewer.Replica, summary(talks), u.Name)
			}
		}
		if i > 0 {
			leaves := filter(msgs, rooms.Leave, users[0].Name)
			if len(leaves) != 1 || leaves[0].Message != users[0].Name+"님이 퇴장하셨습니다." {
				t.Errorf("%s got LEAVEs %v of %s, want one with the Korean text", viewer.Name, summary(leaves), users[0].Name)
			}
		}
	}
	// the stored history agrees: one ENTER per user, one TALK each
	hist := history(t, b, run.RoomID, 100)
	for _, u := range users {
		if n, m := len(filter(hist, rooms.Enter, u.Name)), len(filter(hist, rooms.Talk, u.Name)); n != 1 || m != 1 {
			t.Errorf("history holds %d ENTERs and %d TALKs of %s, want 1 and 1: %v", n, m, u.Name, summary(hist))
		}
	}
}

// filter returns the messages of type typ from sender.
func filter(ms []rooms.Message, typ rooms.MessageType, sender string) []rooms.Message {
	var out []rooms.Message
	for _, m := range ms {
		if m.Type == typ && m.Sender == sender {
			out = append(out, m)
		}
	}
	return out
}
