package destination

import (
	"strings"
	"testing"
)

// widened opens every prefix an operator can open: wide patterns, the
// special prefixes and literal queue names. The reserved names must stay
// closed even so.
func widened(t *testing.T) *Policy {
	t.Helper()
	return mustPolicy(t, Config{
		ClientSend:      []string{"/app/**", "/topic/**", "/exchange/**", "/queue/jobs", "/amq/queue/jobs"},
		ClientSubscribe: []string{"/**", "/exchange/**", "/queue/jobs", "/amq/queue/jobs"},
		AllowWildcards:  true,
	})
}

// TestGeneratedNamesRefused: queue names the broker generates
// (stomp-subscription-*, amq.*) or the server uses (room.*, chatrelay.*,
// user.*) are refused on every route to a queue, by default and with
// every prefix opened.
func TestGeneratedNamesRefused(t *testing.T) {
	names := []string{
		"stomp-subscription-kTCCgGvwPNhLmY0Q9ubk1A", "STOMP-Subscription-x", "stomp-temp-1", "mqtt-subscription-c1qos0",
		"amq.gen-JzTY20BRgKO-HjmUJj0wLg", "AMQ.x", "room.7", "chatrelay.rooms", "chatrelay", "user.alice.errors",
	}
	for _, p := range []*Policy{mustPolicy(t, DefaultConfig()), widened(t)} {
		for _, name := range names {
			for _, dest := range []string{"/queue/" + name, "/amq/queue/" + name, "/exchange/amq.default/" + name} {
				for _, sub := range []bool{true, false} {
					err := decide(p, sub, dest)
					if err == nil {
						t.Fatalf("sub=%v %q accepted", sub, dest)
					}
					if r := rule(t, err); dest == "/queue/"+name && r != RuleReserved && r != RuleRoom {
						t.Errorf("sub=%v %q: rule %q (%v), want reserved or room", sub, dest, r, err)
					}
				}
			}
		}
	}
}

// TestReservedNamesRefusedAtLoad: an allowlist naming a reserved
// destination is a configuration error that says which entry and why.
func TestReservedNamesRefusedAtLoad(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"subscription queue", Config{ClientSubscribe: []string{"/queue/stomp-subscription-abc"}}},
		{"generated queue", Config{ClientSubscribe: []string{"/amq/queue/amq.gen-abc"}}},
		{"room stream", Config{ClientSubscribe: []string{"/amq/queue/room.7"}}},
		{"registry stream", Config{ClientSend: []string{"/amq/queue/chatrelay.rooms"}}},
		{"default exchange to a subscription queue", Config{ClientSend: []string{"/exchange/amq.default/stomp-subscription-x"}}},
		{"room announcements", Config{ClientSend: []string{"/topic/rooms"}}},
		{"a room topic", Config{ClientSend: []string{"/topic/room.7"}}},
		{"presence", Config{ClientSubscribe: []string{"/topic/chatrelay.presence"}}},
		{"announcements via amq.topic", Config{ClientSend: []string{"/exchange/amq.topic/rooms"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), "is reserved") {
				t.Fatalf("New: %v, want a reserved-name error", err)
			}
			t.Log(err)
		})
	}
	// what clients may read stays listable for SUBSCRIBE
	if _, err := New(Config{ClientSubscribe: []string{"/topic/rooms", "/topic/room.7"}}); err != nil {
		t.Fatal(err)
	}
}

// TestServerTopicsReservedForSend is item 8 of issue 12: with
// client_send widened to /topic/** (and /exchange/**), no client SEND
// reaches a topic the server publishes, under any alias; SUBSCRIBE to the
// ones meant for clients still works.
func TestServerTopicsReservedForSend(t *testing.T) {
	p := widened(t)
	for _, dest := range []string{
		"/topic/rooms", "/sub/rooms", "/topic/rooms.x", "/exchange/amq.topic/rooms",
		"/topic/room.7", "/sub/chat/room/7", "/queue/chat-rooms/7", "/exchange/amq.topic/room.7",
		"/topic/chatrelay.presence", "/sub/chatrelay/presence", "/exchange/amq.topic/chatrelay.presence",
		"/topic/user.alice.messages", "/exchange/amq.topic/user.alice.errors",
	} {
		if r := rule(t, decide(p, false, dest)); r != RuleReserved && r != RuleRoom {
			t.Errorf("SEND %q: rule %q, want reserved or room", dest, r)
		}
	}
	for _, dest := range []string{"/topic/rooms", "/sub/rooms", "/topic/room.7", "/queue/chat-rooms/7"} {
		if err := decide(p, true, dest); err != nil {
			t.Errorf("SUBSCRIBE %q: %v", dest, err)
		}
	}
	// other topics stay open to SEND where the operator opened them
	for _, dest := range []string{"/topic/news", "/topic/roomsx", "/exchange/amq.topic/news"} {
		if err := decide(p, false, dest); err != nil {
			t.Errorf("SEND %q: %v", dest, err)
		}
	}
}
