package destination

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"chatrelay/internal/stomp"
)

// hs builds headers from key, value pairs.
func hs(kv ...string) stomp.Headers {
	var h stomp.Headers
	for i := 0; i+1 < len(kv); i += 2 {
		h = append(h, stomp.Header{Key: kv[i], Value: kv[i+1]})
	}
	return h
}

func TestSubscribeHeaders(t *testing.T) {
	allow := Config{AllowHeaders: []string{"x-stream-offset", "Prefetch-Count"}}
	// x-queue-name allowed: a queue name, but never a reserved one
	namesQueue := DefaultConfig()
	namesQueue.AllowHeaders = []string{"x-queue-name"}
	tests := []struct {
		name string
		cfg  Config
		in   stomp.Headers
		want stomp.Headers
		rule string
	}{
		{"keeps and rewrites", DefaultConfig(),
			hs("id", "sub-0", "destination", "/sub/chat/room/7", "ack", "client", "receipt", "r1", "foo", "bar"),
			hs("id", "sub-0", "destination", "/topic/room.7", "ack", "client", "receipt", "r1"), ""},
		{"adds destination", DefaultConfig(), hs("id", "1"), hs("id", "1", "destination", "/topic/room.7"), ""},
		{"first occurrence wins", DefaultConfig(),
			hs("id", "1", "id", "2", "destination", "/x", "Destination", "/y"),
			hs("id", "1", "destination", "/topic/room.7"), ""},
		{"ack modes", DefaultConfig(), hs("ack", "client-individual"), hs("ack", "client-individual", "destination", "/topic/room.7"), ""},
		{"strips server headers", DefaultConfig(), hs("login", "u", "host", "/", "x-priority", "5"), hs("destination", "/topic/room.7"), ""},
		{"allowed headers kept", allow,
			hs("x-stream-offset", "first", "prefetch-count", "10"),
			hs("x-stream-offset", "first", "prefetch-count", "10", "destination", "/topic/room.7"), ""},
		{"bad ack", DefaultConfig(), hs("ack", "none"), nil, "header:ack"},
		{"bad repeated ack", DefaultConfig(), hs("ack", "auto", "ack", "bogus"), nil, "header:ack"},
		{"selector", DefaultConfig(), hs("selector", "a=1"), nil, "header:selector"},
		{"x-queue-name", DefaultConfig(), hs("x-queue-name", "q"), nil, "header:x-queue-name"},
		{"x-queue-type", DefaultConfig(), hs("x-queue-type", "stream"), nil, "header:x-queue-type"},
		{"durable", DefaultConfig(), hs("durable", "true"), nil, "header:durable"},
		{"auto-delete", DefaultConfig(), hs("auto-delete", "false"), nil, "header:auto-delete"},
		{"exclusive", DefaultConfig(), hs("exclusive", "true"), nil, "header:exclusive"},
		{"x-max-length", DefaultConfig(), hs("x-max-length", "1"), nil, "header:x-max-length"},
		{"x-max-priority", DefaultConfig(), hs("x-max-priority", "1"), nil, "header:x-max-priority"},
		{"x-message-ttl", DefaultConfig(), hs("x-message-ttl", "1"), nil, "header:x-message-ttl"},
		{"x-expires", DefaultConfig(), hs("x-expires", "1"), nil, "header:x-expires"},
		{"x-dead-letter", DefaultConfig(), hs("x-dead-letter-exchange", "x"), nil, "header:x-dead-letter-exchange"},
		{"x-stream-offset", DefaultConfig(), hs("x-stream-offset", "first"), nil, "header:x-stream-offset"},
		{"prefetch-count", DefaultConfig(), hs("prefetch-count", "1"), nil, "header:prefetch-count"},
		{"persistent", DefaultConfig(), hs("persistent", "true"), nil, "header:persistent"},
		{"reply-to", DefaultConfig(), hs("reply-to", "/temp-queue/x"), nil, "header:reply-to"},
		{"user-id", DefaultConfig(), hs("user-id", "bob"), nil, "header:user-id"},
		{"any case", DefaultConfig(), hs("X-Queue-Name", "q"), nil, "header:x-queue-name"},
		{"allowed is not others", allow, hs("x-stream-filter", "a"), nil, "header:x-stream-filter"},
		{"x-queue-name allowed", namesQueue, hs("x-queue-name", "mine"), hs("x-queue-name", "mine", "destination", "/topic/room.7"), ""},
		{"x-queue-name of a room stream", namesQueue, hs("x-queue-name", "room.k3x9abcd"), nil, RuleRoom},
		{"x-queue-name of a durable subscription", namesQueue, hs("x-queue-name", "chatrelay.durable.abc"), nil, RuleReserved},
		{"x-queue-name of the broker's", namesQueue, hs("x-queue-name", "stomp-subscription-abc"), nil, RuleReserved},
		{"x-queue-name empty", namesQueue, hs("x-queue-name", ""), nil, "header:x-queue-name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPolicy(t, tt.cfg)
			_, got, err := p.Subscribe("/sub/chat/room/7", tt.in)
			if r := rule(t, err); r != tt.rule {
				t.Fatalf("rule %q (%v), want %q", r, err, tt.rule)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("headers %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSendHeaders(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		in   stomp.Headers
		want stomp.Headers
		rule string
	}{
		{"keeps application headers", DefaultConfig(),
			hs("destination", "/pub/chat/message", "content-type", "application/json", "content-length", "2", "receipt", "r", "transaction", "tx", "x-trace", "abc", "id", "7"),
			hs("destination", "/app/chat.send", "content-type", "application/json", "content-length", "2", "receipt", "r", "transaction", "tx", "x-trace", "abc", "id", "7"), ""},
		{"strips server-owned", DefaultConfig(),
			hs("message-id", "m", "subscription", "s", "ack", "a", "redelivered", "true", "login", "l", "passcode", "p", "host", "h", "user-name", "u", "session", "s", "Message-Id", "m"),
			hs("destination", "/app/chat.send"), ""},
		{"single destination", DefaultConfig(), hs("destination", "/a", "destination", "/b"), hs("destination", "/app/chat.send"), ""},
		{"reply-to", DefaultConfig(), hs("reply-to", "/temp-queue/x"), nil, "header:reply-to"},
		{"persistent", DefaultConfig(), hs("persistent", "true"), nil, "header:persistent"},
		{"user-id", DefaultConfig(), hs("user-id", "bob"), nil, "header:user-id"},
		{"selector", DefaultConfig(), hs("selector", "x"), nil, "header:selector"},
		{"queue shaping", DefaultConfig(), hs("x-queue-type", "quorum"), nil, "header:x-queue-type"},
		{"x-overflow", DefaultConfig(), hs("x-overflow", "drop-head"), nil, "header:x-overflow"},
		{"x-max-length-bytes", DefaultConfig(), hs("x-max-length-bytes", "1"), nil, "header:x-max-length-bytes"},
		{"allowed", Config{AllowHeaders: []string{"persistent"}}, hs("persistent", "true"), hs("persistent", "true", "destination", "/app/chat.send"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPolicy(t, tt.cfg)
			_, got, err := p.Send("/pub/chat/message", tt.in)
			if r := rule(t, err); r != tt.rule {
				t.Fatalf("rule %q (%v), want %q", r, err, tt.rule)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("headers %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHeadersInputUntouched(t *testing.T) {
	p := mustPolicy(t, DefaultConfig())
	in := hs("destination", "/pub/chat/message", "login", "x", "foo", "bar")
	orig := in.Clone()
	if _, _, err := p.Send("/pub/chat/message", in); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Subscribe("/sub/chat/room/1", in); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, orig) {
		t.Errorf("input headers changed: %v, want %v", in, orig)
	}
}

// TestHeaderValuesRabbitMQWouldChokeOn refuses values RabbitMQ parses and
// fails on (it would close the shared connection).
func TestHeaderValuesRabbitMQWouldChokeOn(t *testing.T) {
	p, err := New(Config{
		ClientSend:      []string{"/app/**", "/topic/**"},
		ClientSubscribe: []string{"/queue/q"},
		AllowHeaders:    []string{"prefetch-count", "x-stream-offset"},
	})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 300)
	for _, tt := range []struct {
		sub        bool
		key, value string
		ok         bool
	}{
		{false, "priority", "x", false},
		{false, "priority", "256", false},
		{false, "priority", "9", true},
		{false, "timestamp", "-1", false},
		{false, "timestamp", "1700000000", true},
		{false, "expiration", "abc", false},
		{false, "expiration", "60000", true},
		{false, "content-type", long, false},
		{false, long, "v", false},
		{false, "x-app", long, true},
		{true, "prefetch-count", "0", false},
		{true, "prefetch-count", "many", false},
		{true, "prefetch-count", "10", true},
		{true, "x-stream-offset", "offset=-1", false},
		{true, "x-stream-offset", "sometime", false},
		{true, "x-stream-offset", "offset=42", true},
		{true, "x-stream-offset", "first", true},
	} {
		h := stomp.Headers{{Key: tt.key, Value: tt.value}}
		var err error
		if tt.sub {
			_, _, err = p.Subscribe("/queue/q", append(h, stomp.Header{Key: "id", Value: "1"}))
		} else {
			_, _, err = p.Send("/topic/t", h)
		}
		if (err == nil) != tt.ok {
			t.Errorf("%s %s=%.20q: err %v, want ok=%v", map[bool]string{true: "SUBSCRIBE", false: "SEND"}[tt.sub], tt.key, tt.value, err, tt.ok)
		}
	}
}

// TestBooleanHeaderValues accepts exactly the spellings RabbitMQ reads as
// booleans (true, false and stomp.py's True, False), forwards them as
// written, and refuses anything else with an error naming the header and
// the accepted values.
func TestBooleanHeaderValues(t *testing.T) {
	p := mustPolicy(t, Config{
		ClientSend:      []string{"/app/**", "/topic/**"},
		ClientSubscribe: []string{"/topic/**"},
		AllowHeaders:    []string{"persistent", "durable", "auto-delete", "exclusive"},
	})
	for _, key := range []string{"persistent", "durable", "auto-delete", "exclusive"} {
		for _, value := range []string{"true", "false", "True", "False"} {
			_, out, err := p.Subscribe("/topic/t", hs("id", "1", key, value))
			if err != nil || out.Value(key) != value {
				t.Errorf("SUBSCRIBE %s:%s: err %v, forwarded %q", key, value, err, out.Value(key))
			}
			_, out, err = p.Send("/topic/t", hs(key, value))
			if err != nil || out.Value(key) != value {
				t.Errorf("SEND %s:%s: err %v, forwarded %q", key, value, err, out.Value(key))
			}
		}
		for _, value := range []string{"TRUE", "FALSE", "tRUE", "yes", "1", "", " true", "true "} {
			_, _, err := p.Subscribe("/topic/t", hs("id", "1", key, value))
			if r := rule(t, err); r != "header:"+key {
				t.Errorf("SUBSCRIBE %s:%q: rule %q (%v), want header:%s", key, value, r, err, key)
				continue
			}
			if msg := err.Error(); !strings.Contains(msg, "must be true or false") || !strings.Contains(msg, "True and False") || !strings.Contains(msg, fmt.Sprintf("%q", value)) {
				t.Errorf("SUBSCRIBE %s:%q: unclear error %q", key, value, msg)
			}
			if _, _, err := p.Send("/topic/t", hs(key, value)); rule(t, err) != "header:"+key {
				t.Errorf("SEND %s:%q: %v, want refused", key, value, err)
			}
		}
	}
}
