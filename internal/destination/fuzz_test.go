package destination

import (
	"errors"
	"strings"
	"testing"

	"chatrelay/internal/stomp"
)

// FuzzPolicy feeds arbitrary destinations and header names to a default
// and a permissive policy and checks that whatever is accepted is safe to
// forward to RabbitMQ.
func FuzzPolicy(f *testing.F) {
	seeds := []struct{ dest, header string }{
		{"/sub/chat/room/7", "id"},
		{"/pub/chat/message", "content-type"},
		{"/queue/chat-rooms/7", "ack"},
		{"/topic/chat/room/1", "x-queue-name"},
		{"/topic/#", "selector"},
		{"/topic/*.alice", "prefetch-count"},
		{"/topic/user.alice.errors", "x-max-length"},
		{"/topic/a//b", "destination"},
		{"/user/queue/errors", "receipt"},
		{"/user/bob/queue/errors", "user-id"},
		{"/exchange/amq.rabbitmq.trace/#", "reply-to"},
		{"/exchange/amq.topic/user.x", "X-Stream-Offset"},
		{"/amq/queue/room.7", "persistent"},
		{"/app/../topic/x", "login"},
		{"/app/rooms/{id}", "message-id"},
		{"/queue/amq.gen", "durable"},
		{"", ""},
		{"/topic/" + strings.Repeat("a", 300), "x-dead-letter-exchange"},
		{"/sub/\x00/\n", "\n"},
	}
	for _, s := range seeds {
		f.Add(s.dest, s.header)
	}
	def := mustPolicy(f, DefaultConfig())
	open := mustPolicy(f, Config{
		ClientSend:      []string{"/**"},
		ClientSubscribe: []string{"/**", "/exchange/**", "/amq/queue/**"},
		AllowWildcards:  true,
	})
	f.Fuzz(func(t *testing.T, dest, header string) {
		h := stomp.Headers{{Key: header, Value: "v"}, {Key: "destination", Value: dest}}
		for _, pc := range []struct {
			p    *Policy
			wild bool
		}{{def, false}, {open, true}} {
			tg, out, err := pc.p.Subscribe(dest, h)
			checkResult(t, dest, header, tg, out, err, pc.wild)
			tg, out, err = pc.p.Send(dest, h)
			checkResult(t, dest, header, tg, out, err, false)
			if err == nil && (tg.Kind == Broker || tg.Kind == User) {
				again, _, err := pc.p.Send(tg.Destination, nil)
				if err != nil || again.Destination != tg.Destination {
					t.Errorf("canonical %q not stable: %+v %v", tg.Destination, again, err)
				}
			}
		}
	})
}

// checkResult asserts the invariants of one policy decision.
func checkResult(t *testing.T, dest, header string, tg Target, out stomp.Headers, err error, wild bool) {
	t.Helper()
	if err != nil {
		var rej *Rejection
		if !errors.As(err, &rej) || rej.Rule == "" || rej.Destination != dest {
			t.Fatalf("%q: bad error %#v", dest, err)
		}
		return
	}
	if tg.Original != dest {
		t.Errorf("Original %q, want %q", tg.Original, dest)
	}
	if n := countKey(out, "destination"); n != 1 || out.Value("destination") != tg.Destination {
		t.Errorf("%q: %d destination headers, value %q, want one %q", dest, n, out.Value("destination"), tg.Destination)
	}
	if refused(header) && !strings.EqualFold(header, "destination") && countKey(out, header) > 0 {
		t.Errorf("%q: refused header %q forwarded", dest, header)
	}
	switch tg.Kind {
	case App:
		if !strings.HasPrefix(tg.Destination, "/app/") || strings.Contains(tg.Destination, "..") {
			t.Errorf("%q: bad app destination %q", dest, tg.Destination)
		}
	case User:
		if tg.Destination != "/user/queue/"+tg.Queue || strings.Contains(tg.Queue, "/") || tg.Queue == "" {
			t.Errorf("%q: bad user target %+v", dest, tg)
		}
	case Broker:
		checkBroker(t, dest, tg.Destination, wild)
	default:
		t.Errorf("%q: accepted with kind %v", dest, tg.Kind)
	}
}

// checkBroker asserts that an accepted broker destination is well-formed.
func checkBroker(t *testing.T, dest, canon string, wild bool) {
	t.Helper()
	for _, prefix := range []string{"/topic/", "/queue/"} {
		name, ok := strings.CutPrefix(canon, prefix)
		if !ok {
			continue
		}
		if name == "" || len(name) > maxNameLen || strings.Contains(name, "/") {
			t.Errorf("%q: bad name in %q", dest, canon)
		}
		if strings.ContainsAny(name, "*#") && (!wild || prefix == "/queue/") {
			t.Errorf("%q: wildcard in %q", dest, canon)
		}
		first, _, _ := strings.Cut(name, ".")
		if prefix == "/topic/" && (first == "user" || first == "chatrelay" || first == "*" || first == "#") {
			t.Errorf("%q: reserved name accepted: %q", dest, canon)
		}
		return
	}
	for _, sp := range specialPrefixes {
		if strings.HasPrefix(canon, sp.prefix) {
			if strings.HasPrefix(canon, "/exchange/amq.rabbitmq.") || strings.HasPrefix(canon, "/exchange/amq.topic/user.") {
				t.Errorf("%q: reserved exchange accepted: %q", dest, canon)
			}
			return
		}
	}
	t.Errorf("%q: broker destination with unknown prefix %q", dest, canon)
}

// countKey counts headers named key, in any case.
func countKey(h stomp.Headers, key string) int {
	n := 0
	for _, kv := range h {
		if strings.EqualFold(kv.Key, key) {
			n++
		}
	}
	return n
}
