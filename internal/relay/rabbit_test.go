package relay

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
)

// mgmtWait is how long management API figures may take to catch up.
const mgmtWait = 20 * time.Second

// (a) 200 clients on one topic: one upstream subscription, few connections.
func TestRabbitSharedTopic200Clients(t *testing.T) {
	n := rabbittest.Require(t, node)
	before, err := n.Connections()
	if err != nil {
		t.Fatal(err)
	}
	const conns = 2
	r, pd := startRabbit(t, n, func(c *Config) { c.Connections = conns })
	key := "t-" + unique()
	dest := "/topic/" + key

	const clients = 200
	sinks := make([]*recSink, clients)
	cls := make([]*Client, clients)
	for i := range cls {
		sinks[i] = newSink(fmt.Sprintf("client%d", i))
		cls[i] = r.Attach(sinks[i])
		if err := cls[i].Subscribe("sub", dest, stomp.Headers{{Key: "receipt", Value: "r"}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range sinks {
		s.receipt(t, "r")
	}

	var queues map[string]bool
	err = rabbittest.WaitFor(mgmtWait, func() (bool, error) {
		qs, err := topicQueues(n, key)
		if err != nil || len(qs) == 0 {
			return false, err
		}
		k, err := consumersOn(n, qs)
		queues = qs
		return k > 0, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := consumersOn(n, queues); err != nil || len(queues) != 1 || k != 1 {
		t.Fatalf("topic %s: %d queues, %d consumers (err %v); want exactly 1 and 1", key, len(queues), k, err)
	}
	err = rabbittest.WaitFor(mgmtWait, func() (bool, error) {
		k, err := relayConnections(n, pd)
		return k == conns, err
	})
	if err != nil {
		t.Fatalf("the relay's %d connections never showed up: %v", conns, err)
	}
	after, err := n.Connections()
	if err != nil {
		t.Fatal(err)
	}
	if grew := len(after) - len(before); grew > conns {
		t.Fatalf("broker connections grew by %d for %d clients; want at most %d", grew, clients, conns)
	}

	onAccepted, acc := accepted()
	if err := r.Publish(dest, stomp.Headers{{Key: "content-type", Value: "text/plain"}}, []byte("to-all"), onAccepted); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, acc, 10*time.Second); err != nil {
		t.Fatalf("onAccepted: %v", err)
	}
	for _, s := range sinks {
		if m := s.message(t, 10*time.Second, "to-all"); m.Header("subscription") != "sub" {
			t.Fatalf("%s: subscription header %q", s.name, m.Header("subscription"))
		}
	}

	for _, c := range cls {
		c.Close()
	}
	err = rabbittest.WaitFor(mgmtWait, func() (bool, error) {
		qs, err := n.Queues()
		if err != nil {
			return false, err
		}
		for _, q := range qs {
			if queues[q.Name] {
				return false, nil
			}
		}
		bound, err := topicQueues(n, key)
		if err != nil || len(bound) > 0 {
			return false, err
		}
		k, err := consumersOn(n, queues)
		return k == 0, err
	})
	if err != nil {
		t.Fatalf("the topic's queue or consumer outlived its last client: %v", err)
	}
	for _, s := range sinks {
		s.noErrors(t)
	}
}

// (b) A queue with two client-ack subscribers: competing consumers, NACK,
// and acknowledgements inside transactions.
//
// RabbitMQ's STOMP transactions are not AMQP transactions: the adapter
// holds the frames of a transaction and performs them at COMMIT, and ABORT
// drops them. An ACK inside an aborted transaction is therefore never
// performed: the message stays delivered-and-unacknowledged with the same
// consumer (it is NOT redelivered) until that consumer settles it again or
// its channel closes. The relay gives the ack id back to the client on
// ABORT so that it can.
func TestRabbitQueueAcksAndTransactions(t *testing.T) {
	n := rabbittest.Require(t, node)
	r, _ := startRabbit(t, n, nil)
	name := "jobs-" + unique()
	dest := "/queue/" + name
	sa, sb := newSink("a"), newSink("b")
	a, b := r.Attach(sa), r.Attach(sb)
	clients := map[*recSink]*Client{sa: a, sb: b}
	for _, s := range []*recSink{sa, sb} {
		h := stomp.Headers{{Key: "ack", Value: "client-individual"}, {Key: "prefetch-count", Value: "1"}, {Key: "receipt", Value: "sub"}}
		if err := clients[s].Subscribe("jobs", dest, h); err != nil {
			t.Fatal(err)
		}
		s.receipt(t, "sub")
	}
	// next returns the next frame from either sink.
	next := func() (*recSink, *stomp.Frame) {
		t.Helper()
		select {
		case f := <-sa.ch:
			return sa, f
		case f := <-sb.ch:
			return sb, f
		case <-time.After(10 * time.Second):
			t.Fatal("no MESSAGE within 10s")
			return nil, nil
		}
	}
	queueCounts := func(ready, unacked int) func() (bool, error) {
		return func() (bool, error) {
			var q rabbittest.Queue
			if err := n.MgmtGet("/api/queues/%2F/"+name, &q); err != nil {
				return false, err
			}
			return q.MessagesReady == ready && q.MessagesUnacknowledged == unacked, nil
		}
	}

	// Competing consumers: each message goes to exactly one subscriber.
	for _, body := range []string{"m1", "m2"} {
		if err := r.Publish(dest, nil, []byte(body), nil); err != nil {
			t.Fatal(err)
		}
	}
	s1, f1 := next()
	s2, f2 := next()
	if s1 == s2 || f1.Command != stomp.MESSAGE || f2.Command != stomp.MESSAGE || string(f1.Body) == string(f2.Body) {
		t.Fatalf("%s got %s %q, %s got %s %q: want one message each", s1.name, f1.Command, f1.Body, s2.name, f2.Command, f2.Body)
	}
	for _, f := range []*stomp.Frame{f1, f2} {
		checkRelayIDs(t, f, true)
	}
	for _, x := range []struct {
		s *recSink
		f *stomp.Frame
	}{{s1, f1}, {s2, f2}} {
		if err := clients[x.s].Ack(stomp.Headers{{Key: "id", Value: x.f.Header("ack")}, {Key: "receipt", Value: "ack"}}); err != nil {
			t.Fatal(err)
		}
		x.s.receipt(t, "ack")
	}

	// NACK: RabbitMQ requeues the message and hands it to a consumer
	// with room for it, usually the next in its round robin, which is the
	// other one; but the one that NACKed has room again too, and on a
	// loaded machine it is sometimes picked. Whoever gets it NACKs it
	// again until the other consumer has it (at most 10 rounds).
	if err := r.Publish(dest, nil, []byte("m3"), nil); err != nil {
		t.Fatal(err)
	}
	first, m3 := next()
	var other *recSink
	var again *stomp.Frame
	for round := 0; ; round++ {
		if err := clients[first].Nack(stomp.Headers{{Key: "id", Value: m3.Header("ack")}}); err != nil {
			t.Fatal(err)
		}
		other, again = next()
		if string(again.Body) != "m3" || again.Header("redelivered") != "true" {
			t.Fatalf("after %s NACKed m3: %s got %s %v %q", first.name, other.name, again.Command, again.Headers, again.Body)
		}
		if other != first {
			break
		}
		if round == 9 {
			t.Fatalf("m3 NACKed 10 times by %s went back to it each time", first.name)
		}
		m3 = again
	}
	holder := clients[other]

	// ACK inside an aborted transaction: not performed, not redelivered.
	if err := holder.Begin("tx1", ""); err != nil {
		t.Fatal(err)
	}
	if err := holder.Ack(stomp.Headers{{Key: "id", Value: again.Header("ack")}, {Key: "transaction", Value: "tx1"}}); err != nil {
		t.Fatal(err)
	}
	if err := holder.Abort("tx1", "abort"); err != nil {
		t.Fatal(err)
	}
	other.receipt(t, "abort")
	if err := rabbittest.WaitFor(mgmtWait, queueCounts(0, 1)); err != nil {
		t.Fatalf("after ABORT the message should stay unacked with its consumer: %v", err)
	}
	first.quiet(t, time.Second)

	// The same id in a committed transaction: performed at COMMIT.
	if err := holder.Begin("tx2", ""); err != nil {
		t.Fatal(err)
	}
	if err := holder.Ack(stomp.Headers{{Key: "id", Value: again.Header("ack")}, {Key: "transaction", Value: "tx2"}}); err != nil {
		t.Fatalf("ACK after ABORT: %v", err)
	}
	if err := holder.Commit("tx2", "commit"); err != nil {
		t.Fatal(err)
	}
	other.receipt(t, "commit")
	if err := rabbittest.WaitFor(mgmtWait, queueCounts(0, 0)); err != nil {
		t.Fatalf("after COMMIT the message should be gone: %v", err)
	}
	if err := holder.Ack(stomp.Headers{{Key: "id", Value: again.Header("ack")}}); !errors.Is(err, ErrUnknownAck) {
		t.Fatalf("ACK after COMMIT: %v, want ErrUnknownAck", err)
	}
	if err := holder.Commit("tx2", ""); !errors.Is(err, ErrUnknownTx) {
		t.Fatalf("second COMMIT: %v, want ErrUnknownTx", err)
	}
	sa.noErrors(t)
	sb.noErrors(t)
}

// (c) Broker outage: clients see nothing but a delay.
func TestRabbitBrokerOutage(t *testing.T) {
	n := rabbittest.Require(t, node)
	r, _ := startRabbit(t, n, nil)
	dest := "/topic/outage-" + unique()
	const clients = 20
	sinks := make([]*recSink, clients)
	cls := make([]*Client, clients)
	for i := range cls {
		sinks[i] = newSink(fmt.Sprintf("client%d", i))
		cls[i] = r.Attach(sinks[i])
		if err := cls[i].Subscribe("s", dest, stomp.Headers{{Key: "receipt", Value: "r"}}); err != nil {
			t.Fatal(err)
		}
		sinks[i].receipt(t, "r")
	}

	if err := n.StopApp(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = n.StartApp()
		}
	})
	waitCond(t, 30*time.Second, "Ready() false while the broker is down", func() bool { return !r.Ready() })
	if err := cls[0].Send(dest, stomp.Headers{{Key: "receipt", Value: "during"}}, []byte("sent-during-outage")); err != nil {
		t.Fatal(err)
	}
	onAccepted, acc := accepted()
	if err := r.Publish(dest, nil, []byte("published-during-outage"), onAccepted); err != nil {
		t.Fatal(err)
	}
	if r.Ready() {
		t.Fatal("Ready() true while the broker is down")
	}

	if err := n.StartApp(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	back := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.WaitReady(ctx); err != nil {
		t.Fatalf("not ready 10s after the broker's return: %v", err)
	}
	sinks[0].collect(t, 10*time.Second-time.Since(back), "outage frames",
		isReceipt("during"), isMessage("sent-during-outage"), isMessage("published-during-outage"))
	if err := waitErr(t, acc, 10*time.Second); err != nil {
		t.Fatalf("onAccepted: %v", err)
	}
	for _, s := range sinks[1:] {
		s.collect(t, 10*time.Second-time.Since(back), "outage messages",
			isMessage("sent-during-outage"), isMessage("published-during-outage"))
	}
	// and live traffic flows again
	if err := r.Publish(dest, nil, []byte("after"), nil); err != nil {
		t.Fatal(err)
	}
	for _, s := range sinks {
		s.message(t, 10*time.Second, "after")
		s.noErrors(t)
	}
	t.Logf("subscriptions delivered again %v after the broker's return", time.Since(back).Round(time.Millisecond))
}

// (d) An ACK the broker would not know never reaches it: the shared
// connection stays up and other clients keep receiving.
func TestRabbitUnknownAckKeepsConnection(t *testing.T) {
	n := rabbittest.Require(t, node)
	r, _ := startRabbit(t, n, func(c *Config) { c.Connections = 1 })
	topic := "/topic/ack-" + unique()
	queue := "/queue/ack-" + unique()
	sq, st := newSink("acker"), newSink("listener")
	acker, listener := r.Attach(sq), r.Attach(st)
	if err := acker.Subscribe("q", queue, stomp.Headers{{Key: "ack", Value: "client"}, {Key: "receipt", Value: "rq"}}); err != nil {
		t.Fatal(err)
	}
	sq.receipt(t, "rq")
	if err := listener.Subscribe("t", topic, stomp.Headers{{Key: "receipt", Value: "rt"}}); err != nil {
		t.Fatal(err)
	}
	st.receipt(t, "rt")
	if err := r.Publish(queue, nil, []byte("job"), nil); err != nil {
		t.Fatal(err)
	}
	job := sq.message(t, 10*time.Second, "job")

	conn := r.conns[0]
	conn.mu.Lock()
	sess := conn.sock
	conn.mu.Unlock()

	checkRelayIDs(t, job, true)
	for _, h := range []stomp.Headers{
		{{Key: "id", Value: "garbage"}},
		{{Key: "id", Value: forgeID(job.Header("ack"))}},
		{{Key: "id", Value: "T_s1@@session-x@@1"}},
		{{Key: "message-id", Value: "nope"}, {Key: "subscription", Value: "q"}},
	} {
		if err := acker.Ack(h); !errors.Is(err, ErrUnknownAck) {
			t.Fatalf("ACK %v: %v, want ErrUnknownAck", h, err)
		}
		if err := acker.Nack(h); !errors.Is(err, ErrUnknownAck) {
			t.Fatalf("NACK %v: %v, want ErrUnknownAck", h, err)
		}
	}
	if err := acker.Ack(stomp.Headers{{Key: "id", Value: job.Header("ack")}, {Key: "receipt", Value: "ok"}}); err != nil {
		t.Fatal(err)
	}
	sq.receipt(t, "ok")
	if err := r.Publish(topic, nil, []byte("still-here"), nil); err != nil {
		t.Fatal(err)
	}
	st.message(t, 10*time.Second, "still-here")
	conn.mu.Lock()
	same := conn.sock == sess
	conn.mu.Unlock()
	if !same {
		t.Fatal("the upstream connection was replaced")
	}
	sq.noErrors(t)
	st.noErrors(t)
}
