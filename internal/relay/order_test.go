package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/stomp"
)

// orderBroker is a fake broker for the order tests: it logs the frames it
// reads, receipts SENDs at once, and holds the RECEIPT of every SUBSCRIBE
// until the test releases it (or forever).
type orderBroker struct {
	events chan string // "SUBSCRIBE <dest>", "SEND <dest>", "RECEIPT <dest>", in the broker's order
	mu     sync.Mutex
	held   []func() // writes a held SUBSCRIBE RECEIPT
}

func newOrderBroker(t *testing.T) (*orderBroker, *fakeBroker) {
	ob := &orderBroker{events: make(chan string, 1000)}
	return ob, newFakeBroker(t, func(c net.Conn, connect *stomp.Frame) {
		var wmu sync.Mutex
		write := func(f *stomp.Frame) {
			wmu.Lock()
			defer wmu.Unlock()
			c.Write(f.Encode(stomp.V12))
		}
		serveFrames(c, func(f *stomp.Frame) bool {
			receipt := stomp.New(stomp.RECEIPT, "receipt-id", f.Header("receipt"))
			switch f.Command {
			case stomp.SUBSCRIBE:
				dest := f.Header("destination")
				ob.events <- "SUBSCRIBE " + dest
				ob.mu.Lock()
				ob.held = append(ob.held, func() {
					ob.events <- "RECEIPT " + dest
					write(receipt)
				})
				ob.mu.Unlock()
			case stomp.SEND:
				ob.events <- "SEND " + f.Header("destination")
				write(receipt)
			case stomp.UNSUBSCRIBE, stomp.DISCONNECT:
				write(receipt)
			}
			return true
		})
	})
}

// release writes the held SUBSCRIBE RECEIPTs.
func (ob *orderBroker) release() {
	ob.mu.Lock()
	held := ob.held
	ob.held = nil
	ob.mu.Unlock()
	for _, fn := range held {
		fn()
	}
}

// expect waits for the broker's next event and checks it.
func (ob *orderBroker) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-ob.events:
		if got != want {
			t.Fatalf("broker saw %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("broker never saw %q", want)
	}
}

// startOrderRelay runs a relay with two connections to b, whose
// reconnect settings make Relay.orderGrace grace.
func startOrderRelay(t *testing.T, b *fakeBroker, grace time.Duration) *Relay {
	r := New(Config{
		Addresses:    []string{"fake:1"},
		Connections:  2,
		HeartBeat:    -1,
		Dial:         b.Dial,
		ReconnectMin: 10 * time.Millisecond,
		ReconnectMax: grace / 2,
		Logger:       testLogger(t),
	})
	r.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Close(ctx)
	})
	b.waitDials(2, 10*time.Second)
	// both up, so that the frames of the test are written at once
	deadline := time.Now().Add(10 * time.Second)
	for !r.conns[0].up() || !r.conns[1].up() {
		if time.Now().After(deadline) {
			t.Fatal("upstream connections not up")
		}
		time.Sleep(time.Millisecond)
	}
	return r
}

// elsewhere returns a topic whose shared subscription lives on a
// connection other than c's pinned one.
func elsewhere(t *testing.T, r *Relay, c *Client) string {
	for i := 0; i < 1000; i++ {
		dest := fmt.Sprintf("/topic/order.%d", i)
		if r.connFor(dest) != c.home {
			return dest
		}
	}
	t.Fatal("no topic on the other connection")
	return ""
}

// sendAsync runs c.Send on its own goroutine, which owns nothing and ends
// with the call; the channel gets its result.
func sendAsync(c *Client, dest string) chan error {
	done := make(chan error, 1)
	go func() { done <- c.Send(dest, nil, []byte("mine")) }()
	return done
}

// A SEND right after a SUBSCRIBE whose shared subscription lives on the
// other connection reaches the broker only after the broker confirmed the
// subscription; a later client joining the confirmed subscription does
// not wait.
func TestSendWaitsForSubscriptionElsewhere(t *testing.T) {
	ob, b := newOrderBroker(t)
	r := startOrderRelay(t, b, time.Minute)
	s := newSink("c")
	c := r.Attach(s)
	dest := elsewhere(t, r, c)
	if err := c.Subscribe("x", dest, nil); err != nil {
		t.Fatal(err)
	}
	sent := sendAsync(c, dest)
	ob.expect(t, "SUBSCRIBE "+dest)
	select {
	case err := <-sent:
		t.Fatalf("Send returned (%v) before the broker confirmed the SUBSCRIBE", err)
	default:
	}
	ob.release()
	ob.expect(t, "RECEIPT "+dest)
	ob.expect(t, "SEND "+dest)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	// confirmed now: another client joins it and sends at once
	c2 := r.Attach(newSink("c2"))
	if c2.home != c.home {
		c2 = r.Attach(newSink("c3"))
	}
	if err := c2.Subscribe("y", dest, nil); err != nil {
		t.Fatal(err)
	}
	if len(c2.fences) != 0 {
		t.Fatalf("%d fences on a confirmed subscription", len(c2.fences))
	}
	if err := c2.Send(dest, nil, []byte("again")); err != nil {
		t.Fatal(err)
	}
	ob.expect(t, "SEND "+dest)
	s.noErrors(t)
}

// A broker that never confirms the SUBSCRIBE holds the client's SEND back
// for Relay.orderGrace at most.
func TestSendWaitBounded(t *testing.T) {
	ob, b := newOrderBroker(t)
	r := startOrderRelay(t, b, 2*time.Second) // orderGrace: flushGrace, 2s
	c := r.Attach(newSink("c"))
	dest := elsewhere(t, r, c)
	if err := c.Subscribe("x", dest, nil); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	sent := sendAsync(c, dest)
	ob.expect(t, "SUBSCRIBE "+dest)
	ob.expect(t, "SEND "+dest)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(began); waited < r.orderGrace() {
		t.Fatalf("SEND went after %v, before the grace of %v", waited, r.orderGrace())
	}
	if len(c.fences) != 0 {
		t.Fatalf("%d fences left after the grace", len(c.fences))
	}
}

// Closing the client ends a SEND's wait at once.
func TestCloseEndsOrderWait(t *testing.T) {
	ob, b := newOrderBroker(t)
	r := startOrderRelay(t, b, time.Minute)
	c := r.Attach(newSink("c"))
	dest := elsewhere(t, r, c)
	if err := c.Subscribe("x", dest, nil); err != nil {
		t.Fatal(err)
	}
	sent := sendAsync(c, dest)
	ob.expect(t, "SUBSCRIBE "+dest)
	c.Close()
	select {
	case err := <-sent:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Send after Close: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send still waiting after Close")
	}
}
