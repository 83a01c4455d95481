package conformance

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/servertest"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// Names of the targets every row runs against.
const (
	webSTOMP = "web-stomp" // RabbitMQ Web-STOMP directly: the reference
	relayMQ  = "chatrelay-rabbitmq"
	relayEmb = "chatrelay-embedded"
)

// target is one server the rows run against.
type target struct {
	name string
	url  string
	// reconnects counts chatrelay's upstream reconnects (nil for
	// Web-STOMP, which has none)
	reconnects func() int
}

// run is unique to this test process: every queue and topic a row uses
// is named after it, the row and the target, so that runs and targets
// (which share the RabbitMQ node) never see each other's messages.
var run = time.Now().Format("150405.000")

// prefix is the name prefix of the destinations row uses on target tg.
func prefix(tg, row string) string {
	return strings.NewReplacer(".", "", "/", "-").Replace("conf-" + run + "-" + row + "-" + tg)
}

// startTargets starts chatrelay in both broker modes with a permissive
// policy (every row's queues listed by name, topics and wildcards open,
// the queue-shaping headers allowed) and returns the three targets.
func startTargets(t *testing.T, rows []row) []target {
	n := rabbittest.Require(t, rabbit)
	brokerUser(t, n)
	ts := []target{{name: webSTOMP, url: n.WebSTOMPURL()}}
	for _, mode := range []string{config.BrokerRabbitMQ, config.BrokerEmbedded} {
		name := relayMQ
		if mode == config.BrokerEmbedded {
			name = relayEmb
		}
		cfg := permissive(name, rows)
		if mode == config.BrokerEmbedded {
			// the embedded broker has no topic wildcards (config refuses them)
			cfg.Policy.AllowWildcards = false
		} else {
			cfg.Broker.Mode = config.BrokerRabbitMQ
			cfg.Broker.Addresses = []string{n.STOMPAddr()}
			cfg.Broker.AMQPAddresses = []string{n.AMQPAddr()}
			cfg.Broker.Login, cfg.Broker.Passcode = user, user
		}
		r := servertest.Start(t, cfg, testLog(), 15*time.Second)
		ts = append(ts, target{name: name, url: r.URL(), reconnects: r.Server.Relay().Reconnects})
	}
	return ts
}

// user is the broker user of the rows' clients on Web-STOMP and of
// chatrelay's relay (password = name): it may use every name except
// those containing "denied", so that rows can meet access_refused.
const user = "conformance"

// brokerUser creates user on n, allowed everything but names containing
// "denied" (queues, exchanges, and topic routing keys on amq.topic).
func brokerUser(t *testing.T, n *rabbittest.Node) {
	t.Helper()
	allowed := `^(?!.*denied).*$`
	for _, args := range [][]string{
		{"add_user", user, user},
		{"set_permissions", "-p", "/", user, allowed, allowed, allowed},
		{"set_topic_permissions", "-p", "/", user, "amq.topic", allowed, allowed},
	} {
		if out, err := n.Ctl(args...); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	t.Cleanup(func() { _, _ = n.Ctl("delete_user", user) })
}

// permissive is chatrelay's default configuration opened up as far as a
// deployment that relays RabbitMQ for trusted clients would.
func permissive(name string, rows []row) config.Config {
	cfg := config.Defaults()
	cfg.Rooms.Presence.Messages = false
	cfg.Limits.SendRate = 0
	cfg.Limits.SubscribeRate = 0
	cfg.Limits.MaxConnectionsPerUser = 1000 // every row connects as guest
	cfg.Policy.AllowWildcards = true
	cfg.Policy.ClientSend = []string{"/app/**", "/topic/**", "/exchange/**"}
	cfg.Policy.ClientSubscribe = []string{"/topic/**", "/user/queue/**", "/app/**", "/exchange/**"}
	// one upstream connection: every client shares it, so a refusal that
	// closed it would show in the bystander rows
	cfg.Broker.Connections = 1
	cfg.Policy.AllowHeaders = []string{"durable", "auto-delete", "exclusive", "persistent", "prefetch-count", "x-max-length"}
	for _, r := range rows {
		for _, q := range r.queues {
			dest := "/queue/" + prefix(name, r.name) + "-" + q
			cfg.Policy.ClientSend = append(cfg.Policy.ClientSend, dest)
			cfg.Policy.ClientSubscribe = append(cfg.Policy.ClientSubscribe, dest)
		}
	}
	return cfg
}

// testLog logs the servers' warnings in verbose runs only.
func testLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// env is one row's run against one target.
type env struct {
	t      *testing.T
	tg     target
	prefix string
}

// dial opens a connection offering every STOMP subprotocol and connects
// as guest with the given extra CONNECT headers.
func (e *env) dial(kv ...string) *stomptest.Client {
	e.t.Helper()
	c := e.raw()
	if _, err := c.Connect(append([]string{"login", user, "passcode", user}, kv...)...); err != nil {
		e.t.Fatalf("%s: connect: %v", e.tg.name, err)
	}
	return c
}

// raw opens a connection without sending anything.
func (e *env) raw() *stomptest.Client {
	e.t.Helper()
	c, _, err := stomptest.Dial(e.tg.url, stomptest.Options{Subprotocols: []string{"v12.stomp", "v11.stomp", "v10.stomp"}})
	if err != nil {
		e.t.Fatalf("%s: dial: %v", e.tg.name, err)
	}
	e.t.Cleanup(func() { _ = c.Close() })
	return c
}

// queue is the row's queue named q on this target.
func (e *env) queue(q string) string { return "/queue/" + e.prefix + "-" + q }

// topic is the row's topic named q on this target.
func (e *env) topic(q string) string { return "/topic/" + e.prefix + "-" + q }

// frame sends the frame command with headers kv and body.
func (e *env) frame(c *stomptest.Client, command, body string, kv ...string) {
	e.t.Helper()
	f := stomp.New(command, kv...)
	f.Body = []byte(body)
	if err := c.Send(f); err != nil {
		e.t.Fatalf("%s: send %s: %v", e.tg.name, command, err)
	}
}

// next reads the next frame (a deadline, never a guess) and describes it
// with the headers keys.
func (e *env) next(c *stomptest.Client, keys ...string) string {
	e.t.Helper()
	f, err := c.Read(10 * time.Second)
	if err != nil {
		return "no frame: " + e.norm(err.Error())
	}
	return e.describe(f, keys...)
}

// nextOrClosed is next, or "closed" when the socket closes instead.
func (e *env) nextOrClosed(c *stomptest.Client) string {
	e.t.Helper()
	f, err := c.Read(10 * time.Second)
	if err == nil {
		return e.describe(f)
	}
	select {
	case <-c.Closed():
		return "closed"
	default:
		return "no frame: " + e.norm(err.Error())
	}
}

// describe is f's command, the headers keys it has (in that order) and
// its body, with the row's prefix replaced by "P".
func (e *env) describe(f *stomp.Frame, keys ...string) string {
	var b strings.Builder
	b.WriteString(f.Command)
	if f.Command == stomp.ERROR {
		keys = append([]string{"message"}, keys...)
	}
	for _, k := range keys {
		if v, ok := f.Headers.Get(k); ok {
			fmt.Fprintf(&b, " %s=%s", k, v)
		}
	}
	if len(f.Body) > 0 && f.Command != stomp.ERROR {
		fmt.Fprintf(&b, " body=%q", f.Body)
	}
	return e.norm(b.String())
}

// norm replaces the row's prefix in s.
func (e *env) norm(s string) string { return strings.ReplaceAll(s, e.prefix, "P") }
