package server

import (
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/proctest"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// TestPresenceMembers: a subscriber on replica A is listed by replica B's
// members API within 2 s of its SUBSCRIBE and dropped within 2 s of its
// DISCONNECT; ENTER and LEAVE messages reach the room.
func TestPresenceMembers(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	cfg.Rooms.Presence.Messages = true
	a, b := start(t, cfg), start(t, cfg)
	room := createRoom(t, a, unique(t))
	waitRoom(t, b, room)
	watcher := connect(t, b, "watcher")
	if err := watcher.Subscribe("w", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	readRoom(t, watcher, "w", 1) // the watcher's own ENTER
	ivy := connect(t, a, "ivy")
	if err := ivy.Subscribe("s", "/sub/chat/room/"+room); err != nil {
		t.Fatal(err)
	}
	if err := rabbittest.WaitFor(2*time.Second, func() (bool, error) { return contains(members(t, b, room), "ivy"), nil }); err != nil {
		t.Fatalf("ivy not listed on B within 2 s: %v", members(t, b, room))
	}
	if m := readRoom(t, watcher, "w", 1)[0]; m.Type != "ENTER" || m.Sender != "ivy" {
		t.Fatalf("want ENTER from ivy, got %+v", m)
	}
	if err := ivy.Send(stomp.New(stomp.DISCONNECT, "receipt", "bye")); err != nil {
		t.Fatal(err)
	}
	if err := rabbittest.WaitFor(2*time.Second, func() (bool, error) { return !contains(members(t, b, room), "ivy"), nil }); err != nil {
		t.Fatalf("ivy still listed on B 2 s after DISCONNECT: %v", members(t, b, room))
	}
	if m := readRoom(t, watcher, "w", 1)[0]; m.Type != "LEAVE" || m.Sender != "ivy" {
		t.Fatalf("want LEAVE from ivy, got %+v", m)
	}
}

// TestPresenceAfterKill: the users of a replica killed with SIGKILL drop
// out of the members list within rooms.presence.expiry plus one interval
// (3 s + 1 s by default; the test allows 5 s).
func TestPresenceAfterKill(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	a := start(t, cfg)
	room := createRoom(t, a, unique(t))
	p := proctest.Start(t,
		"CHATRELAY_BROKER_MODE=rabbitmq",
		"CHATRELAY_BROKER_ADDRESSES="+cfg.Broker.Addresses[0],
		"CHATRELAY_BROKER_AMQP_ADDRESSES="+cfg.Broker.AMQPAddresses[0],
	)
	victim := &replica{addr: p.Addr}
	jack := connect(t, victim, "jack")
	if err := jack.Subscribe("s", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	if err := rabbittest.WaitFor(2*time.Second, func() (bool, error) { return contains(members(t, a, room), "jack"), nil }); err != nil {
		t.Fatalf("jack not listed: %v", members(t, a, room))
	}
	p.Kill()
	killed := time.Now()
	if err := rabbittest.WaitFor(5*time.Second, func() (bool, error) { return !contains(members(t, a, room), "jack"), nil }); err != nil {
		t.Fatalf("jack still listed 5 s after kill -9: %v", members(t, a, room))
	}
	t.Logf("killed replica's user dropped after %v", time.Since(killed).Round(100*time.Millisecond))
}

// TestDirectMessages: a DM reaches both sessions of the recipient on two
// replicas (and the sender's own session); nobody can read another user's
// messages through any destination form.
func TestDirectMessages(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	a, b := start(t, cfg), start(t, cfg)
	kA, kB := connect(t, a, "kim"), connect(t, b, "kim")
	lee := connect(t, a, "lee")
	for _, c := range []*stomptest.Client{kA, kB, lee} {
		if err := c.Subscribe("dm", "/user/queue/messages"); err != nil {
			t.Fatal(err)
		}
	}
	send := stomp.New(stomp.SEND, "destination", "/app/chat.dm", "receipt", "dm")
	send.Body = []byte(`{"to":"kim","message":"psst"}`)
	if err := lee.Send(send); err != nil {
		t.Fatal(err)
	}
	for i, c := range []*stomptest.Client{kA, kB, lee} {
		m, err := c.Read(5 * time.Second)
		if c == lee && err == nil && m.Command == stomp.RECEIPT && m.Header("receipt-id") == "dm" {
			// the RECEIPT answers the /app frame; the sender's own copy
			// comes back through the broker, before or after it
			m, err = c.Read(5 * time.Second)
		}
		if err != nil || m.Command != stomp.MESSAGE || !strings.Contains(string(m.Body), `"psst"`) || !strings.Contains(string(m.Body), `"from":"lee"`) || m.Header("destination") != "/user/queue/messages" {
			t.Fatalf("session %d: %v %v", i, m, err)
		}
	}
	for _, dest := range []string{
		"/user/kim/queue/messages",
		"/topic/user.kim.messages",
		"/sub/user.kim.messages",
		"/sub/user/kim/messages",
		"/exchange/amq.topic/user.kim.messages",
		"/amq/queue/user.kim.messages",
		"/topic/user.*.messages",
	} {
		t.Run(dest, func(t *testing.T) {
			spy := connect(t, a, "spy")
			if err := spy.Raw([]byte("SUBSCRIBE\nid:1\ndestination:" + dest + "\n\n\x00")); err != nil {
				t.Fatal(err)
			}
			expectError(t, spy, "refused")
		})
	}
}
