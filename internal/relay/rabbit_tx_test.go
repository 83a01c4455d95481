package relay

import (
	"errors"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
)

// A transaction's SENDs of kinds the broker has not accepted lately are
// made on a probe at COMMIT (txsend.go). These tests check what the
// client and everyone else see: the receipts in RabbitMQ's order, the
// acks committed or undone, nothing published twice, the shared
// connection never touched.

// txScene is where the transaction tests play: a relay on one shared
// connection (the refusal tests' restricted broker user), a subscriber
// to topic, and the client vc, subscribed to queue with client-individual
// acks, holding its one message m unacknowledged.
type txScene struct {
	r     *Relay
	topic string
	sub   *recSink
	vs    *recSink
	vc    *Client
	queue string
	m     *stomp.Frame
}

func newTxScene(t *testing.T) *txScene {
	t.Helper()
	n := rabbittest.Require(t, node)
	vhost, user := permVHost(t, n)
	x := &txScene{topic: "/topic/ok-" + unique(), sub: newSink("subscriber"), vs: newSink("client")}
	x.r, _ = startRabbit(t, n, func(c *Config) {
		c.VHost, c.Login, c.Passcode = vhost, user, user
		c.Connections = 1
	})
	sc := x.r.Attach(x.sub)
	if err := sc.Subscribe("s", x.topic, stomp.Headers{{Key: "receipt", Value: "rs"}}); err != nil {
		t.Fatal(err)
	}
	x.sub.receipt(t, "rs")
	x.vc = x.r.Attach(x.vs)
	x.queue, x.m = txQueue(t, x.r, x.vc, x.vs, "q")
	return x
}

// txQueue subscribes c (client-individual acks) to a fresh queue holding
// one message, published by r, and returns that message.
func txQueue(t *testing.T, r *Relay, c *Client, s *recSink, id string) (dest string, m *stomp.Frame) {
	t.Helper()
	dest = "/queue/ok-tx-" + unique()
	if err := c.Subscribe(id, dest, stomp.Headers{{Key: "ack", Value: "client-individual"}, {Key: "receipt", Value: "r" + id}}); err != nil {
		t.Fatal(err)
	}
	s.receipt(t, "r"+id)
	if err := r.Publish(dest, nil, []byte("queued"), nil); err != nil {
		t.Fatal(err)
	}
	return dest, s.message(t, 10*time.Second, "queued")
}

// firstMessage subscribes a fresh client of r to queue dest and returns
// the first message it gets.
func firstMessage(t *testing.T, r *Relay, dest string) *stomp.Frame {
	t.Helper()
	s := newSink("next consumer")
	c := r.Attach(s)
	t.Cleanup(c.Close)
	if err := c.Subscribe("n", dest, stomp.Headers{{Key: "ack", Value: "client-individual"}}); err != nil {
		t.Fatal(err)
	}
	return s.waitFor(t, 10*time.Second, "a MESSAGE", func(f *stomp.Frame) bool { return f.Command == stomp.MESSAGE })
}

// TestRabbitTxCommitOnProbe: a transaction with an ACK and two SENDs of a
// new kind commits through a probe: the subscriber gets both messages
// once, in order; the client gets the COMMIT's RECEIPT and then the
// SEND's (RabbitMQ's order); the ACK is committed. The same kind again
// needs no probe.
func TestRabbitTxCommitOnProbe(t *testing.T) {
	x := newTxScene(t)
	r, topic, sub, vs, vc, queue, m := x.r, x.topic, x.sub, x.vs, x.vc, x.queue, x.m

	probes := r.Probes()
	if err := vc.Begin("tx", ""); err != nil {
		t.Fatal(err)
	}
	if err := vc.Ack(stomp.Headers{{Key: "id", Value: m.Header("ack")}, {Key: "transaction", Value: "tx"}}); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"a", "b"} {
		if err := vc.Send(topic, stomp.Headers{{Key: "transaction", Value: "tx"}, {Key: "receipt", Value: "s" + body}}, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := vc.Commit("tx", "c"); err != nil {
		t.Fatalf("COMMIT: %v", err)
	}
	var got []string
	for len(got) < 3 {
		f := vs.next(t, 10*time.Second)
		if f.Command != stomp.RECEIPT {
			t.Fatalf("client got %s %v %q, want RECEIPTs", f.Command, f.Headers, f.Body)
		}
		got = append(got, f.Header("receipt-id"))
	}
	if got[0] != "c" || got[1] != "sa" || got[2] != "sb" {
		t.Errorf("receipts %v, want [c sa sb]", got)
	}
	sub.message(t, 10*time.Second, "a")
	sub.message(t, 10*time.Second, "b")
	if p := r.Probes() - probes; p != 1 {
		t.Errorf("%d probes for the transaction, want 1", p)
	}

	// the ACK was committed: the next consumer gets the next message
	vc.Close()
	if err := r.Publish(queue, nil, []byte("after"), nil); err != nil {
		t.Fatal(err)
	}
	if f := firstMessage(t, r, queue); string(f.Body) != "after" {
		t.Errorf("next consumer got %q first, want %q (the ACK in the transaction lost)", f.Body, "after")
	}

	// the kind is verified now: no probe, straight to the broker
	wc := r.Attach(vs)
	defer wc.Close()
	probes = r.Probes()
	if err := wc.Begin("tx2", ""); err != nil {
		t.Fatal(err)
	}
	if err := wc.Send(topic, stomp.Headers{{Key: "transaction", Value: "tx2"}}, []byte("c")); err != nil {
		t.Fatal(err)
	}
	if err := wc.Commit("tx2", "c2"); err != nil {
		t.Fatal(err)
	}
	vs.receipt(t, "c2")
	sub.message(t, 10*time.Second, "c")
	if p := r.Probes() - probes; p != 0 {
		t.Errorf("%d probes for a verified kind, want 0", p)
	}
	sub.quiet(t, 300*time.Millisecond) // nothing published twice
	if got := r.Reconnects(); got != 0 {
		t.Errorf("%d reconnects, want none", got)
	}
	sub.noErrors(t)
}

// TestRabbitTxRefusalUndoesAcks: the broker refuses a transaction's SEND
// at COMMIT. The client is told why (a *RefusedError), the transaction's
// ACK is undone, so its message comes back to the next consumer marked
// redelivered, the SEND before the refused one is published (as RabbitMQ
// does), and the shared connection stays up.
func TestRabbitTxRefusalUndoesAcks(t *testing.T) {
	x := newTxScene(t)
	r, topic, sub, vs, vc, queue, m := x.r, x.topic, x.sub, x.vs, x.vc, x.queue, x.m

	if err := vc.Begin("tx", ""); err != nil {
		t.Fatal(err)
	}
	if err := vc.Ack(stomp.Headers{{Key: "id", Value: m.Header("ack")}, {Key: "transaction", Value: "tx"}}); err != nil {
		t.Fatal(err)
	}
	if err := vc.Send(topic, stomp.Headers{{Key: "transaction", Value: "tx"}}, []byte("before")); err != nil {
		t.Fatal(err)
	}
	if err := vc.Send("/topic/secret-"+unique(), stomp.Headers{{Key: "transaction", Value: "tx"}}, []byte("refused")); err != nil {
		t.Fatal(err)
	}
	err := vc.Commit("tx", "c")
	var refused *RefusedError
	if !errors.As(err, &refused) || refused.Reason != "access_refused" {
		t.Fatalf("COMMIT: %v, want access_refused", err)
	}
	sub.message(t, 10*time.Second, "before")
	vc.Close() // as the session does after the refusal

	f := firstMessage(t, r, queue)
	if string(f.Body) != "queued" || f.Header("redelivered") != "true" {
		t.Errorf("next consumer got %q redelivered=%q, want the message acked in the refused transaction, redelivered", f.Body, f.Header("redelivered"))
	}
	if got := r.Reconnects(); got != 0 {
		t.Errorf("the refusal cost the shared connection: %d reconnects", got)
	}
	vs.noErrors(t)
	sub.noErrors(t)
}
