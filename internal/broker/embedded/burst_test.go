package embedded

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"chatrelay/internal/stomp"
)

// rawConn is a test's STOMP connection to the broker: frames written by
// one goroutine, read by another.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	rd *stomp.Reader
}

// dialRaw connects to b and completes CONNECT.
func dialRaw(t *testing.T, b *Broker) *rawConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, err := b.Dial(ctx, Address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawConn{t: t, nc: nc, rd: stomp.NewReader(nc, stomp.NewDecoder(stomp.Limits{MaxFrameBytes: 1 << 20}), make([]byte, 64<<10))}
	c.write(stomp.New(stomp.CONNECT, "accept-version", "1.2", "host", "/", "heart-beat", "0,0"))
	if f, err := c.next(5 * time.Second); err != nil || f.Command != stomp.CONNECTED {
		t.Fatalf("CONNECT: %v %v", f, err)
	}
	return c
}

// write writes f; it may block while the broker takes nothing.
func (c *rawConn) write(f *stomp.Frame) error {
	_, err := c.nc.Write(f.Encode(stomp.V12))
	return err
}

// next returns the next frame, failing after timeout.
func (c *rawConn) next(timeout time.Duration) (*stomp.Frame, error) {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	return c.rd.Next()
}

// subscribe subscribes and waits for a receipted BEGIN written after it
// (the broker never receipts SUBSCRIBE; it handles frames in order).
func (c *rawConn) subscribe(id, dest string) {
	c.t.Helper()
	c.write(stomp.New(stomp.SUBSCRIBE, "id", id, "destination", dest))
	c.write(stomp.New(stomp.BEGIN, "transaction", "t-"+id, "receipt", "r-"+id))
	if f, err := c.next(5 * time.Second); err != nil || f.Command != stomp.RECEIPT {
		c.t.Fatalf("SUBSCRIBE %s: %v %v", id, f, err)
	}
	c.write(stomp.New(stomp.ABORT, "transaction", "t-"+id))
}

// sendAll writes n SENDs to dest (bodies "burst-<i>-" plus pad) from a
// goroutine of its own; the returned channel yields its error or nil.
func (c *rawConn) sendAll(dest string, n int, pad []byte) <-chan error {
	done := make(chan error, 1)
	// the sending goroutine owns the connection's writes until it is done
	go func() {
		for i := range n {
			f := stomp.New(stomp.SEND, "destination", dest)
			f.Body = append(fmt.Appendf(nil, "burst-%d-", i), pad...)
			if err := c.write(f); err != nil {
				done <- fmt.Errorf("SEND %d: %w", i, err)
				return
			}
		}
		done <- nil
	}()
	return done
}

// closeAndWait closes b and waits for its broker loop to end: every
// connection, busy or not, must clean up.
func closeAndWait(t *testing.T, b *Broker) {
	t.Helper()
	b.Close()
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		t.Error("broker loop still running 10s after Close")
	}
}

// TestBurstOnOneConnection: one connection subscribes to a topic and
// writes 10,000 SENDs to it without pause, the way a relay connection
// carries its clients' traffic; it gets all 10,000 back in order.
// go-stomp's own broker loop deadlocked here after a few hundred.
func TestBurstOnOneConnection(t *testing.T) {
	b, err := Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAndWait(t, b)
	c := dialRaw(t, b)
	c.subscribe("s", "/topic/burst")
	const n = 10000
	sent := c.sendAll("/topic/burst", n, nil)
	for i := range n {
		f, err := c.next(30 * time.Second)
		if err != nil {
			t.Fatalf("after %d messages: %v", i, err)
		}
		if want := "burst-" + strconv.Itoa(i) + "-"; f.Command != stomp.MESSAGE || string(f.Body) != want {
			t.Fatalf("message %d: %s %q, want %q", i, f.Command, f.Body, want)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// TestQueueBurstManySubscriptions: 10,000 SENDs to a queue with 40 auto-ack
// subscriptions on the sending connection (more than go-stomp's 16-frame
// channel per connection) all arrive, each once.
func TestQueueBurstManySubscriptions(t *testing.T) {
	b, err := Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAndWait(t, b)
	c := dialRaw(t, b)
	const subs, n = 40, 10000
	for i := range subs {
		c.subscribe("q"+strconv.Itoa(i), "/queue/burst")
	}
	sent := c.sendAll("/queue/burst", n, nil)
	seen := make(map[string]bool, n)
	per := make(map[string]int)
	for i := range n {
		f, err := c.next(30 * time.Second)
		if err != nil {
			t.Fatalf("after %d messages: %v", i, err)
		}
		if f.Command != stomp.MESSAGE || seen[string(f.Body)] {
			t.Fatalf("message %d: %s %q (a repeat?)", i, f.Command, f.Body)
		}
		seen[string(f.Body)] = true
		per[f.Header("subscription")]++
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if len(per) != subs {
		t.Fatalf("%d subscriptions got messages, want %d: %v", len(per), subs, per)
	}
}

// TestFlowPausesPublisher: a subscriber that stops reading makes the
// broker stop reading its publisher once HighWater bytes wait (the
// publisher's writes block), and nothing is lost: when the subscriber
// reads again it gets every message in order and the publisher finishes.
func TestFlowPausesPublisher(t *testing.T) {
	b, err := Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAndWait(t, b)
	sub, pub := dialRaw(t, b), dialRaw(t, b)
	sub.subscribe("s", "/topic/flow")
	pad := bytes.Repeat([]byte("p"), 64<<10)
	n := 2 * HighWater / len(pad) // twice what may wait
	sent := pub.sendAll("/topic/flow", n, pad)

	deadline := time.Now().Add(30 * time.Second)
	for !b.ln.flow.isPaused() {
		if time.Now().After(deadline) {
			t.Fatal("the broker never paused its readers")
		}
		select {
		case err := <-sent:
			t.Fatalf("the publisher wrote all %d frames (%v) with nobody reading", n, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if p := b.ln.flow.waiting(); p > HighWater+2*len(pad) {
		t.Fatalf("%d bytes waiting, over HighWater %d", p, HighWater)
	}
	for i := range n {
		f, err := sub.next(30 * time.Second)
		if err != nil {
			t.Fatalf("after %d messages: %v", i, err)
		}
		if !bytes.HasPrefix(f.Body, []byte("burst-"+strconv.Itoa(i)+"-")) {
			t.Fatalf("message %d: %.40q", i, f.Body)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	// the last frames are uncounted just after their push returns
	for p := b.ln.flow.waiting(); p != 0; p = b.ln.flow.waiting() {
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatalf("%d bytes still counted as waiting", p)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBurstFromSeveralConnections: four connections subscribe to one
// topic and each writes 2,500 SENDs to it at once; each gets all 10,000,
// every sender's in order.
func TestBurstFromSeveralConnections(t *testing.T) {
	b, err := Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAndWait(t, b)
	const conns, each = 4, 2500
	cs := make([]*rawConn, conns)
	for i := range cs {
		cs[i] = dialRaw(t, b)
		cs[i].subscribe("s", "/topic/several")
	}
	sent := make([]<-chan error, conns)
	for i, c := range cs {
		sent[i] = c.sendAll("/topic/several", each, []byte("from-"+strconv.Itoa(i)))
	}
	got := make(chan error, conns)
	for _, c := range cs {
		// each reading goroutine owns its connection's reads
		go func() { got <- c.readFrom(conns, each) }()
	}
	for range conns {
		if err := <-got; err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range sent {
		if err := <-s; err != nil {
			t.Fatal(err)
		}
	}
}

// readFrom reads senders*each MESSAGEs whose bodies are "burst-<i>-from-<k>"
// and checks that each sender k's come in order.
func (c *rawConn) readFrom(senders, each int) error {
	next := make([]int, senders)
	for n := range senders * each {
		f, err := c.next(30 * time.Second)
		if err != nil {
			return fmt.Errorf("after %d messages: %w", n, err)
		}
		var i, k int
		if _, err := fmt.Sscanf(string(f.Body), "burst-%d-from-%d", &i, &k); err != nil || k < 0 || k >= senders || i != next[k] {
			return fmt.Errorf("message %d: %q (%v), want burst-%d from %d", n, f.Body, err, next[min(max(k, 0), senders-1)], k)
		}
		next[k]++
	}
	return nil
}
