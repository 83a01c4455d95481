package relay

import (
	"strconv"
	"testing"
	"time"

	"chatrelay/internal/stomp"
)

// TestEmbeddedNeedsNoProbes: the frames RabbitMQ refuses (and closes the
// connection over: a missing exchange or queue, header values it cannot
// read) are taken by the embedded broker without closing anything, so
// the relay makes no probe for them (probe.go).
func TestEmbeddedNeedsNoProbes(t *testing.T) {
	r, _ := startEmbedded(t, nil)
	s := newSink("client")
	c := r.Attach(s)
	subs := []struct {
		dest string
		h    stomp.Headers
	}{
		{"/exchange/missing-" + unique(), nil},
		{"/amq/queue/missing-" + unique(), nil},
		{"/queue/q-" + unique(), stomp.Headers{{Key: "x-max-length", Value: "many"}}},
	}
	for i, x := range subs {
		id := "s" + strconv.Itoa(i)
		if err := c.Subscribe(id, x.dest, append(x.h.Clone(), stomp.Header{Key: "receipt", Value: "r" + id})); err != nil {
			t.Fatal(err)
		}
		s.receipt(t, "r"+id)
	}
	sends := []stomp.Headers{
		{{Key: "expiration", Value: "soon"}},
		{{Key: "priority", Value: "high"}},
		{{Key: "user-id", Value: "someone-else"}},
	}
	for i, h := range sends {
		id := "p" + strconv.Itoa(i)
		if err := c.Send("/exchange/missing-"+unique()+"/key", append(h.Clone(), stomp.Header{Key: "receipt", Value: id}), []byte("x")); err != nil {
			t.Fatal(err)
		}
		s.receipt(t, id)
	}
	if r.Probes() != 0 || r.Reconnects() != 0 {
		t.Fatalf("%d probes, %d reconnects; want none", r.Probes(), r.Reconnects())
	}
	s.quiet(t, 200*time.Millisecond)
}
