package server

import (
	"chatrelay/internal/config"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// sendNumbered sends n TALK messages "<prefix>-<i>" (i from first) to room
// through c, the last one with a receipt it waits for.
func sendNumbered(t testing.TB, c *stomptest.Client, room, prefix string, first, n int) {
	t.Helper()
	for i := first; i < first+n; i++ {
		f := stomp.New(stomp.SEND, "destination", "/app/chat.send")
		if i == first+n-1 {
			f.Headers = append(f.Headers, stomp.Header{Key: "receipt", Value: fmt.Sprintf("%s-last", prefix)})
		}
		f.Body = []byte(fmt.Sprintf(`{"roomId":%q,"message":"%s-%d"}`, room, prefix, i))
		if err := c.Send(f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Expect(stomp.RECEIPT, 20*time.Second); err != nil {
		t.Fatal(err)
	}
}

// readRoom reads n room messages from c, checking they arrive on
// subscription sub with increasing offsets.
func readRoom(t testing.TB, c *stomptest.Client, sub string, n int) []rooms.Message {
	t.Helper()
	out := make([]rooms.Message, 0, n)
	for len(out) < n {
		f, err := c.Expect(stomp.MESSAGE, 20*time.Second)
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(out), n, err)
		}
		if f.Header("subscription") != sub {
			t.Fatalf("message on subscription %q, want %q", f.Header("subscription"), sub)
		}
		var m rooms.Message
		if err := json.Unmarshal(f.Body, &m); err != nil {
			t.Fatalf("room message %q: %v", f.Body, err)
		}
		if off, err := strconv.ParseInt(f.Header("x-offset"), 10, 64); err != nil || off != m.Offset {
			t.Fatalf("x-offset header %q, body offset %d", f.Header("x-offset"), m.Offset)
		}
		if len(out) > 0 && m.Offset <= out[len(out)-1].Offset {
			t.Fatalf("offset %d after %d", m.Offset, out[len(out)-1].Offset)
		}
		out = append(out, m)
	}
	return out
}

// texts returns the message texts in order.
func texts(ms []rooms.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Message
	}
	return out
}

// expectTexts checks ms are "<prefix>-<from>" .. "<prefix>-<to>".
func expectTexts(t testing.TB, ms []rooms.Message, prefix string, from, to int) {
	t.Helper()
	if len(ms) != to-from+1 {
		t.Fatalf("got %d messages %v, want %s-%d..%d", len(ms), texts(ms), prefix, from, to)
	}
	for i, m := range ms {
		if want := fmt.Sprintf("%s-%d", prefix, from+i); m.Message != want {
			t.Fatalf("message %d is %q, want %q (all: %v)", i, m.Message, want, texts(ms))
		}
	}
}

// history fetches GET /api/rooms/{id}/messages?limit=N.
func history(t testing.TB, r *replica, room string, limit int) []rooms.Message {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/api/rooms/%s/messages?limit=%d", r.HTTP(), room, limit))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct{ Messages []rooms.Message }
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("history: %d %v", resp.StatusCode, err)
	}
	return page.Messages
}

// members fetches GET /api/rooms/{id}/members.
func members(t testing.TB, r *replica, room string) []string {
	t.Helper()
	resp, err := http.Get(r.HTTP() + "/api/rooms/" + room + "/members")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Members []string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("members: %d %v", resp.StatusCode, err)
	}
	return body.Members
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// pairWithRoom starts a replica a and, with RabbitMQ, a second one b (in
// embedded mode b is a), creates a room through a, waits until b knows
// it, and connects bob to b with /user/queue/errors and the room's topic
// on subscription "room".
func pairWithRoom(t testing.TB, cfg config.Config) (a, b *replica, room string, bob *stomptest.Client) {
	t.Helper()
	a = start(t, cfg)
	b = a
	if cfg.Broker.Mode == config.BrokerRabbitMQ {
		b = start(t, cfg)
	}
	room = createRoom(t, a, unique(t))
	waitRoom(t, b, room)
	bob = errorsQueue(t, b, "bob")
	if err := bob.Subscribe("room", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	return a, b, room, bob
}
