package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// relayIDLen is the length of the message ids the relay issues.
const relayIDLen = 22

// leakCheck knows what no frame a client gets may show: pieces of
// RabbitMQ's ids, the upstream subscription ids behind the client's
// subscriptions, and the replica's broker connection names.
type leakCheck struct {
	marks []string // substrings
	exact []string // whole header values
}

// newLeakCheck starts with RabbitMQ's id markers.
func newLeakCheck() *leakCheck {
	return &leakCheck{marks: []string{"@@", "session-"}}
}

// check fails if a header of f (or an ERROR's body) shows anything lc
// knows, or if f carries receipt or transaction headers the relay used
// upstream.
func (lc *leakCheck) check(t testing.TB, f *stomp.Frame) {
	t.Helper()
	values := make([]string, 0, len(f.Headers)+1)
	for _, kv := range f.Headers {
		if f.Command == stomp.MESSAGE && (kv.Key == "receipt" || kv.Key == "transaction") {
			t.Fatalf("MESSAGE carries a %s header %q: %v", kv.Key, kv.Value, f.Headers)
		}
		values = append(values, kv.Value)
	}
	if f.Command == stomp.ERROR {
		values = append(values, string(f.Body))
	}
	for _, v := range values {
		for _, m := range lc.marks {
			if strings.Contains(v, m) {
				t.Fatalf("%s shows %q in %q: %v", f.Command, m, v, f.Headers)
			}
		}
		for _, x := range lc.exact {
			if v == x {
				t.Fatalf("%s shows %q: %v", f.Command, x, f.Headers)
			}
		}
	}
}

// checkMessage checks a MESSAGE: no leak, a relay id as message-id
// (and as ack when clientAck, no ack otherwise), the destination the
// client subscribed to.
func (lc *leakCheck) checkMessage(t testing.TB, f *stomp.Frame, dest string, clientAck bool) {
	t.Helper()
	lc.check(t, f)
	id := f.Header("message-id")
	if len(id) != relayIDLen {
		t.Fatalf("message-id %q is not a relay id: %v", id, f.Headers)
	}
	if ack, ok := f.Headers.Get("ack"); clientAck && ack != id || !clientAck && ok {
		t.Fatalf("ack %q (present %v), message-id %q, client ack %v", ack, ok, id, clientAck)
	}
	if v, ok := f.Headers.Get("id"); ok {
		t.Fatalf("MESSAGE carries an id header %q: %v", v, f.Headers)
	}
	if f.Header("destination") != dest {
		t.Fatalf("destination %q, want %q: %v", f.Header("destination"), dest, f.Headers)
	}
}

// replicaConnections waits until the node shows want STOMP connections
// that were not in before, and returns the names of every new
// connection (STOMP and AMQP): the replica's.
func replicaConnections(t testing.TB, n *rabbittest.Node, before map[string]bool, want int) []string {
	t.Helper()
	var names []string
	err := rabbittest.WaitFor(20*time.Second, func() (bool, error) {
		conns, err := n.Connections()
		if err != nil {
			return false, err
		}
		names = names[:0]
		stompConns := 0
		for _, c := range conns {
			if before[c.Name] {
				continue
			}
			names = append(names, c.Name)
			if strings.HasPrefix(c.Protocol, "STOMP") {
				stompConns++
			}
		}
		return stompConns == want, nil
	})
	if err != nil {
		t.Fatalf("the replica's %d STOMP connections never showed up (new: %v): %v", want, names, err)
	}
	return names
}

// connectionNames returns the names of the node's connections.
func connectionNames(t testing.TB, n *rabbittest.Node) map[string]bool {
	t.Helper()
	conns, err := n.Connections()
	if err != nil {
		t.Fatal(err)
	}
	names := make(map[string]bool, len(conns))
	for _, c := range conns {
		names[c.Name] = true
	}
	return names
}

// consumerTags returns the consumer tags on queue (RabbitMQ's STOMP
// plugin names them T_<upstream subscription id>).
func consumerTags(t testing.TB, n *rabbittest.Node, queue string, want int) []string {
	t.Helper()
	var tags []string
	err := rabbittest.WaitFor(20*time.Second, func() (bool, error) {
		cs, err := n.Consumers()
		if err != nil {
			return false, err
		}
		tags = tags[:0]
		for _, c := range cs {
			if c.Queue.Name == queue {
				tags = append(tags, c.ConsumerTag)
			}
		}
		return len(tags) == want, nil
	})
	if err != nil {
		t.Fatalf("queue %s: consumers %v, want %d: %v", queue, tags, want, err)
	}
	return tags
}

// waitQueue waits until queue has ready and unacked messages.
func waitQueue(t testing.TB, n *rabbittest.Node, queue string, ready, unacked int) {
	t.Helper()
	var q rabbittest.Queue
	err := rabbittest.WaitFor(20*time.Second, func() (bool, error) {
		if err := n.MgmtGet("/api/queues/%2F/"+url.PathEscape(queue), &q); err != nil {
			return false, err
		}
		return q.MessagesReady == ready && q.MessagesUnacknowledged == unacked, nil
	})
	if err != nil {
		t.Fatalf("queue %s: %d ready, %d unacked; want %d and %d: %v", queue, q.MessagesReady, q.MessagesUnacknowledged, ready, unacked, err)
	}
}

// sendJob sends body to dest with a receipt and waits for it.
func sendJob(t testing.TB, c *stomptest.Client, dest, body string) {
	t.Helper()
	f := stomp.New(stomp.SEND, "destination", dest, "receipt", "sent-"+body, "content-type", "text/plain")
	f.Body = []byte(body)
	if err := c.Send(f); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Expect(stomp.RECEIPT, 10*time.Second); err != nil || r.Header("receipt-id") != "sent-"+body {
		t.Fatalf("SEND %s: %v %v", body, r, err)
	}
}

// expectBody reads the next frame: a MESSAGE with body.
func expectBody(t testing.TB, c *stomptest.Client, body string) *stomp.Frame {
	t.Helper()
	m, err := c.Expect(stomp.MESSAGE, 10*time.Second)
	if err != nil || string(m.Body) != body {
		t.Fatalf("want MESSAGE %q: %v %v", body, m, err)
	}
	return m
}

// settle sends ACK or NACK with kv and a receipt, and waits for it.
func settle(t testing.TB, c *stomptest.Client, command, receipt string, kv ...string) {
	t.Helper()
	if err := c.Send(stomp.New(command, append(kv, "receipt", receipt)...)); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Expect(stomp.RECEIPT, 10*time.Second); err != nil || r.Header("receipt-id") != receipt {
		t.Fatalf("%s %v: %v %v", command, kv, r, err)
	}
}

// TestMessageIDsOpaque: with an operator-configured client-ack queue
// (policy.client_subscribe and client_send name it exactly), no frame a
// client gets shows RabbitMQ's ids, the relay's upstream subscription ids
// or counters, or the replica's broker connections. The ids shown ACK
// (STOMP 1.2 by id, 1.1 by message-id, whatever subscription it names,
// as RabbitMQ) and NACK (redelivered under a new
// id) the broker's deliveries: the queue ends with nothing unacked. A
// forged id (another session's, a made-up one, RabbitMQ's own format, one
// already acknowledged) gets ERROR "invalid ACK" and closes only the
// session that sent it: nothing reaches the broker, the delivery it named
// stays unacked with its owner, the replica's broker connections are the
// same ones, and the other clients keep working.
func TestMessageIDsOpaque(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		rabbitMode := cfg.Broker.Mode == config.BrokerRabbitMQ
		name := "jobs-" + unique(t)
		queue := "/queue/" + name
		news := "/topic/news-" + unique(t)
		cfg.Policy.ClientSubscribe = []string{"/topic/**", "/user/queue/**", "/app/**", queue}
		cfg.Policy.ClientSend = []string{"/app/**", queue, news}
		cfg.HTTP.APIKey = "k"
		lc := newLeakCheck()
		var before map[string]bool
		if rabbitMode {
			before = connectionNames(t, rabbit)
		}
		r := start(t, cfg)
		var conns []string
		if rabbitMode {
			conns = replicaConnections(t, rabbit, before, cfg.Broker.Connections)
			lc.marks = append(lc.marks, conns...)
		}

		producer := connect(t, r, "producer")
		listener := connect(t, r, "listener")
		if err := listener.Subscribe("news", news); err != nil {
			t.Fatal(err)
		}
		if err := listener.Subscribe("dm", "/user/queue/messages"); err != nil {
			t.Fatal(err)
		}
		w12 := dial(t, r)
		connected, err := w12.Connect("accept-version", "1.2", "login", "w12")
		if err != nil {
			t.Fatal(err)
		}
		lc.check(t, connected)
		if s := connected.Header("session"); s == "" || connected.Header("server") != Version {
			t.Fatalf("CONNECTED %v", connected.Headers)
		}
		if err := w12.Subscribe("w", queue, "ack", "client-individual"); err != nil {
			t.Fatal(err)
		}
		if rabbitMode {
			for _, tag := range consumerTags(t, rabbit, name, 1) {
				lc.exact = append(lc.exact, tag, strings.TrimPrefix(tag, "T_"))
			}
		}

		// STOMP 1.2: ACK by the ack header
		sendJob(t, producer, queue, "j1")
		m := expectBody(t, w12, "j1")
		lc.checkMessage(t, m, queue, true)
		settle(t, w12, stomp.ACK, "ack-j1", "id", m.Header("ack"))
		if rabbitMode {
			waitQueue(t, rabbit, name, 0, 0)
		}
		// NACK: redelivered under a new id, which acks it
		sendJob(t, producer, queue, "j2")
		m = expectBody(t, w12, "j2")
		lc.checkMessage(t, m, queue, true)
		settle(t, w12, stomp.NACK, "nack-j2", "id", m.Header("ack"))
		again := expectBody(t, w12, "j2")
		lc.checkMessage(t, again, queue, true)
		if again.Header("redelivered") != "true" || again.Header("ack") == m.Header("ack") {
			t.Fatalf("after NACK: %v (first delivery %v)", again.Headers, m.Headers)
		}
		settle(t, w12, stomp.ACK, "ack-j2", "id", again.Header("ack"))
		if rabbitMode {
			waitQueue(t, rabbit, name, 0, 0)
		}

		// STOMP 1.1: ACK by message-id and subscription
		w11 := dial(t, r)
		if _, err := w11.Connect("accept-version", "1.1", "login", "w11"); err != nil {
			t.Fatal(err)
		}
		w11.SetVersion(stomp.V11)
		if err := w11.Subscribe("w", queue, "ack", "client"); err != nil {
			t.Fatal(err)
		}
		if err := w12.Send(stomp.New(stomp.UNSUBSCRIBE, "id", "w", "receipt", "unsub")); err != nil {
			t.Fatal(err)
		}
		if _, err := w12.Expect(stomp.RECEIPT, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if rabbitMode {
			for _, tag := range consumerTags(t, rabbit, name, 1) {
				lc.exact = append(lc.exact, tag, strings.TrimPrefix(tag, "T_"))
			}
		}
		sendJob(t, producer, queue, "j3")
		j3 := expectBody(t, w11, "j3")
		lc.checkMessage(t, j3, queue, true)
		settle(t, w11, stomp.ACK, "ack-j3", "message-id", j3.Header("message-id"), "subscription", "w")
		if rabbitMode {
			waitQueue(t, rabbit, name, 0, 0)
		}
		// a 1.1 ACK naming another subscription id is resolved by its
		// message-id alone, as RabbitMQ does
		sendJob(t, producer, queue, "j3b")
		j3b := expectBody(t, w11, "j3b")
		settle(t, w11, stomp.ACK, "ack-j3b", "message-id", j3b.Header("message-id"), "subscription", "not-w")
		if rabbitMode {
			waitQueue(t, rabbit, name, 0, 0)
		}

		// forgeries, while w11 holds j4 unacknowledged
		sendJob(t, producer, queue, "j4")
		j4 := expectBody(t, w11, "j4")
		lc.checkMessage(t, j4, queue, true)
		if rabbitMode {
			waitQueue(t, rabbit, name, 0, 1)
		}
		forged := []struct {
			name string
			kv   []string
		}{
			{"another session's id", []string{"id", j4.Header("ack")}},
			{"a made-up id", []string{"id", strings.Repeat("A", relayIDLen)}},
			{"RabbitMQ's format", []string{"id", "T_s1@@session-ir55DtWi_26yhg3l-F78Tw@@1"}},
		}
		for i, x := range forged {
			for _, command := range []string{stomp.ACK, stomp.NACK} {
				mallory := connect(t, r, fmt.Sprintf("mallory%d%s", i, command), "accept-version", "1.2")
				if err := mallory.Subscribe("m", queue, "ack", "client-individual"); err != nil {
					t.Fatal(err)
				}
				if err := mallory.Send(stomp.New(command, append(x.kv, "receipt", "forged")...)); err != nil {
					t.Fatal(err)
				}
				f, err := mallory.Read(10 * time.Second)
				if err != nil || f.Command != stomp.ERROR || f.Header("message") != "invalid "+command || f.Header("receipt-id") != "forged" {
					t.Fatalf("%s with %s: got %v %v, want ERROR invalid %s", command, x.name, f, err, command)
				}
				lc.check(t, f)
				if _, err := mallory.WaitClosed(5 * time.Second); err != nil {
					t.Fatalf("%s with %s: %v", command, x.name, err)
				}
			}
		}
		if rabbitMode {
			waitQueue(t, rabbit, name, 0, 1) // j4 is still w11's
		}
		settle(t, w11, stomp.ACK, "ack-j4", "message-id", j4.Header("message-id"), "subscription", "w")
		if rabbitMode {
			waitQueue(t, rabbit, name, 0, 0)
		}
		// an id already acknowledged
		if err := w11.Send(stomp.New(stomp.ACK, "message-id", j3.Header("message-id"), "subscription", "w")); err != nil {
			t.Fatal(err)
		}
		expectError(t, w11, "invalid ACK")

		// the replica kept its broker connections, and everyone else works
		if n := r.srv.Relay().Reconnects(); n != 0 {
			t.Fatalf("the relay reconnected %d times", n)
		}
		if rabbitMode {
			now := connectionNames(t, rabbit)
			for _, c := range conns {
				if !now[c] {
					t.Fatalf("the replica's broker connection %s is gone", c)
				}
			}
		}
		sendJob(t, producer, news, "still-here")
		lc.checkMessage(t, expectBody(t, listener, "still-here"), news, false)
		if code := push(t, r, "/api/users/listener/messages", "k", `{"message":"dm"}`); code != http.StatusAccepted {
			t.Fatalf("push to a user: %d", code)
		}
		dm, err := listener.Expect(stomp.MESSAGE, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		lc.checkMessage(t, dm, "/user/queue/messages", false)
		if strings.Contains(dm.Header("destination"), "user.") {
			t.Fatalf("user MESSAGE shows the upstream topic: %v", dm.Headers)
		}
		w2 := connect(t, r, "w2", "accept-version", "1.2")
		if err := w2.Subscribe("w", queue, "ack", "client-individual"); err != nil {
			t.Fatal(err)
		}
		sendJob(t, producer, queue, "j5")
		m = expectBody(t, w2, "j5")
		lc.checkMessage(t, m, queue, true)
		settle(t, w2, stomp.ACK, "ack-j5", "id", m.Header("ack"))
		if rabbitMode {
			waitQueue(t, rabbit, name, 0, 0)
		}
	})
}
