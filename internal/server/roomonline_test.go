package server

import (
	"encoding/json"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// waitOnlineEvent reads c's /topic/rooms subscription until an online
// event gives room the count want.
func waitOnlineEvent(t *testing.T, c *stomptest.Client, room string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var seen []string
	for time.Now().Before(deadline) {
		f, err := c.Read(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for %s online=%d on /topic/rooms: %v (seen %q)", room, want, err, seen)
		}
		if f.Command != stomp.MESSAGE {
			continue
		}
		seen = append(seen, string(f.Body))
		var ev struct {
			Event  string         `json:"event"`
			Online map[string]int `json:"online"`
		}
		if json.Unmarshal(f.Body, &ev) == nil && ev.Event == "online" {
			if n, ok := ev.Online[room]; ok && n == want {
				return
			}
		}
	}
	t.Fatalf("no online event with %s=%d within 10 s; seen %q", room, want, seen)
}

// TestRoomsTopicOnlineCounts: /topic/rooms carries every public room's
// online count as it changes, for a client following no room at all, on
// both brokers (private rooms: TestOnlineAnnouncerAnnouncesChangesOnly).
func TestRoomsTopicOnlineCounts(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		r := start(t, cfg)
		room := createRoom(t, r, "online-"+unique(t))
		watcher := connect(t, r, "watcher")
		if err := watcher.Subscribe("rooms", "/topic/rooms"); err != nil {
			t.Fatal(err)
		}
		ann := connect(t, r, "ann")
		if err := ann.Subscribe("r", "/topic/room."+room); err != nil {
			t.Fatal(err)
		}
		waitOnlineEvent(t, watcher, room, 1)
		bob := connect(t, r, "bob")
		if err := bob.Subscribe("r", "/topic/room."+room); err != nil {
			t.Fatal(err)
		}
		waitOnlineEvent(t, watcher, room, 2)
		if err := ann.Send(stomp.New(stomp.UNSUBSCRIBE, "id", "r")); err != nil {
			t.Fatal(err)
		}
		waitOnlineEvent(t, watcher, room, 1)
	})
}
