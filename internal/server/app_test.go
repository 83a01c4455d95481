package server

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/router"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// TestAppSubscribeReplyOnce registers a handler like @SubscribeMapping: a
// SUBSCRIBE to its /app destination gets exactly one reply, on that
// subscription, with the handler seeing the user and the {variables}.
func TestAppSubscribeReplyOnce(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		r := start(t, cfg)
		var calls atomic.Int32
		r.srv.Router().Handle("/app/greeting/{name}", func(c *router.Context) (any, error) {
			calls.Add(1)
			return map[string]string{"hello": c.Vars["name"], "user": c.User, "subscribe": map[bool]string{true: "yes", false: "no"}[c.Subscribe]}, nil
		})
		c := connect(t, r, "carol")
		if err := c.Send(stomp.New(stomp.SUBSCRIBE, "id", "g", "destination", "/app/greeting/world", "receipt", "r")); err != nil {
			t.Fatal(err)
		}
		m, err := c.Expect(stomp.MESSAGE, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]string
		if err := json.Unmarshal(m.Body, &got); err != nil {
			t.Fatal(err)
		}
		if got["hello"] != "world" || got["user"] != "carol" || got["subscribe"] != "yes" || m.Header("subscription") != "g" || m.Header("destination") != "/app/greeting/world" {
			t.Fatalf("reply %v %v", m.Headers, got)
		}
		if _, err := c.Expect(stomp.RECEIPT, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		// nothing more arrives for that subscription: a DISCONNECT receipt
		// is the next frame
		if err := c.Send(stomp.New(stomp.DISCONNECT, "receipt", "end")); err != nil {
			t.Fatal(err)
		}
		if f, err := c.Expect(stomp.RECEIPT, 5*time.Second); err != nil || f.Header("receipt-id") != "end" {
			t.Fatalf("after the single reply: %v %v", f, err)
		}
		if n := calls.Load(); n != 1 {
			t.Fatalf("handler ran %d times", n)
		}
	})
}

// TestHandlerErrorsGoToUserQueue: a handler error reaches the sender on
// /user/queue/errors and the connection stays up; no one else sees it.
func TestHandlerErrorsGoToUserQueue(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		r := start(t, cfg)
		room := createRoom(t, r, unique(t))
		c := connect(t, r, "dave")
		other := connect(t, r, "erin")
		for _, cl := range []*stomptest.Client{c, other} {
			if err := cl.Subscribe("errs", "/user/queue/errors"); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Subscribe("room", "/topic/room."+room); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []struct{ body, code string }{
			{`{"roomId":"a.b#","message":"steer"}`, "bad_request"},
			{`not json`, "bad_request"},
			{`{"roomId":"r","type":"SYSTEM","message":"spoof"}`, "bad_request"},
		} {
			f := stomp.New(stomp.SEND, "destination", "/app/chat.send", "receipt", "bad")
			f.Body = []byte(bad.body)
			if err := c.Send(f); err != nil {
				t.Fatal(err)
			}
			m, err := c.Expect(stomp.MESSAGE, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if m.Header("destination") != "/user/queue/errors" || m.Header("subscription") != "errs" || !strings.Contains(string(m.Body), bad.code) {
				t.Fatalf("error message %v %s", m.Headers, m.Body)
			}
			if _, err := c.Expect(stomp.RECEIPT, 5*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		// unknown /app destination
		if err := c.Send(stomp.New(stomp.SEND, "destination", "/app/nope", "receipt", "nope")); err != nil {
			t.Fatal(err)
		}
		if m, err := c.Expect(stomp.MESSAGE, 5*time.Second); err != nil || !strings.Contains(string(m.Body), "not_found") {
			t.Fatalf("unknown handler: %v %v", m, err)
		}
		if _, err := c.Expect(stomp.RECEIPT, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		// the connection still works
		f := stomp.New(stomp.SEND, "destination", "/app/chat.send")
		f.Body = []byte(`{"roomId":"` + room + `","message":"fine"}`)
		if err := c.Send(f); err != nil {
			t.Fatal(err)
		}
		if m, err := c.Expect(stomp.MESSAGE, 5*time.Second); err != nil || m.Header("subscription") != "room" {
			t.Fatalf("after errors: %v %v", m, err)
		}
		// erin saw none of dave's errors
		if f, err := other.Read(300 * time.Millisecond); err == nil {
			t.Fatalf("another user received %s %v %s", f.Command, f.Headers, f.Body)
		}
	})
}

// TestPrivateQueueAcrossReplicas: a handler's PublishToUser reaches every
// session of that user on any replica, and only that user.
func TestPrivateQueueAcrossReplicas(t *testing.T) {
	cfgA := testConfig(t, config.BrokerRabbitMQ)
	a := start(t, cfgA)
	b := start(t, testConfig(t, config.BrokerRabbitMQ))
	for _, r := range []*replica{a, b} {
		r.srv.Router().Handle("/app/poke/{user}", func(c *router.Context) (any, error) {
			return nil, c.Broker.PublishToUser(c.Vars["user"], "pokes", nil, []byte("poke from "+c.User))
		})
	}
	fA := connect(t, a, "frank")
	fB := connect(t, b, "frank")
	g := connect(t, a, "grace")
	for _, c := range []*stomptest.Client{fA, fB, g} {
		if err := c.Subscribe("p", "/user/queue/pokes"); err != nil {
			t.Fatal(err)
		}
	}
	sender := connect(t, b, "heidi")
	if err := sender.Send(stomp.New(stomp.SEND, "destination", "/app/poke/frank", "receipt", "poked")); err != nil {
		t.Fatal(err)
	}
	if _, err := sender.Expect(stomp.RECEIPT, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for i, c := range []*stomptest.Client{fA, fB} {
		m, err := c.Expect(stomp.MESSAGE, 5*time.Second)
		if err != nil || string(m.Body) != "poke from heidi" || m.Header("destination") != "/user/queue/pokes" {
			t.Fatalf("frank session %d: %v %v", i, m, err)
		}
	}
	if f, err := g.Read(300 * time.Millisecond); err == nil {
		t.Fatalf("grace received frank's message: %v %s", f.Headers, f.Body)
	}
}
