package relay

import (
	"fmt"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
)

// What a client leaves unacknowledged goes back to its queue at once when
// it leaves (Close or UNSUBSCRIBE), on the one shared upstream
// connection, which stays up: a second client of the same relay gets it
// again, marked redelivered, and nothing stays unacknowledged. With the
// second client subscribed before the first leaves, the relay NACKs
// under the second one's subscription; subscribed after, under its
// anchor (settle.go).
func TestRabbitGiveBackOnLeave(t *testing.T) {
	n := rabbittest.Require(t, node)
	for _, ack := range []string{"client", "client-individual"} {
		for _, how := range []string{"close", "unsubscribe"} {
			for _, order := range []string{"second-first", "second-after"} {
				t.Run(ack+"/"+how+"/"+order, func(t *testing.T) {
					giveBackOnLeave(t, n, ack, how == "close", order == "second-first")
				})
			}
		}
	}
}

func giveBackOnLeave(t *testing.T, n *rabbittest.Node, ack string, closeIt, secondFirst bool) {
	r, pd := startRabbit(t, n, func(c *Config) { c.Connections = 1 })
	name := "q-" + unique()
	dest := "/queue/" + name
	sa, sb := newSink("first"), newSink("second")
	a, b := r.Attach(sa), r.Attach(sb)
	defer b.Close()
	subscribeB := func() {
		if err := b.Subscribe("b", dest, stomp.Headers{{Key: "ack", Value: "client-individual"}, {Key: "receipt", Value: "rb"}}); err != nil {
			t.Fatal(err)
		}
		sb.receipt(t, "rb")
	}
	if err := a.Subscribe("a", dest, stomp.Headers{{Key: "ack", Value: ack}, {Key: "receipt", Value: "ra"}}); err != nil {
		t.Fatal(err)
	}
	sa.receipt(t, "ra")
	for i := range 3 {
		if err := r.Publish(dest, nil, []byte(fmt.Sprint("m", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		sa.message(t, 10*time.Second, fmt.Sprint("m", i))
	}
	if secondFirst {
		subscribeB()
	}
	reconnects := r.Reconnects()
	left := time.Now()
	if closeIt {
		a.Close()
	} else {
		if err := a.Unsubscribe("a", "ua"); err != nil {
			t.Fatal(err)
		}
		sa.receipt(t, "ua")
	}
	if !secondFirst {
		subscribeB()
	}
	got := sb.collect(t, 5*time.Second, "the 3 messages given back", isMessage("m0"), isMessage("m1"), isMessage("m2"))
	t.Logf("given back within %v", time.Since(left).Round(time.Millisecond))
	for _, f := range got {
		if f.Header("redelivered") != "true" {
			t.Errorf("%q given back without redelivered:true: %v", f.Body, f.Headers)
		}
		if err := b.Ack(stomp.Headers{{Key: "id", Value: f.Header("ack")}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := rabbittest.WaitFor(mgmtWait, queueIs(n, name, 0, 0)); err != nil {
		t.Fatalf("queue after the second client acked: %v", err)
	}
	if got := r.Reconnects(); got != reconnects {
		t.Fatalf("the upstream connection reconnected: %d -> %d", reconnects, got)
	}
	err := rabbittest.WaitFor(mgmtWait, func() (bool, error) {
		k, err := relayConnections(n, pd)
		return k == 1, err
	})
	if err != nil {
		t.Fatalf("relay connections on the node, want 1: %v", err)
	}
	sa.noErrors(t)
	sb.noErrors(t)
}

// Deliveries on their way when a client leaves are given back too: the
// first client takes a few of a steady stream with a large prefetch and
// leaves without acking; a second client (of the same relay, on the same
// upstream connection) acks everything, and gets every message.
func TestRabbitGiveBackInFlight(t *testing.T) {
	n := rabbittest.Require(t, node)
	for _, how := range []string{"close", "unsubscribe"} {
		t.Run(how, func(t *testing.T) { giveBackInFlight(t, n, how == "close") })
	}
}

func giveBackInFlight(t *testing.T, n *rabbittest.Node, closeIt bool) {
	const total = 600
	r, _ := startRabbit(t, n, func(c *Config) { c.Connections = 1 })
	name := "q-" + unique()
	dest := "/queue/" + name
	sa, sb := newSink("first"), newSink("second")
	a, b := r.Attach(sa), r.Attach(sb)
	defer b.Close()
	if err := a.Subscribe("a", dest, stomp.Headers{{Key: "ack", Value: "client-individual"}, {Key: "prefetch-count", Value: "500"}, {Key: "receipt", Value: "ra"}}); err != nil {
		t.Fatal(err)
	}
	sa.receipt(t, "ra")
	if err := b.Subscribe("b", dest, stomp.Headers{{Key: "ack", Value: "client-individual"}, {Key: "prefetch-count", Value: "1"}, {Key: "receipt", Value: "rb"}}); err != nil {
		t.Fatal(err)
	}
	sb.receipt(t, "rb")
	reconnects := r.Reconnects()

	pubErr, wait := publishPaced(r, dest, total)
	defer wait()

	// the first client leaves after 50 messages, acking none
	seen := make(map[string]bool)
	for len(seen) < 50 {
		f := sa.next(t, 10*time.Second)
		if f.Command != stomp.MESSAGE {
			t.Fatalf("first: %s %v %q", f.Command, f.Headers, f.Body)
		}
		seen[string(f.Body)] = true
	}
	if closeIt {
		a.Close()
	} else if err := a.Unsubscribe("a", ""); err != nil {
		t.Fatal(err)
	}

	got := make(map[string]bool)
	deadline := time.After(60 * time.Second)
	for len(got) < total {
		select {
		case err := <-pubErr:
			t.Fatal(err)
		case f := <-sb.ch:
			if f.Command != stomp.MESSAGE {
				t.Fatalf("second: %s %v %q", f.Command, f.Headers, f.Body)
			}
			got[string(f.Body)] = true
			if err := b.Ack(stomp.Headers{{Key: "id", Value: f.Header("ack")}}); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatalf("second got %d of %d messages", len(got), total)
		}
	}
	if err := rabbittest.WaitFor(mgmtWait, queueIs(n, name, 0, 0)); err != nil {
		t.Fatalf("queue after the second client acked all: %v", err)
	}
	if got := r.Reconnects(); got != reconnects {
		t.Fatalf("the upstream connection reconnected: %d -> %d", reconnects, got)
	}
	sa.noErrors(t)
	sb.noErrors(t)
}

// queueIs waits for a queue's ready and unacknowledged counts.
func queueIs(n *rabbittest.Node, name string, ready, unacked int) func() (bool, error) {
	return func() (bool, error) {
		var q rabbittest.Queue
		if err := n.MgmtGet("/api/queues/%2F/"+name, &q); err != nil {
			return false, err
		}
		return q.MessagesReady == ready && q.MessagesUnacknowledged == unacked, nil
	}
}

// An ACK inside a transaction still open when its subscription ends is
// undone by ABORT: the message goes back to the queue then. COMMIT
// performs it: the message is gone.
func TestRabbitGiveBackAbortedAck(t *testing.T) {
	n := rabbittest.Require(t, node)
	for _, end := range []string{"abort", "commit"} {
		t.Run(end, func(t *testing.T) {
			r, _ := startRabbit(t, n, func(c *Config) { c.Connections = 1 })
			name := "q-" + unique()
			dest := "/queue/" + name
			sa, sb := newSink("first"), newSink("second")
			a, b := r.Attach(sa), r.Attach(sb)
			defer a.Close()
			defer b.Close()
			if err := a.Subscribe("a", dest, stomp.Headers{{Key: "ack", Value: "client-individual"}, {Key: "receipt", Value: "ra"}}); err != nil {
				t.Fatal(err)
			}
			sa.receipt(t, "ra")
			for i := range 3 {
				if err := r.Publish(dest, nil, []byte(fmt.Sprint("m", i)), nil); err != nil {
					t.Fatal(err)
				}
			}
			m0 := sa.message(t, 10*time.Second, "m0")
			sa.message(t, 10*time.Second, "m1")
			sa.message(t, 10*time.Second, "m2")
			if err := a.Begin("tx", ""); err != nil {
				t.Fatal(err)
			}
			if err := a.Ack(stomp.Headers{{Key: "id", Value: m0.Header("ack")}, {Key: "transaction", Value: "tx"}}); err != nil {
				t.Fatal(err)
			}
			if err := a.Unsubscribe("a", "ua"); err != nil {
				t.Fatal(err)
			}
			sa.receipt(t, "ua")
			if err := b.Subscribe("b", dest, stomp.Headers{{Key: "ack", Value: "client-individual"}, {Key: "receipt", Value: "rb"}}); err != nil {
				t.Fatal(err)
			}
			sb.receipt(t, "rb")
			want := []func(*stomp.Frame) bool{isMessage("m1"), isMessage("m2")}
			if end == "abort" {
				if err := a.Abort("tx", "end"); err != nil {
					t.Fatal(err)
				}
				want = append(want, isMessage("m0"))
			} else if err := a.Commit("tx", "end"); err != nil {
				t.Fatal(err)
			}
			sa.receipt(t, "end")
			for _, f := range sb.collect(t, 5*time.Second, "the messages given back", want...) {
				if err := b.Ack(stomp.Headers{{Key: "id", Value: f.Header("ack")}}); err != nil {
					t.Fatal(err)
				}
			}
			if err := rabbittest.WaitFor(mgmtWait, queueIs(n, name, 0, 0)); err != nil {
				t.Fatalf("queue after the second client acked: %v", err)
			}
			sa.noErrors(t)
			sb.noErrors(t)
		})
	}
}
