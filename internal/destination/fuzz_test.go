package destination

import (
	"errors"
	"slices"
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
		// issue 12: queue churn, generated and server names, forged
		// announcements
		{"/queue/junk-1999", "id"},
		{"/queue/jobs", "ack"},
		{"/queue/jobs/x", "id"},
		{"/queue/stomp-subscription-kTCCgGvwPNhLmY0Q9ubk1A", "id"},
		{"/amq/queue/stomp-subscription-x", "x-queue-type"},
		{"/exchange/amq.default/stomp-subscription-x", "id"},
		{"/exchange/amq.default/jobs", "receipt"},
		{"/exchange/amq.default", "id"},
		{"/queue/amq.gen-x", "exclusive"},
		{"/queue/Stomp-Subscription-x", "id"},
		{"/queue/mqtt-subscription-c1qos0", "id"},
		{"/queue/user.alice.errors", "id"},
		{"/topic/rooms", "content-type"},
		{"/sub/rooms", "content-type"},
		{"/exchange/amq.topic/rooms", "content-type"},
		{"/topic/chatrelay.presence", "content-type"},
		{"/queue/chat-rooms/7", "content-type"},
	}
	for _, s := range seeds {
		f.Add(s.dest, s.header)
	}
	defCfg := DefaultConfig()
	openCfg := Config{
		ClientSend:      []string{"/**", "/queue/jobs", "/exchange/amq.default/jobs"},
		ClientSubscribe: []string{"/**", "/exchange/**", "/amq/queue/jobs", "/queue/jobs", "/queue/a.b"},
		AllowWildcards:  true,
	}
	def, open := mustPolicy(f, defCfg), mustPolicy(f, openCfg)
	f.Fuzz(func(t *testing.T, dest, header string) {
		h := stomp.Headers{{Key: header, Value: "v"}, {Key: "destination", Value: dest}}
		for _, pc := range []struct {
			p    *Policy
			cfg  Config
			wild bool
		}{{def, defCfg, false}, {open, openCfg, true}} {
			tg, out, err := pc.p.Subscribe(dest, h)
			checkResult(t, dest, header, tg, out, err, pc.wild)
			checkIssue12(t, tg, err, pc.cfg.ClientSubscribe, false)
			tg, out, err = pc.p.Send(dest, h)
			checkResult(t, dest, header, tg, out, err, false)
			checkIssue12(t, tg, err, pc.cfg.ClientSend, true)
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

// checkIssue12 asserts the rules of issue 12 on an accepted destination:
// a queue is one the allowlist names literally; no queue the broker
// generates or the server uses is reached; no SEND reaches a topic the
// server publishes.
func checkIssue12(t *testing.T, tg Target, err error, list []string, send bool) {
	t.Helper()
	if err != nil || tg.Kind != Broker {
		return
	}
	canon := tg.Destination
	var queue string
	for _, prefix := range []string{"/queue/", "/amq/queue/", "/exchange/amq.default/"} {
		if name, ok := strings.CutPrefix(canon, prefix); ok {
			queue = name
		}
	}
	if queue != "" || canon == "/exchange/amq.default" {
		if !slices.Contains(list, canon) {
			t.Errorf("%q: queue %q accepted but not listed literally in %q", tg.Original, canon, list)
		}
		lower := strings.ToLower(queue)
		first, _, _ := strings.Cut(lower, ".")
		for _, bad := range []string{"stomp-", "mqtt-", "amq."} {
			if strings.HasPrefix(lower, bad) {
				t.Errorf("%q: generated queue name reached: %q", tg.Original, canon)
			}
		}
		if first == "room" || first == "chatrelay" || first == "user" || queue == "" {
			t.Errorf("%q: server queue reached: %q", tg.Original, canon)
		}
	}
	topic, ok := strings.CutPrefix(canon, "/topic/")
	if !ok {
		topic, ok = strings.CutPrefix(canon, "/exchange/amq.topic/")
	}
	if ok && send {
		first, _, _ := strings.Cut(topic, ".")
		if first == "rooms" || first == "room" || first == "chatrelay" || first == "user" {
			t.Errorf("%q: SEND to the server's topic %q accepted", tg.Original, canon)
		}
	}
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
