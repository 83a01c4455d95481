package relay

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"chatrelay/internal/stomp"
)

// A stream SUBSCRIBE that RabbitMQ would answer by closing the shared
// connection is refused before it leaves the relay.
func TestStreamSubscribeRefusals(t *testing.T) {
	r := New(Config{Logger: testLogger(t)}) // never started: nothing leaves
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	c := r.Attach(newSink("c"))
	hs := func(kv ...string) stomp.Headers {
		var h stomp.Headers
		for i := 0; i < len(kv); i += 2 {
			h = append(h, stomp.Header{Key: kv[i], Value: kv[i+1]})
		}
		return h
	}
	for i, x := range []struct {
		h  stomp.Headers
		ok bool
	}{
		{hs("x-stream-offset", "first", "prefetch-count", "10"), false}, // ack auto
		{hs("x-stream-offset", "first", "ack", "auto", "prefetch-count", "10"), false},
		{hs("x-stream-offset", "first", "ack", "client"), false},
		{hs("x-stream-offset", "first", "ack", "client", "prefetch-count", "0"), false},
		{hs("x-stream-offset", "first", "ack", "client", "prefetch-count", "65536"), false},
		{hs("x-stream-offset", "first", "ack", "client", "prefetch-count", "ten"), false},
		{hs("x-stream-offset", "sometime", "ack", "client", "prefetch-count", "10"), false},
		{hs("x-stream-offset", "offset=-1", "ack", "client", "prefetch-count", "10"), false},
		{hs("x-stream-offset", "", "ack", "client", "prefetch-count", "10"), false},
		{hs("x-stream-offset", "first", "ack", "client", "prefetch-count", "10"), true},
		{hs("x-stream-offset", "offset=42", "ack", "client-individual", "prefetch-count", "200"), true},
		{hs("x-stream-offset", "timestamp=1700000000", "ack", "client", "prefetch-count", "1"), true},
		{hs("x-stream-offset", "next", "ack", "client", "prefetch-count", "65535"), true},
	} {
		err := c.Subscribe(strconv.Itoa(i), "/amq/queue/s", x.h)
		if x.ok && err != nil {
			t.Errorf("%v: %v", x.h, err)
		}
		if !x.ok && !errors.Is(err, ErrStreamHeaders) {
			t.Errorf("%v: %v, want ErrStreamHeaders", x.h, err)
		}
	}
}

// streamBroker is a fake broker for one stream subscription. Session n
// (from 1) checks the x-stream-offset of the SUBSCRIBE against
// wantOffset[n-1], receipts it, sends the MESSAGEs of sends[n-1] and, if
// it is not the last session, hangs up. Every other frame from the relay
// goes to frames; every receipt is answered.
type streamBroker struct {
	wantOffset []string
	sends      [][]streamMsg
	session    atomic.Int32
	frames     chan *stomp.Frame
	t          *testing.T
}

type streamMsg struct {
	offset int
	ack    string
}

func (b *streamBroker) script(c net.Conn, _ *stomp.Frame) {
	n := int(b.session.Add(1))
	serveFrames(c, func(f *stomp.Frame) bool {
		if r := f.Header("receipt"); r != "" {
			c.Write(stomp.New(stomp.RECEIPT, "receipt-id", r).Encode(stomp.V12))
		}
		if f.Command != stomp.SUBSCRIBE {
			b.frames <- f
			return true
		}
		if n > len(b.wantOffset) {
			b.t.Errorf("session %d: unexpected SUBSCRIBE %v", n, f.Headers)
			return false
		}
		var offsets []string
		for _, kv := range f.Headers {
			if kv.Key == streamOffsetHeader {
				offsets = append(offsets, kv.Value)
			}
		}
		if len(offsets) != 1 || offsets[0] != b.wantOffset[n-1] || f.Header("ack") != "client-individual" || f.Header("prefetch-count") != "10" {
			b.t.Errorf("session %d: SUBSCRIBE %v, want x-stream-offset %s", n, f.Headers, b.wantOffset[n-1])
		}
		for _, m := range b.sends[n-1] {
			off := strconv.Itoa(m.offset)
			c.Write(stomp.New(stomp.MESSAGE, "subscription", f.Header("id"), "destination", f.Header("destination"),
				"message-id", m.ack, "ack", m.ack, streamOffsetHeader, off).Encode(stomp.V12))
		}
		if n < len(b.wantOffset) {
			return false // hang up: the relay reconnects
		}
		return true
	})
}

// A stream subscription resumes after the last offset it delivered, drops
// what the broker sends again (acknowledging it), never NACKs, and settles
// with ACK when it ends.
func TestStreamResumeDedupAndSettle(t *testing.T) {
	sb := &streamBroker{
		t:          t,
		frames:     make(chan *stomp.Frame, 100),
		wantOffset: []string{"offset=5", "offset=5", "offset=8"},
		sends: [][]streamMsg{
			nil, // nothing delivered: the client's own offset again
			{{5, "a1"}, {6, "a2"}, {7, "a3"}},
			{{6, "b1"}, {7, "b2"}, {8, "b3"}, {10, "b4"}},
		},
	}
	r := startFake(t, newFakeBroker(t, sb.script), -1)
	s := newSink("c")
	c := r.Attach(s)
	h := stomp.Headers{{Key: "ack", Value: "client"}, {Key: "prefetch-count", Value: "10"},
		{Key: streamOffsetHeader, Value: "offset=5"}, {Key: "receipt", Value: "r"}}
	if err := c.Subscribe("s", "/amq/queue/q", h); err != nil {
		t.Fatal(err)
	}
	var got []string
	var last *stomp.Frame
	ids := make(map[string]string) // the relay's id of each offset's delivery
	for len(got) < 5 {
		f := s.waitFor(t, 10*time.Second, "MESSAGE", func(f *stomp.Frame) bool { return f.Command == stomp.MESSAGE })
		if f.Header("subscription") != "s" {
			t.Fatalf("MESSAGE for subscription %q", f.Header("subscription"))
		}
		checkRelayIDs(t, f, true)
		got = append(got, f.Header(streamOffsetHeader))
		ids[f.Header(streamOffsetHeader)] = f.Header("ack")
		last = f
	}
	want := []string{"5", "6", "7", "8", "10"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delivered %v, want %v", got, want)
		}
	}
	// the two MESSAGEs sent again were acknowledged by the relay
	nextFrame := func() *stomp.Frame {
		t.Helper()
		select {
		case f := <-sb.frames:
			return f
		case <-time.After(10 * time.Second):
			t.Fatal("no frame from the relay within 10s")
			return nil
		}
	}
	for _, id := range []string{"b1", "b2"} {
		if f := nextFrame(); f.Command != stomp.ACK || f.Header("id") != id {
			t.Fatalf("got %s %v, want ACK id:%s", f.Command, f.Headers, id)
		}
	}
	if err := c.Nack(stomp.Headers{{Key: "id", Value: last.Header("ack")}}); !errors.Is(err, ErrStreamNack) {
		t.Fatalf("NACK: %v, want ErrStreamNack", err)
	}
	if err := c.Ack(stomp.Headers{{Key: "id", Value: ids["5"]}}); err != nil {
		t.Fatalf("ACK from before the reconnect: %v, want ignored", err)
	}
	if err := c.Ack(stomp.Headers{{Key: "id", Value: ids["8"]}}); err != nil {
		t.Fatal(err)
	}
	if f := nextFrame(); f.Command != stomp.ACK || f.Header("id") != "b3" {
		t.Fatalf("got %s %v, want ACK id:b3", f.Command, f.Headers)
	}
	// UNSUBSCRIBE leaves b4 unsettled (an ACK would grant credit for
	// more deliveries, a NACK kill the connection) and names nothing
	// but the id
	if err := c.Unsubscribe("s", "u"); err != nil {
		t.Fatal(err)
	}
	f := nextFrame()
	if f.Command != stomp.UNSUBSCRIBE || len(f.Headers) != 2 || f.Header("id") == "" || f.Header("receipt") == "" {
		t.Fatalf("got %s %v, want UNSUBSCRIBE with id and receipt only", f.Command, f.Headers)
	}
	s.receipt(t, "u")
	s.noErrors(t)
}

// Closing the relay unsubscribes stream subscriptions before DISCONNECT,
// settling nothing.
func TestStreamUnsubscribedOnRelayClose(t *testing.T) {
	sb := &streamBroker{
		t:          t,
		frames:     make(chan *stomp.Frame, 100),
		wantOffset: []string{"first"},
		sends:      [][]streamMsg{{{0, "a1"}}},
	}
	r := startFake(t, newFakeBroker(t, sb.script), -1)
	s := newSink("c")
	c := r.Attach(s)
	h := stomp.Headers{{Key: "ack", Value: "client-individual"}, {Key: "prefetch-count", Value: "10"}, {Key: streamOffsetHeader, Value: "first"}}
	if err := c.Subscribe("s", "/amq/queue/q", h); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, 10*time.Second, "MESSAGE", func(f *stomp.Frame) bool { return f.Command == stomp.MESSAGE })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 2 {
		select {
		case f := <-sb.frames:
			got = append(got, f.Command)
		case <-time.After(10 * time.Second):
			t.Fatalf("frames at Close: %v, want UNSUBSCRIBE, DISCONNECT", got)
		}
	}
	if got[0] != stomp.UNSUBSCRIBE || got[1] != stomp.DISCONNECT {
		t.Fatalf("frames at Close: %v, want UNSUBSCRIBE, DISCONNECT", got)
	}
}
