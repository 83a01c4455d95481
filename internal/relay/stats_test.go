package relay

import (
	"testing"
	"time"

	"chatrelay/internal/stomp"
)

// TestStats follows the relay's snapshot through shared and 1:1
// subscriptions, a fan-out, an outage (connections down, SENDs in the
// outbox) and the reconnect.
func TestStats(t *testing.T) {
	r, sd := startEmbedded(t, nil)
	allUp := func(reconnects uint64) func() bool {
		return func() bool {
			for _, u := range r.Stats().Upstreams {
				if !u.Connected || u.Reconnects != reconnects || u.OutboxFrames != 0 {
					return false
				}
			}
			return true
		}
	}
	waitCond(t, 10*time.Second, "every upstream up", allUp(0))
	st := r.Stats()
	if len(st.Upstreams) != DefaultConnections {
		t.Fatalf("%d upstreams, want %d", len(st.Upstreams), DefaultConnections)
	}

	a, b := newSink("a"), newSink("b")
	ca, cb := r.Attach(a), r.Attach(b)
	for _, s := range []struct {
		c            *Client
		sink         *recSink
		id, dest, ak string
	}{
		{ca, a, "t", "/topic/stats", "auto"},
		{cb, b, "t", "/topic/stats", "auto"},
		{ca, a, "q", "/queue/stats", "client-individual"},
	} {
		if err := s.c.Subscribe(s.id, s.dest, stomp.Headers{{Key: "ack", Value: s.ak}, {Key: "receipt", Value: s.id + s.dest}}); err != nil {
			t.Fatal(err)
		}
		s.sink.receipt(t, s.id+s.dest)
	}
	if st = r.Stats(); st.SharedSubscriptions != 1 || st.SingleSubscriptions != 1 {
		t.Fatalf("subscriptions: %d shared, %d single, want 1 and 1", st.SharedSubscriptions, st.SingleSubscriptions)
	}
	if err := r.Publish("/topic/stats", nil, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	a.message(t, 10*time.Second, "x")
	b.message(t, 10*time.Second, "x")
	if st = r.Stats(); st.MessagesReceived < 1 || st.FanoutDeliveries < 2 {
		t.Fatalf("after a fan-out to 2: %d received, %d delivered", st.MessagesReceived, st.FanoutDeliveries)
	}

	sd.setDown(true)
	waitCond(t, 10*time.Second, "every upstream down", func() bool {
		for _, u := range r.Stats().Upstreams {
			if u.Connected {
				return false
			}
		}
		return true
	})
	if err := ca.Send("/queue/stats", nil, []byte("held")); err != nil {
		t.Fatal(err)
	}
	frames, bytes := 0, 0
	for _, u := range r.Stats().Upstreams {
		frames += u.OutboxFrames
		bytes += u.OutboxBytes
	}
	if frames != 1 || bytes == 0 {
		t.Fatalf("outbox while down: %d frames, %d bytes", frames, bytes)
	}
	sd.setDown(false)
	if err := r.WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitCond(t, 10*time.Second, "every upstream back with its outbox flushed", allUp(1))
	ca.Close()
	cb.Close()
	if st = r.Stats(); st.SharedSubscriptions != 0 || st.SingleSubscriptions != 0 {
		t.Fatalf("after Close: %d shared, %d single", st.SharedSubscriptions, st.SingleSubscriptions)
	}
}
