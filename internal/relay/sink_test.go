package relay

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/stomp"
	"chatrelay/internal/testkit"
)

// recSink is a Sink that records frames on a channel. Deliver never
// blocks; an overflow is reported by the test that owns the sink.
type recSink struct {
	name     string
	ch       chan *stomp.Frame
	mu       sync.Mutex
	overflow int
}

func newSink(name string) *recSink {
	return &recSink{name: name, ch: make(chan *stomp.Frame, 4096)}
}

func (s *recSink) Deliver(f *stomp.Frame) {
	select {
	case s.ch <- f:
	default:
		s.mu.Lock()
		s.overflow++
		s.mu.Unlock()
	}
}

// next returns the next frame, failing the test after d.
func (s *recSink) next(t testing.TB, d time.Duration) *stomp.Frame {
	t.Helper()
	select {
	case f := <-s.ch:
		return f
	case <-time.After(d):
		t.Fatalf("%s: no frame within %v", s.name, d)
		return nil
	}
}

// waitFor skips frames until one matches (an ERROR fails the test).
func (s *recSink) waitFor(t testing.TB, d time.Duration, what string, match func(*stomp.Frame) bool) *stomp.Frame {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case f := <-s.ch:
			if f.Command == stomp.ERROR {
				t.Fatalf("%s: unexpected ERROR %v %q while waiting for %s", s.name, f.Headers, f.Body, what)
			}
			if match(f) {
				return f
			}
		case <-deadline:
			t.Fatalf("%s: no %s within %v", s.name, what, d)
			return nil
		}
	}
}

// receipt waits for RECEIPT id.
func (s *recSink) receipt(t testing.TB, id string) {
	t.Helper()
	s.waitFor(t, 10*time.Second, "RECEIPT "+id, func(f *stomp.Frame) bool {
		return f.Command == stomp.RECEIPT && f.Header("receipt-id") == id
	})
}

// message waits for a MESSAGE with this body.
func (s *recSink) message(t testing.TB, d time.Duration, body string) *stomp.Frame {
	t.Helper()
	return s.waitFor(t, d, "MESSAGE "+body, func(f *stomp.Frame) bool {
		return f.Command == stomp.MESSAGE && string(f.Body) == body
	})
}

// quiet asserts that nothing arrives for d. A negative check needs a
// window; callers keep it short and only use it after a positive event.
func (s *recSink) quiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case f := <-s.ch:
		t.Fatalf("%s: unexpected %s %v %q", s.name, f.Command, f.Headers, f.Body)
	case <-time.After(d):
	}
}

// noErrors fails if an ERROR is still queued or the sink overflowed.
func (s *recSink) noErrors(t testing.TB) {
	t.Helper()
	for {
		select {
		case f := <-s.ch:
			if f.Command == stomp.ERROR {
				t.Fatalf("%s: got ERROR %v %q", s.name, f.Headers, f.Body)
			}
		default:
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.overflow > 0 {
				t.Fatalf("%s: %d frames overflowed", s.name, s.overflow)
			}
			return
		}
	}
}

// accepted returns an onAccepted callback and the channel it reports on.
func accepted() (func(error), chan error) {
	ch := make(chan error, 1)
	return func(err error) { ch <- err }, ch
}

// waitErr waits for an onAccepted result.
func waitErr(t testing.TB, ch chan error, d time.Duration) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(d):
		t.Fatalf("onAccepted not called within %v", d)
		return nil
	}
}

// switchDialer wraps a Dial function: it can refuse new connections and
// cut the open ones, to simulate a broker outage.
type switchDialer struct {
	dial  func(ctx context.Context, addr string) (net.Conn, error)
	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

var errDown = errors.New("test: broker down")

func (d *switchDialer) Dial(ctx context.Context, addr string) (net.Conn, error) {
	d.mu.Lock()
	if d.down {
		d.mu.Unlock()
		return nil, errDown
	}
	d.mu.Unlock()
	c, err := d.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.conns = append(d.conns, c)
	d.mu.Unlock()
	return c, nil
}

// setDown refuses new connections and cuts every open one (down=true), or
// lets connections in again.
func (d *switchDialer) setDown(down bool) {
	d.mu.Lock()
	d.down = down
	conns := d.conns
	if down {
		d.conns = nil
	}
	d.mu.Unlock()
	if down {
		for _, c := range conns {
			c.Close()
		}
	}
}

// waitCond is testkit.Eventually: it polls cond until it holds or d
// passes.
func waitCond(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, d, what, cond)
}

// collect waits until every matcher has matched a frame, in any order (an
// ERROR fails the test), and returns the matched frames in matcher order.
func (s *recSink) collect(t testing.TB, d time.Duration, what string, matchers ...func(*stomp.Frame) bool) []*stomp.Frame {
	t.Helper()
	got := make([]*stomp.Frame, len(matchers))
	left := len(matchers)
	deadline := time.After(d)
	for left > 0 {
		select {
		case f := <-s.ch:
			if f.Command == stomp.ERROR {
				t.Fatalf("%s: unexpected ERROR %v %q while waiting for %s", s.name, f.Headers, f.Body, what)
			}
			for i, m := range matchers {
				if got[i] == nil && m(f) {
					got[i] = f
					left--
					break
				}
			}
		case <-deadline:
			t.Fatalf("%s: %s: %d of %d frames missing after %v", s.name, what, left, len(matchers), d)
		}
	}
	return got
}

func isReceipt(id string) func(*stomp.Frame) bool {
	return func(f *stomp.Frame) bool { return f.Command == stomp.RECEIPT && f.Header("receipt-id") == id }
}

func isMessage(body string) func(*stomp.Frame) bool {
	return func(f *stomp.Frame) bool { return f.Command == stomp.MESSAGE && string(f.Body) == body }
}
