package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomptest"
)

// push POSTs body to path with the given bearer key ("" for none).
func push(t *testing.T, r *replica, path, key, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.HTTP()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestServerPush: POST /api/rooms/{id}/messages with the API key reaches
// subscribers on every replica and the room's history; without the key it
// is 401, to an unknown room 404. A push to a user reaches their sessions.
func TestServerPush(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	cfg.HTTP.APIKey = "s3cret-key"
	a, b := start(t, cfg), start(t, cfg)
	room := createRoom(t, a, unique(t))
	waitRoom(t, b, room)
	subA, subB := connect(t, a, "ann"), connect(t, b, "bo")
	for _, c := range []*stomptest.Client{subA, subB} {
		if err := c.Subscribe("s", "/topic/room."+room); err != nil {
			t.Fatal(err)
		}
	}
	if err := subB.Subscribe("dm", "/user/queue/messages"); err != nil {
		t.Fatal(err)
	}
	body := `{"message":"build finished"}`
	if code := push(t, a, "/api/rooms/"+room+"/messages", "", body); code != http.StatusUnauthorized {
		t.Fatalf("push without key: %d", code)
	}
	if code := push(t, a, "/api/rooms/"+room+"/messages", "wrong", body); code != http.StatusUnauthorized {
		t.Fatalf("push with a wrong key: %d", code)
	}
	if code := push(t, a, "/api/rooms/nosuchroom/messages", "s3cret-key", body); code != http.StatusNotFound {
		t.Fatalf("push to an unknown room: %d", code)
	}
	// answered once the message is in the room's history
	if code := push(t, a, "/api/rooms/"+room+"/messages", "s3cret-key", body); code != http.StatusCreated {
		t.Fatalf("push: %d", code)
	}
	for _, c := range []*struct {
		name string
		got  func() string
	}{
		{"replica A", func() string { return readRoom(t, subA, "s", 1)[0].Message }},
		{"replica B", func() string { return readRoom(t, subB, "s", 1)[0].Message }},
		{"history", func() string { return history(t, b, room, 1)[0].Message }},
	} {
		if got := c.got(); got != "build finished" {
			t.Fatalf("%s: %q", c.name, got)
		}
	}
	if code := push(t, a, "/api/users/bo/messages", "s3cret-key", `{"message":"hello bo"}`); code != http.StatusAccepted {
		t.Fatalf("push to a user: %d", code)
	}
	m, err := subB.Expect("MESSAGE", 5*time.Second)
	if err != nil || !strings.Contains(string(m.Body), "hello bo") || m.Header("subscription") != "dm" {
		t.Fatalf("user push: %v %v", m, err)
	}
}

// TestDeleteRoom: deleting a followed room removes it on every replica
// and tells its followers (on /user/queue/errors when they listen there,
// else with an ERROR), without costing any replica its shared broker
// connection, and other rooms keep working.
func TestDeleteRoom(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	cfg.HTTP.APIKey = "k"
	a, b := start(t, cfg), start(t, cfg)
	doomed, other := createRoom(t, a, unique(t)+"-doomed"), createRoom(t, a, unique(t)+"-other")
	waitRoom(t, b, doomed)
	waitRoom(t, b, other)
	mourner := connect(t, b, "mourner")
	if err := mourner.Subscribe("d", "/topic/room."+doomed); err != nil {
		t.Fatal(err)
	}
	listener := connect(t, b, "listener") // hears errors on its queue
	if err := listener.Subscribe("e", "/user/queue/errors"); err != nil {
		t.Fatal(err)
	}
	if err := listener.Subscribe("d", "/topic/room."+doomed); err != nil {
		t.Fatal(err)
	}
	c := connect(t, b, "bystander")
	if err := c.Subscribe("o", "/topic/room."+other); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodDelete, a.HTTP()+"/api/rooms/"+doomed, nil)
	req.Header.Set("Authorization", "Bearer k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	if err := rabbittest.WaitFor(5*time.Second, func() (bool, error) {
		_, onA := a.srv.store.Get(doomed)
		_, onB := b.srv.store.Get(doomed)
		return !onA && !onB, nil
	}); err != nil {
		t.Fatalf("deleted room still listed: %v", err)
	}
	if err := rabbittest.WaitFor(10*time.Second, func() (bool, error) {
		qs, err := rabbit.Queues()
		if _, ok := rabbittest.RoomStream(qs, "/", doomed); ok {
			return false, err
		}
		return true, err
	}); err != nil {
		t.Fatalf("stream of room %s not deleted: %v", doomed, err)
	}
	// the followers of the deleted room are told: on /user/queue/errors,
	// the session going on, or else (STOMP cannot end a single
	// subscription) with an ERROR
	expectSubscriptionError(t, listener, "e", "", "d", "/topic/room."+doomed, "subscription_ended", 10*time.Second)
	stillOpen(t, listener)
	expectError(t, mourner, "room subscription ended")
	sender := connect(t, a, "talker")
	sendNumbered(t, sender, other, "after", 1, 1)
	if got := readRoom(t, c, "o", 1); got[0].Message != "after-1" {
		t.Fatalf("other room: %+v", got)
	}
	for _, r := range []*replica{a, b} {
		if n := r.srv.Relay().Reconnects(); n != 0 {
			t.Errorf("replica %s reconnected %d times", r.addr, n)
		}
	}
}
