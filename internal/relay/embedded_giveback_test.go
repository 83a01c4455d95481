package relay

import (
	"fmt"
	"testing"
	"time"

	"chatrelay/internal/stomp"
)

// What a client leaves unacknowledged goes back to its queue when it
// leaves (Close or UNSUBSCRIBE), marked redelivered, as on RabbitMQ
// (TestRabbitGiveBackOnLeave): the relay publishes it again, after the
// UNSUBSCRIBE, so that it cannot reach the departing subscription. The
// second client subscribes before or after the first one leaves; either
// way it gets each message once.
func TestEmbeddedGiveBackOnLeave(t *testing.T) {
	for _, ack := range []string{"client", "client-individual"} {
		for _, how := range []string{"close", "unsubscribe"} {
			for _, order := range []string{"second-first", "second-after"} {
				t.Run(ack+"/"+how+"/"+order, func(t *testing.T) {
					embeddedGiveBackOnLeave(t, ack, how == "close", order == "second-first")
				})
			}
		}
	}
}

func embeddedGiveBackOnLeave(t *testing.T, ack string, closeIt, secondFirst bool) {
	r, _ := startEmbedded(t, nil)
	dest := "/queue/gb-" + unique()
	sa, sb := newSink("first"), newSink("second")
	a, b := r.Attach(sa), r.Attach(sb)
	defer b.Close()
	subscribeB := func() {
		if err := b.Subscribe("b", dest, stomp.Headers{{Key: "ack", Value: "client-individual"}, {Key: "receipt", Value: "rb"}}); err != nil {
			t.Fatal(err)
		}
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
	// the given-back messages may reach the second client before its
	// receipt when it subscribes after the first one left
	want := []func(*stomp.Frame) bool{isMessage("m0"), isMessage("m1"), isMessage("m2")}
	if secondFirst {
		subscribeB()
		sb.receipt(t, "rb")
	} else {
		want = append(want, isReceipt("rb"))
	}
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
	for _, f := range sb.collect(t, 10*time.Second, "the 3 messages given back", want...)[:3] {
		if f.Header("redelivered") != "true" {
			t.Errorf("%q given back without redelivered:true: %v", f.Body, f.Headers)
		}
		if err := b.Ack(stomp.Headers{{Key: "id", Value: f.Header("ack")}}); err != nil {
			t.Fatal(err)
		}
	}
	sb.quiet(t, 200*time.Millisecond)
	sa.noErrors(t)
	sb.noErrors(t)
}

// Deliveries on their way when a client leaves are given back too
// (TestRabbitGiveBackInFlight): the first client takes some of a steady
// stream and leaves without acking; the second client (of the same
// relay) acks everything and gets every message once.
func TestEmbeddedGiveBackInFlight(t *testing.T) {
	for _, how := range []string{"close", "unsubscribe"} {
		t.Run(how, func(t *testing.T) { embeddedGiveBackInFlight(t, how == "close") })
	}
}

func embeddedGiveBackInFlight(t *testing.T, closeIt bool) {
	const total = 400
	r, _ := startEmbedded(t, nil)
	dest := "/queue/gb-" + unique()
	sa, sb := newSink("first"), newSink("second")
	a, b := r.Attach(sa), r.Attach(sb)
	defer b.Close()
	for _, x := range []struct {
		c    *Client
		s    *recSink
		id   string
		name string
	}{{a, sa, "a", "first"}, {b, sb, "b", "second"}} {
		if err := x.c.Subscribe(x.id, dest, stomp.Headers{{Key: "ack", Value: "client-individual"}, {Key: "receipt", Value: "r" + x.id}}); err != nil {
			t.Fatal(err)
		}
		x.s.receipt(t, "r"+x.id)
	}

	pubErr, wait := publishPaced(r, dest, total)
	defer wait()

	// the first client leaves after 30 messages, acking none
	for seen := 0; seen < 30; seen++ {
		if f := sa.next(t, 10*time.Second); f.Command != stomp.MESSAGE {
			t.Fatalf("first: %s %v %q", f.Command, f.Headers, f.Body)
		}
	}
	if closeIt {
		a.Close()
	} else if err := a.Unsubscribe("a", ""); err != nil {
		t.Fatal(err)
	}

	got := make(map[string]int)
	deadline := time.After(60 * time.Second)
	for len(got) < total {
		select {
		case err := <-pubErr:
			t.Fatal(err)
		case f := <-sb.ch:
			if f.Command != stomp.MESSAGE {
				t.Fatalf("second: %s %v %q", f.Command, f.Headers, f.Body)
			}
			got[string(f.Body)]++
			if got[string(f.Body)] > 1 {
				t.Fatalf("second got %q twice", f.Body)
			}
			if err := b.Ack(stomp.Headers{{Key: "id", Value: f.Header("ack")}}); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatalf("second got %d of %d messages", len(got), total)
		}
	}
	sb.quiet(t, 200*time.Millisecond)
	sb.noErrors(t)
}

// A 1:1 topic subscription's unacknowledged messages are not published
// again when its client leaves: that would hand them to every subscriber
// of the topic once more. On RabbitMQ they go with the subscription's own
// queue.
func TestEmbeddedGiveBackTopic(t *testing.T) {
	r, _ := startEmbedded(t, nil)
	dest := "/topic/gb-" + unique()
	sa, sb := newSink("first"), newSink("second")
	a, b := r.Attach(sa), r.Attach(sb)
	defer b.Close()
	if err := a.Subscribe("a", dest, stomp.Headers{{Key: "ack", Value: "client-individual"}, {Key: "receipt", Value: "ra"}}); err != nil {
		t.Fatal(err)
	}
	sa.receipt(t, "ra")
	if err := b.Subscribe("b", dest, stomp.Headers{{Key: "receipt", Value: "rb"}}); err != nil {
		t.Fatal(err)
	}
	sb.receipt(t, "rb")
	if err := r.Publish(dest, nil, []byte("m0"), nil); err != nil {
		t.Fatal(err)
	}
	sa.message(t, 10*time.Second, "m0")
	sb.message(t, 10*time.Second, "m0")
	if err := a.Unsubscribe("a", "ua"); err != nil {
		t.Fatal(err)
	}
	sa.receipt(t, "ua")
	// a message the first client sends after it left, on its connection,
	// marks the point by which a give-back, written before it, would show
	if err := a.Send(dest, nil, []byte("m1")); err != nil {
		t.Fatal(err)
	}
	if f := sb.next(t, 10*time.Second); f.Command != stomp.MESSAGE || string(f.Body) != "m1" {
		t.Fatalf("second: want m1 only, got %s %v %q", f.Command, f.Headers, f.Body)
	}
	sa.noErrors(t)
	sb.noErrors(t)
}

// An ACK inside a transaction still open when its subscription ends is
// undone by ABORT: the relay gives the message back then.
func TestEmbeddedGiveBackAbortedAck(t *testing.T) {
	r, _ := startEmbedded(t, nil)
	dest := "/queue/gb-" + unique()
	sa, sb := newSink("first"), newSink("second")
	a, b := r.Attach(sa), r.Attach(sb)
	defer a.Close()
	defer b.Close()
	if err := a.Subscribe("a", dest, stomp.Headers{{Key: "ack", Value: "client-individual"}, {Key: "receipt", Value: "ra"}}); err != nil {
		t.Fatal(err)
	}
	sa.receipt(t, "ra")
	if err := r.Publish(dest, nil, []byte("m0"), nil); err != nil {
		t.Fatal(err)
	}
	m0 := sa.message(t, 10*time.Second, "m0")
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
	if err := a.Abort("tx", "end"); err != nil {
		t.Fatal(err)
	}
	sa.receipt(t, "end")
	if f := sb.message(t, 10*time.Second, "m0"); f.Header("redelivered") != "true" {
		t.Errorf("given back without redelivered:true: %v", f.Headers)
	}
	sa.noErrors(t)
	sb.noErrors(t)
}
