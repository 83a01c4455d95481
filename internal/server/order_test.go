package server

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/stomp"
)

// orderClients is how many fresh connections each ordering test makes:
// with two upstream connections about half of them have the topic's
// subscription on a connection other than their own.
const orderClients = 100

// TestOwnSendAfterSubscribe: fresh connections each SUBSCRIBE to a topic
// of their own and SEND to it at once, without waiting for the
// SUBSCRIBE's RECEIPT. Every one sees its own message, as it would
// talking to Web-STOMP directly, although the shared subscription and
// the SEND travel on different upstream connections for about half of
// them.
func TestOwnSendAfterSubscribe(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		cfg.Policy.ClientSend = []string{"/app/**", "/topic/**"}
		r := start(t, cfg)
		base := "/topic/" + unique(t)
		missed := 0
		for i := range orderClients {
			dest := fmt.Sprintf("%s.%d", base, i)
			send := func(body string) *stomp.Frame {
				return withBody(stomp.New(stomp.SEND, "destination", dest, "content-type", "text/plain"), []byte(body))
			}
			if !sawOwnFirst(t, r, i, stomp.New(stomp.SUBSCRIBE, "id", "s", "destination", dest, "receipt", "sub"), send,
				func(f *stomp.Frame) string { return string(f.Body) }) {
				missed++
			}
		}
		if missed > 0 {
			t.Fatalf("%d of %d clients did not see the message they sent right after subscribing", missed, orderClients)
		}
		t.Logf("%d of %d clients saw their own message", orderClients-missed, orderClients)
	})
}

// TestOwnRoomSendAfterSubscribe: fresh connections each SUBSCRIBE to a
// room and at once SEND to /app/chat.send into it: every one sees its own
// message in the room.
func TestOwnRoomSendAfterSubscribe(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		r := start(t, cfg)
		missed := 0
		var room string
		for i := range orderClients {
			if i%10 == 0 {
				// a new room now and then: its feed starts with the
				// SUBSCRIBE
				room = createRoom(t, r, fmt.Sprintf("%s-%d", unique(t), i))
			}
			send := func(text string) *stomp.Frame {
				body, _ := json.Marshal(map[string]string{"roomId": room, "message": text})
				return withBody(stomp.New(stomp.SEND, "destination", "/app/chat.send"), body)
			}
			text := func(f *stomp.Frame) string {
				var m struct{ Message string }
				_ = json.Unmarshal(f.Body, &m)
				return m.Message
			}
			if !sawOwnFirst(t, r, i, stomp.New(stomp.SUBSCRIBE, "id", "s", "destination", "/topic/room."+room, "receipt", "sub"), send, text) {
				missed++
			}
		}
		if missed > 0 {
			t.Fatalf("%d of %d clients did not see the room message they sent right after subscribing", missed, orderClients)
		}
		t.Logf("%d of %d clients saw their own room message", orderClients-missed, orderClients)
	})
}

// sawOwnFirst connects client i, sends sub and at once the SEND send
// makes of "first-i", then, once the SUBSCRIBE's RECEIPT is in, "last-i"
// with a receipt. It reads until "last-i" comes back on the subscription
// (text tells a MESSAGE's text) and reports whether "first-i" came
// before it: both went upstream on the same path, so once "last-i" is
// there, a missing "first-i" is lost for good.
func sawOwnFirst(t *testing.T, r *replica, i int, sub *stomp.Frame, send func(string) *stomp.Frame, text func(*stomp.Frame) string) bool {
	t.Helper()
	c := connect(t, r, fmt.Sprint("orderer", i))
	defer c.Close()
	first, last := fmt.Sprint("first-", i), fmt.Sprint("last-", i)
	for _, f := range []*stomp.Frame{sub, send(first)} {
		if err := c.Send(f); err != nil {
			t.Fatal(err)
		}
	}
	saw := false
	read := func() *stomp.Frame {
		f, err := c.Read(20 * time.Second)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		switch f.Command {
		case stomp.MESSAGE:
			if f.Header("subscription") != "s" {
				t.Fatalf("client %d: message on subscription %q", i, f.Header("subscription"))
			}
			saw = saw || text(f) == first
		case stomp.RECEIPT:
		default:
			t.Fatalf("client %d: got %s %q %q", i, f.Command, f.Header("message"), f.Body)
		}
		return f
	}
	for f := read(); f.Command != stomp.RECEIPT || f.Header("receipt-id") != "sub"; f = read() {
	}
	lastSend := send(last)
	lastSend.Headers = append(lastSend.Headers, stomp.Header{Key: "receipt", Value: "last"})
	if err := c.Send(lastSend); err != nil {
		t.Fatal(err)
	}
	for f := read(); f.Command != stomp.MESSAGE || text(f) != last; f = read() {
	}
	return saw
}

// withBody sets f's body and returns f.
func withBody(f *stomp.Frame, body []byte) *stomp.Frame {
	f.Body = body
	return f
}
