package destination

import (
	"fmt"
	"strings"
	"testing"
)

// TestQueueChurnRefusedByDefault is the queue flood of issue 12 against
// the policy: with the default config no /queue/ name reaches the broker,
// whichever way it is written, while the Spring alias that looks like a
// queue still reaches its room topic.
func TestQueueChurnRefusedByDefault(t *testing.T) {
	p := mustPolicy(t, DefaultConfig())
	for i := range 200 {
		for _, dest := range []string{
			fmt.Sprintf("/queue/junk-%d", i),
			fmt.Sprintf("/queue/junk/%d", i),
			fmt.Sprintf("/queue/chat-rooms/%d/x", i),
		} {
			if _, _, err := p.Subscribe(dest, nil); rule(t, err) != RuleClientSubscribe {
				t.Fatalf("SUBSCRIBE %q: %v, want refused by %s", dest, err, RuleClientSubscribe)
			}
			if _, _, err := p.Send(dest, nil); rule(t, err) != RuleClientSend {
				t.Fatalf("SEND %q: %v, want refused by %s", dest, err, RuleClientSend)
			}
		}
	}
	got, _, err := p.Subscribe("/queue/chat-rooms/7", nil)
	if err != nil || got.Destination != "/topic/room.7" {
		t.Fatalf("seed alias: %+v %v, want /topic/room.7", got, err)
	}
}

// TestQueuesOnlyByLiteralName: wide patterns that would match a queue
// ("/**", "/exchange/**") never do; only an entry naming the queue itself
// lets a client reach it.
func TestQueuesOnlyByLiteralName(t *testing.T) {
	p := mustPolicy(t, Config{
		ClientSend:      []string{"/**", "/queue/jobs", "/exchange/amq.default/jobs"},
		ClientSubscribe: []string{"/**", "/exchange/**", "/queue/jobs", "/amq/queue/work"},
	})
	ok := []struct {
		sub  bool
		dest string
	}{
		{true, "/queue/jobs"},
		{true, "/amq/queue/work"},
		{false, "/queue/jobs"},
		{false, "/exchange/amq.default/jobs"},
		{true, "/topic/news"},            // "/**" still matches what is not a queue
		{true, "/exchange/amq.fanout/x"}, // so does "/exchange/**"
	}
	for _, tt := range ok {
		if err := decide(p, tt.sub, tt.dest); err != nil {
			t.Errorf("sub=%v %q: %v", tt.sub, tt.dest, err)
		}
	}
	refused := []struct {
		sub        bool
		dest, rule string
	}{
		{true, "/queue/jobs2", RuleClientSubscribe},
		{true, "/queue/other", RuleClientSubscribe},
		{true, "/amq/queue/jobs", RuleClientSubscribe},
		{false, "/amq/queue/work", RuleSpecialPrefix},
		{false, "/queue/other", RuleClientSend},
		{false, "/exchange/amq.default/other", RuleClientSend},
		{true, "/exchange/amq.default/jobs", RuleReserved},
		{true, "/exchange/amq.default", RuleReserved},
		{false, "/exchange/amq.default", RuleInvalidName},
	}
	for _, tt := range refused {
		if got := rule(t, decide(p, tt.sub, tt.dest)); got != tt.rule {
			t.Errorf("sub=%v %q: rule %q, want %q", tt.sub, tt.dest, got, tt.rule)
		}
	}
}

// TestWildcardQueuePatternsRefusedAtLoad: an allowlist entry that would
// let clients name any number of queues is a configuration error with a
// message saying why.
func TestWildcardQueuePatternsRefusedAtLoad(t *testing.T) {
	for _, src := range []string{
		"/queue/**", "/queue/*", "/queue/jobs.*", "/queue/{name}", "/queue/jobs/**", "/queue*",
		"/amq/queue/**", "/amq/queue/{q}", "/exchange/amq.default/**", "/exchange/amq.default/{q}",
		"/exchange/amq.default*/**",
	} {
		for _, cfg := range []Config{{ClientSubscribe: []string{"/topic/**", src}}, {ClientSend: []string{src}}} {
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), "queues must be named one by one") || !strings.Contains(err.Error(), src) {
				t.Errorf("New with %q: %v, want the wildcard queue refusal", src, err)
			}
		}
	}
	// wide patterns that are not written under a queue prefix are fine:
	// they just never match a queue
	for _, src := range []string{"/**", "/exchange/**", "/topic/**", "/queues-are-not-here/**"} {
		if _, err := New(Config{ClientSubscribe: []string{src}}); err != nil {
			t.Errorf("New with %q: %v", src, err)
		}
	}
}

// decide runs the policy's SUBSCRIBE (sub) or SEND check on dest.
func decide(p *Policy, sub bool, dest string) error {
	if sub {
		_, _, err := p.Subscribe(dest, nil)
		return err
	}
	_, _, err := p.Send(dest, nil)
	return err
}
