package relay

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"chatrelay/internal/broker/embedded"
	"chatrelay/internal/stomp"
)

// startEmbedded runs an embedded broker and a ready relay in front of it.
func startEmbedded(t *testing.T, tweak func(*Config)) (*Relay, *switchDialer) {
	t.Helper()
	log := testLogger(t)
	b, err := embedded.Start(log)
	if err != nil {
		t.Fatal(err)
	}
	sd := &switchDialer{dial: b.Dial}
	cfg := Config{
		Addresses:    []string{embedded.Address},
		Dial:         sd.Dial,
		ReconnectMin: 10 * time.Millisecond,
		ReconnectMax: 200 * time.Millisecond,
		Logger:       log,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	r := New(cfg)
	r.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		b.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	return r, sd
}

// upstreamSubs counts the relay's upstream subscriptions to dest.
func upstreamSubs(r *Relay, dest string) (subs, members int) {
	for _, c := range r.conns {
		c.mu.Lock()
		for _, s := range c.subs {
			if s.dest == dest {
				subs++
				members += len(s.members)
			}
		}
		c.mu.Unlock()
	}
	return subs, members
}

func TestEmbeddedSharedTopicFanOutAndRefcount(t *testing.T) {
	r, _ := startEmbedded(t, nil)
	const dest = "/topic/fanout"
	var sinks [3]*recSink
	var clients [3]*Client
	for i := range clients {
		sinks[i] = newSink(fmt.Sprintf("client%d", i))
		clients[i] = r.Attach(sinks[i])
		receipt := fmt.Sprintf("sub-receipt-%d", i)
		if err := clients[i].Subscribe(fmt.Sprintf("sub-%d", i), dest, stomp.Headers{{Key: "ack", Value: "auto"}, {Key: "receipt", Value: receipt}}); err != nil {
			t.Fatal(err)
		}
		sinks[i].receipt(t, receipt)
	}
	if subs, members := upstreamSubs(r, dest); subs != 1 || members != 3 {
		t.Fatalf("upstream subscriptions for %s: %d with %d members, want 1 with 3", dest, subs, members)
	}

	onAccepted, acc := accepted()
	if err := r.Publish(dest, stomp.Headers{{Key: "content-type", Value: "text/plain"}}, []byte("hello"), onAccepted); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, acc, 10*time.Second); err != nil {
		t.Fatalf("onAccepted: %v", err)
	}
	for i, s := range sinks {
		m := s.message(t, 10*time.Second, "hello")
		if got, want := m.Header("subscription"), fmt.Sprintf("sub-%d", i); got != want {
			t.Errorf("client %d: subscription %q, want %q", i, got, want)
		}
		if m.Header("content-type") != "text/plain" {
			t.Errorf("client %d: headers %v", i, m.Headers)
		}
	}

	// A client SEND with a receipt reaches every subscriber, sender included.
	if err := clients[0].Send(dest, stomp.Headers{{Key: "receipt", Value: "send-1"}}, []byte("from-0")); err != nil {
		t.Fatal(err)
	}
	sinks[0].collect(t, 10*time.Second, "receipt and message", isReceipt("send-1"), isMessage("from-0"))
	sinks[1].message(t, 10*time.Second, "from-0")
	sinks[2].message(t, 10*time.Second, "from-0")

	// Refcount: one unsubscribe keeps the upstream subscription.
	if err := clients[0].Unsubscribe("sub-0", "unsub-0"); err != nil {
		t.Fatal(err)
	}
	sinks[0].receipt(t, "unsub-0")
	if subs, members := upstreamSubs(r, dest); subs != 1 || members != 2 {
		t.Fatalf("after one unsubscribe: %d subscriptions with %d members, want 1 with 2", subs, members)
	}
	if err := r.Publish(dest, nil, []byte("after-unsub"), nil); err != nil {
		t.Fatal(err)
	}
	sinks[1].message(t, 10*time.Second, "after-unsub")
	sinks[2].message(t, 10*time.Second, "after-unsub")
	// one fan-out delivers to every member in one pass, so client0 would
	// have its copy by now
	sinks[0].quiet(t, 100*time.Millisecond)

	// Zero subscribers: the upstream subscription goes.
	clients[1].Close()
	clients[2].Close()
	if subs, _ := upstreamSubs(r, dest); subs != 0 {
		t.Fatalf("after all clients closed: %d upstream subscriptions remain", subs)
	}
	if err := clients[1].Subscribe("again", dest, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close: %v, want ErrClosed", err)
	}
	// Subscribing again makes a new upstream subscription that works.
	s3 := newSink("client3")
	c3 := r.Attach(s3)
	if err := c3.Subscribe("x", dest, stomp.Headers{{Key: "receipt", Value: "r3"}}); err != nil {
		t.Fatal(err)
	}
	s3.receipt(t, "r3")
	if err := r.Publish(dest, nil, []byte("third"), nil); err != nil {
		t.Fatal(err)
	}
	s3.message(t, 10*time.Second, "third")
	for _, s := range append(sinks[:], s3) {
		s.noErrors(t)
	}
}

func TestEmbeddedQueueAcks(t *testing.T) {
	r, _ := startEmbedded(t, nil)
	const dest = "/queue/jobs"
	sa, sb := newSink("a"), newSink("b")
	a, b := r.Attach(sa), r.Attach(sb)
	for _, x := range []struct {
		c *Client
		s *recSink
	}{{a, sa}, {b, sb}} {
		if err := x.c.Subscribe("q", dest, stomp.Headers{{Key: "ack", Value: "client-individual"}, {Key: "receipt", Value: "sub"}}); err != nil {
			t.Fatal(err)
		}
		x.s.receipt(t, "sub")
	}
	if subs, _ := upstreamSubs(r, dest); subs != 2 {
		t.Fatalf("%d upstream subscriptions for a queue with two clients, want 2 (1:1)", subs)
	}
	for _, body := range []string{"j1", "j2"} {
		if err := r.Publish(dest, nil, []byte(body), nil); err != nil {
			t.Fatal(err)
		}
	}
	// go-stomp gives a client-ack subscriber one message at a time, so
	// each client holds exactly one.
	ma := sa.next(t, 10*time.Second)
	mb := sb.next(t, 10*time.Second)
	if ma.Command != stomp.MESSAGE || mb.Command != stomp.MESSAGE || string(ma.Body) == string(mb.Body) {
		t.Fatalf("got %v %q and %v %q", ma.Command, ma.Body, mb.Command, mb.Body)
	}
	if ma.Header("subscription") != "q" || ma.Header("ack") == "" {
		t.Fatalf("MESSAGE headers %v", ma.Headers)
	}
	for _, m := range []*stomp.Frame{ma, mb} {
		checkRelayIDs(t, m, true)
		if v, ok := m.Headers.Get("id"); ok {
			t.Fatalf("go-stomp's id header %q reached the client", v)
		}
	}

	// Unknown and foreign ids never reach the broker.
	if err := a.Ack(stomp.Headers{{Key: "id", Value: "no-such-id"}}); !errors.Is(err, ErrUnknownAck) {
		t.Fatalf("ACK unknown id: %v", err)
	}
	if err := a.Ack(stomp.Headers{{Key: "id", Value: mb.Header("ack")}}); !errors.Is(err, ErrUnknownAck) {
		t.Fatalf("ACK of another client's message: %v", err)
	}

	// NACK gives the message back to the queue (the embedded broker's
	// acks are the relay's: the message is published again, marked
	// redelivered, and goes to either subscriber).
	if err := a.Nack(stomp.Headers{{Key: "id", Value: ma.Header("ack")}, {Key: "receipt", Value: "nack"}}); err != nil {
		t.Fatal(err)
	}
	sa.receipt(t, "nack")
	if err := a.Ack(stomp.Headers{{Key: "id", Value: ma.Header("ack")}}); !errors.Is(err, ErrUnknownAck) {
		t.Fatalf("ACK of a NACKed id: %v", err)
	}
	owner, again := a, (*stomp.Frame)(nil)
	select {
	case again = <-sa.ch:
	case again = <-sb.ch:
		owner = b
	case <-time.After(10 * time.Second):
		t.Fatal("NACKed message not redelivered")
	}
	if string(again.Body) != string(ma.Body) || again.Header("redelivered") != "true" {
		t.Fatalf("redelivery: %v %v %q", again.Command, again.Headers, again.Body)
	}

	// STOMP 1.1 style: message-id + subscription.
	if err := b.Ack(stomp.Headers{{Key: "message-id", Value: mb.Header("message-id")}, {Key: "subscription", Value: "q"}, {Key: "receipt", Value: "ack11"}}); err != nil {
		t.Fatal(err)
	}
	sb.receipt(t, "ack11")
	if err := owner.Ack(stomp.Headers{{Key: "id", Value: again.Header("ack")}}); err != nil {
		t.Fatal(err)
	}
	if err := owner.Ack(stomp.Headers{{Key: "id", Value: again.Header("ack")}}); !errors.Is(err, ErrUnknownAck) {
		t.Fatalf("second ACK of the same id: %v", err)
	}
	if !r.Ready() {
		t.Fatal("relay not ready after refused ACKs")
	}
	// Both are free again and the queue still works.
	if err := r.Publish(dest, nil, []byte("j3"), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-sa.ch:
		if string(f.Body) != "j3" {
			t.Fatalf("a got %v %q", f.Command, f.Body)
		}
	case f := <-sb.ch:
		if string(f.Body) != "j3" {
			t.Fatalf("b got %v %q", f.Command, f.Body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("j3 not delivered")
	}
	sa.noErrors(t)
	sb.noErrors(t)
}

func TestEmbeddedTransactions(t *testing.T) {
	r, _ := startEmbedded(t, nil)
	const dest = "/topic/tx"
	ss, sp := newSink("sub"), newSink("pub")
	sub, pub := r.Attach(ss), r.Attach(sp)
	if err := sub.Subscribe("t", dest, stomp.Headers{{Key: "receipt", Value: "s"}}); err != nil {
		t.Fatal(err)
	}
	ss.receipt(t, "s")

	if err := pub.Commit("nope", ""); !errors.Is(err, ErrUnknownTx) {
		t.Fatalf("COMMIT unknown: %v", err)
	}
	if err := pub.Send(dest, stomp.Headers{{Key: "transaction", Value: "nope"}}, []byte("x")); !errors.Is(err, ErrUnknownTx) {
		t.Fatalf("SEND in unknown tx: %v", err)
	}
	if err := pub.Begin("tx1", "b1"); err != nil {
		t.Fatal(err)
	}
	if err := pub.Begin("tx1", ""); !errors.Is(err, ErrTxExists) {
		t.Fatalf("BEGIN twice: %v", err)
	}
	sp.receipt(t, "b1")
	if err := pub.Send(dest, stomp.Headers{{Key: "transaction", Value: "tx1"}}, []byte("committed")); err != nil {
		t.Fatal(err)
	}
	if err := pub.Commit("tx1", "c1"); err != nil {
		t.Fatal(err)
	}
	sp.receipt(t, "c1")
	ss.message(t, 10*time.Second, "committed")

	if err := pub.Begin("tx2", ""); err != nil {
		t.Fatal(err)
	}
	if err := pub.Send(dest, stomp.Headers{{Key: "transaction", Value: "tx2"}}, []byte("aborted")); err != nil {
		t.Fatal(err)
	}
	if err := pub.Abort("tx2", "a2"); err != nil {
		t.Fatal(err)
	}
	sp.receipt(t, "a2")
	// Frames of one connection are processed in order: had the aborted
	// SEND been published, it would arrive before this marker.
	if err := pub.Send(dest, nil, []byte("marker")); err != nil {
		t.Fatal(err)
	}
	if f := ss.next(t, 10*time.Second); string(f.Body) != "marker" {
		t.Fatalf("after ABORT got %v %q, want the marker", f.Command, f.Body)
	}
	if err := pub.Commit("tx2", ""); !errors.Is(err, ErrUnknownTx) {
		t.Fatalf("COMMIT after ABORT: %v", err)
	}
	ss.noErrors(t)
	sp.noErrors(t)
}

func TestEmbeddedOutage(t *testing.T) {
	const outboxFrames = 8
	r, sd := startEmbedded(t, func(c *Config) { c.OutboxFrames = outboxFrames })
	const dest = "/topic/outage"
	const qdest = "/queue/outage"
	ss, sp := newSink("sub"), newSink("pub")
	sub, pub := r.Attach(ss), r.Attach(sp)
	if err := sub.Subscribe("t", dest, stomp.Headers{{Key: "receipt", Value: "s"}}); err != nil {
		t.Fatal(err)
	}
	if err := sub.Subscribe("q", qdest, stomp.Headers{{Key: "ack", Value: "client"}, {Key: "receipt", Value: "q"}}); err != nil {
		t.Fatal(err)
	}
	ss.collect(t, 10*time.Second, "subscribe receipts", isReceipt("s"), isReceipt("q"))
	if err := r.Publish(qdest, nil, []byte("held"), nil); err != nil {
		t.Fatal(err)
	}
	held := ss.message(t, 10*time.Second, "held")
	if err := pub.Begin("open", "b"); err != nil {
		t.Fatal(err)
	}
	sp.receipt(t, "b")

	sd.setDown(true)
	waitCond(t, 10*time.Second, "relay not ready", func() bool { return !r.Ready() })

	if err := pub.Send(dest, stomp.Headers{{Key: "receipt", Value: "during"}}, []byte("sent-during-outage")); err != nil {
		t.Fatal(err)
	}
	onAccepted, acc := accepted()
	if err := r.Publish(dest, nil, []byte("published-during-outage"), onAccepted); err != nil {
		t.Fatal(err)
	}
	// A stale ack id is ignored, not forwarded.
	if err := sub.Ack(stomp.Headers{{Key: "id", Value: held.Header("ack")}}); err != nil {
		t.Fatalf("ACK of a pre-outage id: %v", err)
	}
	// The outbox is bounded.
	full := false
	for i := 0; i < outboxFrames+2 && !full; i++ {
		cb, ch := accepted()
		err := r.Publish("/topic/fill", nil, []byte("fill"), cb)
		if errors.Is(err, ErrOutboxFull) {
			full = true
			if got := waitErr(t, ch, time.Second); !errors.Is(got, ErrOutboxFull) {
				t.Fatalf("onAccepted got %v, want ErrOutboxFull", got)
			}
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if !full {
		t.Fatalf("outbox of %d frames never full", outboxFrames)
	}
	if r.Ready() {
		t.Fatal("Ready during the outage")
	}

	sd.setDown(false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	sp.collect(t, 10*time.Second, "outage SEND receipt", isReceipt("during"))
	if err := waitErr(t, acc, 10*time.Second); err != nil {
		t.Fatalf("onAccepted after the outage: %v", err)
	}
	// The queue message was never acked: the broker gives it again.
	ss.collect(t, 10*time.Second, "messages after the outage",
		isMessage("sent-during-outage"), isMessage("published-during-outage"), isMessage("held"))
	if err := pub.Commit("open", ""); !errors.Is(err, ErrTxLost) {
		t.Fatalf("COMMIT of a transaction begun before the outage: %v", err)
	}
	ss.noErrors(t)
	sp.noErrors(t)
}

func TestEmbeddedClose(t *testing.T) {
	r, _ := startEmbedded(t, nil)
	s := newSink("c")
	c := r.Attach(s)
	if err := c.Subscribe("1", "/topic/close", stomp.Headers{{Key: "receipt", Value: "r"}}); err != nil {
		t.Fatal(err)
	}
	s.receipt(t, "r")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if r.Ready() {
		t.Fatal("Ready after Close")
	}
	if err := r.Publish("/topic/close", nil, []byte("x"), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
	if err := c.Send("/topic/close", nil, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	if err := r.Attach(s).Subscribe("2", "/topic/close", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	c.Close()
	s.noErrors(t)
}
