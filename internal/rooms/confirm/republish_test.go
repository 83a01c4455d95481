package confirm

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/rooms/rabbitstore"
	"chatrelay/internal/stomp"
)

// losingPublisher is a Publisher whose broker channel has gone stale
// while lose is set: it accepts every publish and delivers none, as a
// RabbitMQ 3.10 channel does that still writes to a stream's stopped
// writer.
type losingPublisher struct {
	next Publisher
	lose atomic.Bool
	lost atomic.Int64
}

// Publish implements Publisher.
func (p *losingPublisher) Publish(dest string, h stomp.Headers, body []byte, onAccepted func(error)) error {
	if p.lose.Load() {
		p.lost.Add(1)
		onAccepted(nil)
		return nil
	}
	return p.next.Publish(dest, h, body, onAccepted)
}

// TestRepublishTakesItsOwnPath: while the relay's channel loses every
// publish (its stream writer stopped, RabbitMQ not yet telling it of the
// new one), a message is stored by its first republish, which goes
// through Options.Republish (the store's fresh AMQP channel), and is in
// the history once; the relay's channel saw the first publish only.
func TestRepublishTakesItsOwnPath(t *testing.T) {
	const republish = 300 * time.Millisecond
	var lp *losingPublisher
	f := newFixtureWith(t, republish, 10*time.Second, nil, 0, func(o *Options, s *rabbitstore.Store) {
		lp = &losingPublisher{next: o.Publisher}
		o.Publisher, o.Republish = lp, s.Republish
	})
	room := f.room(t)
	if o := wait(t, f.send(room, "before"), 15*time.Second); o.err != nil {
		t.Fatal(o.err)
	}
	lp.lose.Store(true)
	sent := time.Now()
	o := wait(t, f.send(room, "stale"), 15*time.Second)
	if o.err != nil {
		t.Fatal(o.err)
	}
	if took := o.at.Sub(sent); took < republish {
		t.Fatalf("confirmed after %v, before any republish", took)
	}
	if n := lp.lost.Load(); n != 1 {
		t.Fatalf("the relay's channel was given %d publishes, want the first only", n)
	}
	if ids := f.historyIDs(t, room); count(ids, "stale") != 1 {
		t.Fatalf("history %v", ids)
	}
}

// TestRepublishFallsBackToTheRelay: when Options.Republish fails, the
// message is published again through the Publisher, and is stored once
// that one delivers again.
func TestRepublishFallsBackToTheRelay(t *testing.T) {
	const republish = 300 * time.Millisecond
	var lp *losingPublisher
	var tries atomic.Int64
	f := newFixtureWith(t, republish, 10*time.Second, nil, 0, func(o *Options, _ *rabbitstore.Store) {
		lp = &losingPublisher{next: o.Publisher}
		o.Publisher = lp
		o.Republish = func(context.Context, string, []byte) error {
			tries.Add(1)
			return errors.New("no AMQP connection")
		}
	})
	room := f.room(t)
	if o := wait(t, f.send(room, "before"), 15*time.Second); o.err != nil {
		t.Fatal(o.err)
	}
	lp.lose.Store(true)
	ch := f.send(room, "fallback")
	if err := rabbittest.WaitFor(5*time.Second, func() (bool, error) { return tries.Load() >= 1 && lp.lost.Load() >= 2, nil }); err != nil {
		t.Fatalf("republish tries %d, relay publishes %d: %v", tries.Load(), lp.lost.Load(), err)
	}
	lp.lose.Store(false)
	if o := wait(t, ch, 15*time.Second); o.err != nil {
		t.Fatal(o.err)
	}
	if ids := f.historyIDs(t, room); count(ids, "fallback") != 1 {
		t.Fatalf("history %v", ids)
	}
}
