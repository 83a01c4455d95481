package destination

import (
	"errors"
	"strings"
	"testing"
)

// mustPolicy compiles cfg or fails the test.
func mustPolicy(t testing.TB, cfg Config) *Policy {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// rule returns the rule of a *Rejection, "" for nil, or fails the test.
func rule(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var rej *Rejection
	if !errors.As(err, &rej) {
		t.Fatalf("error %v is not a *Rejection", err)
	}
	return rej.Rule
}

func TestSubscribeAccepted(t *testing.T) {
	p := mustPolicy(t, DefaultConfig())
	tests := []struct {
		dest  string
		kind  Kind
		canon string
		queue string
	}{
		// Seed forms and default aliases.
		{"/sub/chat/room/7", Broker, "/topic/room.7", ""},
		{"/queue/chat-rooms/7", Broker, "/topic/room.7", ""},
		{"/queue/chat-rooms/abc", Broker, "/topic/room.abc", ""},
		{"/sub/chat/room/abc-1", Broker, "/topic/room.abc-1", ""},
		{"/sub/chat/7", Broker, "/topic/chat.7", ""},
		{"/sub/notice", Broker, "/topic/notice", ""},
		{"/pub/rooms/7", App, "/app/rooms/7", ""},
		// Normalisation.
		{"/topic/chat/room/1", Broker, "/topic/chat.room.1", ""},
		{"/topic/room.7", Broker, "/topic/room.7", ""},
		{"/topic/users.list", Broker, "/topic/users.list", ""},
		{"/topic/a~b:c@d_e-f", Broker, "/topic/a~b:c@d_e-f", ""},
		// User queues.
		{"/user/queue/errors", User, "/user/queue/errors", "errors"},
		{"/user/queue/a/b", User, "/user/queue/a.b", "a.b"},
		// App (@SubscribeMapping).
		{"/app/rooms/{x}", App, "/app/rooms/{x}", ""},
		{"/app/rooms", App, "/app/rooms", ""},
	}
	for _, tt := range tests {
		t.Run(tt.dest, func(t *testing.T) {
			got, _, err := p.Subscribe(tt.dest, nil)
			if err != nil {
				t.Fatalf("Subscribe(%q): %v", tt.dest, err)
			}
			want := Target{Kind: tt.kind, Destination: tt.canon, Queue: tt.queue, Original: tt.dest}
			if got != want {
				t.Errorf("Subscribe(%q) = %+v, want %+v", tt.dest, got, want)
			}
		})
	}
}

func TestSendAccepted(t *testing.T) {
	p := mustPolicy(t, DefaultConfig())
	tests := []struct{ dest, canon string }{
		{"/pub/chat/message", "/app/chat.send"},
		{"/app/message", "/app/chat.send"},
		{"/app/chat.send", "/app/chat.send"},
		{"/pub/chat", "/app/chat"},
		{"/pub/chat/room/7", "/app/chat/room/7"},
		{"/app/rooms/7/join", "/app/rooms/7/join"},
	}
	for _, tt := range tests {
		t.Run(tt.dest, func(t *testing.T) {
			got, _, err := p.Send(tt.dest, nil)
			if err != nil {
				t.Fatalf("Send(%q): %v", tt.dest, err)
			}
			if got.Kind != App || got.Destination != tt.canon || got.Original != tt.dest {
				t.Errorf("Send(%q) = %+v, want App %q", tt.dest, got, tt.canon)
			}
		})
	}
}

func TestRejections(t *testing.T) {
	def := DefaultConfig()
	wild := DefaultConfig()
	wild.AllowWildcards = true
	long := "/topic/" + strings.Repeat("a", 256)
	tests := []struct {
		name string
		cfg  Config
		sub  bool
		dest string
		rule string
	}{
		{"send topic by default", def, false, "/topic/news", RuleClientSend},
		{"send to a room topic", Config{ClientSend: []string{"/topic/**"}}, false, "/topic/room.7", RuleRoom},
		{"room wildcard when wildcards allowed", wild, true, "/topic/room.*", RuleRoom},
		{"room hash when wildcards allowed", wild, true, "/topic/room.#", RuleRoom},
		{"a room topic other than the room and its typing", Config{}, true, "/topic/room.7.secret", RuleRoom},
		{"below a room's typing topic", Config{}, true, "/topic/room.7.typing.x", RuleRoom},
		{"send to a room's typing topic", Config{ClientSend: []string{"/topic/**"}}, false, "/topic/room.7.typing", RuleRoom},
		{"room stream as a queue", Config{ClientSubscribe: []string{"/amq/queue/jobs"}}, true, "/amq/queue/room.7", RuleRoom},
		{"registry stream as a queue", Config{ClientSubscribe: []string{"/amq/queue/jobs"}}, true, "/amq/queue/chatrelay.rooms", RuleReserved},
		{"room stream as /queue", def, true, "/queue/room.7", RuleRoom},
		{"registry stream as /queue", def, true, "/queue/chatrelay/rooms", RuleReserved},
		{"room via amq.topic", Config{ClientSubscribe: []string{"/exchange/**"}}, true, "/exchange/amq.topic/room.7", RuleRoom},
		{"send user queue", def, false, "/user/queue/errors", RuleClientSend},
		{"send seed sub alias", def, false, "/sub/chat/room/7", RuleRoom},
		{"subscribe narrowed", Config{ClientSubscribe: []string{"/topic/room.*"}}, true, "/topic/news", RuleClientSubscribe},
		{"hash", def, true, "/topic/#", RuleNoWildcards},
		{"star", def, true, "/topic/room.*", RuleNoWildcards},
		{"queue wildcard even when allowed", wild, true, "/queue/*", RuleNoWildcards},
		{"queue by default", def, true, "/queue/jobs", RuleClientSubscribe},
		{"queue churn by default", def, true, "/queue/junk-17", RuleClientSubscribe},
		{"queue by slashes", def, true, "/queue/a/b", RuleClientSubscribe},
		{"queue past the seed alias", def, true, "/queue/chat-rooms/7/extra", RuleClientSubscribe},
		{"send wildcard even when allowed", Config{ClientSend: []string{"/topic/**"}, AllowWildcards: true}, false, "/topic/room.*", RuleNoWildcards},
		{"partial-word wildcard", wild, true, "/topic/room.a*", RuleInvalidName},
		{"wildcard first word", wild, true, "/topic/#", RuleReserved},
		{"star first word", wild, true, "/topic/*.alice.errors", RuleReserved},
		{"user topic", def, true, "/topic/user.alice.errors", RuleReserved},
		{"user topic slashes", def, true, "/topic/user/alice/errors", RuleReserved},
		{"bare user topic", def, true, "/topic/user", RuleReserved},
		{"chatrelay topic", def, true, "/topic/chatrelay.rooms", RuleReserved},
		{"user topic via alias", def, true, "/sub/user/bob/queue", RuleReserved},
		{"send to user topic", Config{ClientSend: []string{"/topic/**"}}, false, "/topic/user.bob.x", RuleReserved},
		{"other user's queue", def, true, "/user/bob/queue/errors", RuleReserved},
		{"bare user", def, true, "/user", RuleReserved},
		{"amq queue name", def, true, "/queue/amq.gen-1", RuleReserved},
		{"exchange", def, true, "/exchange/amq.fanout/x", RuleSpecialPrefix},
		{"amq queue", def, true, "/amq/queue/room.7", RuleSpecialPrefix},
		{"temp queue", def, false, "/temp-queue/x", RuleSpecialPrefix},
		{"reply queue", def, true, "/reply-queue/x", RuleSpecialPrefix},
		{"firehose not named", Config{ClientSubscribe: []string{"/exchange/**"}}, true, "/exchange/amq.rabbitmq.trace/publish.x", RuleReserved},
		{"exchange topic user key", Config{ClientSubscribe: []string{"/exchange/**"}}, true, "/exchange/amq.topic/user.bob.x", RuleReserved},
		{"empty topic", def, true, "/topic/", RuleInvalidName},
		{"bare topic", def, true, "/topic", RuleInvalidName},
		{"empty segment", def, true, "/topic/a//b", RuleInvalidName},
		{"trailing slash", def, true, "/topic/a/", RuleInvalidName},
		{"space", def, true, "/topic/a b", RuleInvalidName},
		{"unicode", def, true, "/topic/방", RuleInvalidName},
		{"too long", def, true, long, RuleInvalidName},
		{"empty user queue", def, true, "/user/queue/", RuleInvalidName},
		{"app dotdot", def, false, "/app/../topic/x", RuleInvalidName},
		{"app empty", def, false, "/app/", RuleInvalidName},
		{"app bare", def, false, "/app", RuleInvalidName},
		{"app space", def, false, "/app/chat send", RuleInvalidName},
		{"app empty segment", def, false, "/app/a//b", RuleInvalidName},
		{"empty", def, true, "", RuleUnknownPrefix},
		{"relative", def, true, "topic/x", RuleUnknownPrefix},
		{"unknown", def, true, "/foo/bar", RuleUnknownPrefix},
		{"topic lookalike", def, true, "/topicx", RuleUnknownPrefix},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPolicy(t, tt.cfg)
			check := p.Send
			if tt.sub {
				check = p.Subscribe
			}
			_, _, err := check(tt.dest, nil)
			if got := rule(t, err); got != tt.rule {
				t.Errorf("%q: rule %q (%v), want %q", tt.dest, got, err, tt.rule)
			}
		})
	}
}

func TestConfigOptIns(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		sub   bool
		dest  string
		canon string
	}{
		{"send to topic", Config{ClientSend: []string{"/app/**", "/topic/**"}}, false, "/topic/chat/room/1", "/topic/chat.room.1"},
		{"send to topic via an alias", Config{ClientSend: []string{"/topic/**"}}, false, "/sub/chat/news/7", "/topic/chat.news.7"},
		{"exchange opt-in", Config{ClientSubscribe: []string{"/exchange/amq.fanout/**"}}, true, "/exchange/amq.fanout/x", "/exchange/amq.fanout/x"},
		{"exchange without key", Config{ClientSubscribe: []string{"/exchange/**"}}, true, "/exchange/logs", "/exchange/logs"},
		{"amq queue opt-in", Config{ClientSubscribe: []string{"/amq/queue/jobs.7"}}, true, "/amq/queue/jobs.7", "/amq/queue/jobs.7"},
		{"queue opt-in", Config{ClientSubscribe: []string{"/topic/**", "/queue/jobs"}}, true, "/queue/jobs", "/queue/jobs"},
		{"queue opt-in slashes", Config{ClientSubscribe: []string{"/queue/a.b"}}, true, "/queue/a/b", "/queue/a.b"},
		{"queue send opt-in", Config{ClientSend: []string{"/app/**", "/queue/jobs"}}, false, "/queue/jobs", "/queue/jobs"},
		{"default exchange send opt-in", Config{ClientSend: []string{"/exchange/amq.default/jobs"}}, false, "/exchange/amq.default/jobs", "/exchange/amq.default/jobs"},
		{"firehose named", Config{ClientSubscribe: []string{"/exchange/amq.rabbitmq.trace/**"}, AllowWildcards: true}, true, "/exchange/amq.rabbitmq.trace/#", "/exchange/amq.rabbitmq.trace/#"},
		{"wildcards", Config{AllowWildcards: true}, true, "/topic/news.*", "/topic/news.*"},
		{"wildcard hash tail", Config{AllowWildcards: true}, true, "/topic/news/#", "/topic/news.#"},
		{"custom alias", Config{Aliases: []Alias{{From: "/rooms/{id}/**", To: "/topic/room.{id}/**"}}}, true, "/rooms/7/typing", "/topic/room.7.typing"},
		{"aliases disabled", Config{Aliases: []Alias{}, ClientSubscribe: []string{"/queue/chat-rooms.7"}}, true, "/queue/chat-rooms/7", "/queue/chat-rooms.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPolicy(t, tt.cfg)
			check := p.Send
			if tt.sub {
				check = p.Subscribe
			}
			got, h, err := check(tt.dest, nil)
			if err != nil {
				t.Fatalf("%q: %v", tt.dest, err)
			}
			if got.Kind != Broker || got.Destination != tt.canon {
				t.Errorf("%q = %+v, want Broker %q", tt.dest, got, tt.canon)
			}
			if d := h.Value("destination"); d != tt.canon {
				t.Errorf("destination header %q, want %q", d, tt.canon)
			}
		})
	}
}

func TestNewInvalidConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"relative pattern", Config{ClientSend: []string{"app/**"}}},
		{"inner **", Config{ClientSend: []string{"/app/**/x"}}},
		{"empty segment", Config{ClientSubscribe: []string{"/topic//x"}}},
		{"unbalanced {", Config{ClientSubscribe: []string{"/topic/{id"}}},
		{"unbalanced }", Config{ClientSubscribe: []string{"/topic/id}"}}},
		{"bad var", Config{ClientSubscribe: []string{"/topic/{1d}"}}},
		{"duplicate var", Config{Aliases: []Alias{{From: "/a/{x}/{x}", To: "/topic/{x}"}}}},
		{"uncaptured var", Config{Aliases: []Alias{{From: "/a/{x}", To: "/topic/{y}"}}}},
		{"rest without rest", Config{Aliases: []Alias{{From: "/a/{x}", To: "/topic/**"}}}},
		{"star in To", Config{Aliases: []Alias{{From: "/a/*", To: "/topic/*"}}}},
		{"empty allow header", Config{AllowHeaders: []string{""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil {
				t.Errorf("New(%+v) succeeded, want error", tt.cfg)
			}
		})
	}
}

func TestRejectionError(t *testing.T) {
	p := mustPolicy(t, DefaultConfig())
	_, _, err := p.Subscribe("/topic/#", nil)
	want := `destination "/topic/#" refused by rule "no-wildcards": wildcards * and # are not allowed in a topic name`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{App: "app", Broker: "broker", User: "user", 0: "Kind(0)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

// TestDisplay: a MESSAGE names what an exact subscription wrote, and for a
// wildcard subscription the destination that matched, written back
// through the alias the client used when that alias reverses.
func TestDisplay(t *testing.T) {
	p, err := New(Config{
		Aliases: []Alias{
			{From: "/sub/chat/room/{id}", To: "/topic/room.{id}"},
			{From: "/sub/**", To: "/topic/**"},
		},
		ClientSubscribe: []string{"/topic/**"},
		AllowWildcards:  true,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ subscribed, sentTo, want string }{
		{"/topic/probe.a", "/topic/probe.a", "/topic/probe.a"},
		{"/topic/probe.*", "/topic/probe.a", "/topic/probe.a"},
		{"/topic/probe.#", "/topic/probe.a.b", "/topic/probe.a.b"},
		{"/sub/probe.*", "/topic/probe.a", "/sub/probe.a"},
		{"/sub/chat/room/7", "/topic/room.7", "/sub/chat/room/7"},
	} {
		target, _, err := p.Subscribe(c.subscribed, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.subscribed, err)
		}
		if got := p.Display(target, c.sentTo); got != c.want {
			t.Errorf("subscribed %s, sent to %s: MESSAGE destination %s, want %s", c.subscribed, c.sentTo, got, c.want)
		}
	}
	if target, _, _ := p.Subscribe("/topic/probe.*", nil); !target.Wildcard() {
		t.Error("/topic/probe.* is no wildcard")
	}
	if target, _, _ := p.Subscribe("/topic/probe.a", nil); target.Wildcard() {
		t.Error("/topic/probe.a is a wildcard")
	}
}
