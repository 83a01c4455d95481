package session

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/auth"
	"chatrelay/internal/destination"
	"chatrelay/internal/relay"
	"chatrelay/internal/router"
	"chatrelay/internal/stomp"
)

// fakeConn is a Conn that records what the writer writes.
type fakeConn struct {
	mu     sync.Mutex
	writes [][]byte
	closed chan int // the close code, once
}

func newFakeConn() *fakeConn { return &fakeConn{closed: make(chan int, 1)} }

func (c *fakeConn) WriteMessage(p []byte, _ bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, append([]byte(nil), p...))
	return nil
}

func (c *fakeConn) SetReadDeadline(time.Time) error { return nil }

func (c *fakeConn) Close(code int, _ string) error {
	select {
	case c.closed <- code:
	default:
	}
	return nil
}

// recObserver records what an Observer is told.
type recObserver struct {
	mu     sync.Mutex
	events map[string]int
	lat    []time.Duration
}

func (o *recObserver) add(k string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events[k]++
}

func (o *recObserver) count(k string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.events[k]
}

func (o *recObserver) SessionOpened(t string) { o.add("opened " + t) }
func (o *recObserver) SessionClosed(t string) { o.add("closed " + t) }
func (o *recObserver) FrameReceived(c string) { o.add("in " + c) }
func (o *recObserver) FrameSent(c string)     { o.add("out " + c) }
func (o *recObserver) LimitClosed(l string)   { o.add("limit " + l) }
func (o *recObserver) SlowConsumerClosed()    { o.add("slow") }
func (o *recObserver) MessageWritten(d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lat = append(o.lat, d)
}

// newObserved returns options with obs and an /app/echo handler that
// answers a SUBSCRIBE; nothing reaches a broker.
func newObserved(t *testing.T, obs Observer) *Options {
	t.Helper()
	policy, err := destination.New(destination.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rt := router.New()
	rt.Handle("/app/echo", func(*router.Context) (any, error) { return "hi", nil })
	r := relay.New(relay.Config{}) // never started
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return &Options{
		Broker: RelayBroker(r), Policy: policy, Router: rt, Auth: auth.None{},
		Limits:         stomp.Limits{MaxFrameBytes: 1024, MaxHeaders: 16, MaxHeaderBytes: 512},
		Logger:         slog.New(slog.DiscardHandler),
		SendQueueBytes: 1 << 20,
		Observer:       obs,
	}
}

// runSession feeds frames to a new session and waits for it to end.
func runSession(t *testing.T, opts *Options, input ...string) (*fakeConn, int) {
	t.Helper()
	conn := newFakeConn()
	s := New(opts, conn, "test", stomp.V12, Handshake{Transport: "ws"}, nil)
	for _, in := range input {
		if s.Receive([]byte(in)) != nil {
			break
		}
	}
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("session did not end")
	}
	return conn, <-conn.closed
}

// TestObserver: a session reports its CONNECT and end, its frames both
// ways, the latency of the MESSAGE it wrote, and the limit that closed
// it.
func TestObserver(t *testing.T) {
	obs := &recObserver{events: map[string]int{}}
	opts := newObserved(t, obs)
	_, code := runSession(t, opts,
		"CONNECT\naccept-version:1.2\nlogin:ann\n\n\x00",
		"SUBSCRIBE\nid:1\ndestination:/app/echo\n\n\x00",
		"DISCONNECT\nreceipt:bye\n\n\x00")
	if code != CloseNormal {
		t.Fatalf("close %d", code)
	}
	for k, want := range map[string]int{
		"opened ws": 1, "closed ws": 1,
		"in CONNECT": 1, "in SUBSCRIBE": 1, "in DISCONNECT": 1,
		"out CONNECTED": 1, "out MESSAGE": 1, "out RECEIPT": 1,
	} {
		if got := obs.count(k); got != want {
			t.Errorf("%s: %d, want %d", k, got, want)
		}
	}
	if len(obs.lat) != 1 || obs.lat[0] < 0 || obs.lat[0] > 5*time.Second {
		t.Errorf("latencies %v, want one", obs.lat)
	}

	_, code = runSession(t, opts, "CONNECT\naccept-version:1.2\n\n\x00", "SEND\ndestination:/app/echo\ncontent-length:2000\n\n")
	if code != CloseTooBig || obs.count("limit "+stomp.LimitFrameBytes) != 1 || obs.count("out ERROR") != 1 {
		t.Fatalf("close %d, events %v", code, obs.events)
	}
	if obs.count("opened ws") != 2 || obs.count("closed ws") != 2 {
		t.Fatalf("sessions not balanced: %v", obs.events)
	}

	// a session that never CONNECTs is never counted open
	_, _ = runSession(t, opts, "SEND\ndestination:/app/echo\n\n\x00")
	if obs.count("opened ws") != 2 || obs.count("closed ws") != 2 {
		t.Fatalf("an unconnected session was counted: %v", obs.events)
	}
}

// TestNoObserver: without an Observer nothing is stamped or counted.
func TestNoObserver(t *testing.T) {
	conn, code := runSession(t, newObserved(t, nil),
		"CONNECT\naccept-version:1.2\n\n\x00",
		"SUBSCRIBE\nid:1\ndestination:/app/echo\n\n\x00",
		"DISCONNECT\n\n\x00")
	if code != CloseNormal || len(conn.writes) != 2 {
		t.Fatalf("close %d, %d writes", code, len(conn.writes))
	}
}
