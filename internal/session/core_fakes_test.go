package session

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/auth"
	"chatrelay/internal/destination"
	"chatrelay/internal/relay"
	"chatrelay/internal/router"
	"chatrelay/internal/stomp"
)

// The session core's unit tests (core_test.go) run a real Session
// against a fake upstream and a fake socket: no broker, no network.

// fakeBroker is a Broker whose one upstream is up.
type fakeBroker struct{ up *fakeUpstream }

func (b *fakeBroker) Attach(sink relay.Sink) Upstream {
	b.up.mu.Lock()
	b.up.sink = sink
	b.up.mu.Unlock()
	return b.up
}

func (b *fakeBroker) Publish(string, stomp.Headers, []byte, func(error)) error { return nil }

// fakeUpstream records what the session asks of the relay, in order, and
// answers receipts as the broker would: at once, or, while held, when the
// test pays them.
type fakeUpstream struct {
	mu        sync.Mutex
	sink      relay.Sink
	calls     []string
	hold      bool     // receipts wait for pay
	owed      []string // receipts held
	sendErr   error    // what Send returns
	commitErr error    // what Commit returns
	closed    bool
}

// record notes a call and answers its receipt (outside the lock: the
// sink takes the session's locks).
func (u *fakeUpstream) record(call, receipt string) {
	u.mu.Lock()
	u.calls = append(u.calls, call)
	sink, hold := u.sink, u.hold
	if receipt != "" && hold {
		u.owed = append(u.owed, receipt)
	}
	u.mu.Unlock()
	if receipt != "" && !hold {
		sink.Deliver(stomp.New(stomp.RECEIPT, "receipt-id", receipt))
	}
}

// pay delivers the held receipts, in order.
func (u *fakeUpstream) pay() {
	u.mu.Lock()
	owed, sink := u.owed, u.sink
	u.owed = nil
	u.mu.Unlock()
	for _, r := range owed {
		sink.Deliver(stomp.New(stomp.RECEIPT, "receipt-id", r))
	}
}

// deliver hands the session a frame from the broker.
func (u *fakeUpstream) deliver(f *stomp.Frame) {
	u.mu.Lock()
	sink := u.sink
	u.mu.Unlock()
	sink.Deliver(f)
}

func (u *fakeUpstream) log() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.calls...)
}

func (u *fakeUpstream) Subscribe(id, dest string, h stomp.Headers) error {
	u.record("SUBSCRIBE "+id+" "+dest, h.Value("receipt"))
	return nil
}

func (u *fakeUpstream) Unsubscribe(id, receipt string) error {
	u.record("UNSUBSCRIBE "+id, receipt)
	return nil
}

func (u *fakeUpstream) UnsubscribeDurable(id, receipt string) error {
	u.record("UNSUBSCRIBE-DURABLE "+id, receipt)
	return nil
}

func (u *fakeUpstream) Send(dest string, h stomp.Headers, body []byte) error {
	u.mu.Lock()
	err := u.sendErr
	u.mu.Unlock()
	if err != nil {
		u.record("SEND "+dest+" refused", "")
		return err
	}
	u.record(fmt.Sprintf("SEND %s %s tx=%s", dest, body, h.Value("transaction")), h.Value("receipt"))
	return nil
}

func (u *fakeUpstream) Ack(h stomp.Headers) error {
	u.record("ACK "+h.Value("id"), h.Value("receipt"))
	return nil
}

func (u *fakeUpstream) Nack(h stomp.Headers) error {
	u.record("NACK "+h.Value("id"), h.Value("receipt"))
	return nil
}

func (u *fakeUpstream) Begin(tx, receipt string) error {
	u.record("BEGIN "+tx, receipt)
	return nil
}

func (u *fakeUpstream) Commit(tx, receipt string) error {
	u.mu.Lock()
	err := u.commitErr
	u.mu.Unlock()
	if err != nil {
		u.record("COMMIT "+tx+" refused", "")
		return err
	}
	u.record("COMMIT "+tx, receipt)
	return nil
}

func (u *fakeUpstream) Abort(tx, receipt string) error {
	u.record("ABORT "+tx, receipt)
	return nil
}

func (u *fakeUpstream) AwaitOrder() {}

func (u *fakeUpstream) Close() {
	u.mu.Lock()
	u.closed = true
	u.mu.Unlock()
}

// coreConn is a Conn that decodes what the writer writes into frames
// and heart-beats; writes wait while it is blocked (a client that does
// not read).
type coreConn struct {
	mu        sync.Mutex
	dec       *stomp.Decoder
	blocked   chan struct{} // while not nil, writes wait for it to close
	frames    chan *stomp.Frame
	beats     chan struct{}
	deadlines chan time.Time
	closed    chan int
}

func newCoreConn() *coreConn {
	return &coreConn{
		dec:       stomp.NewDecoder(stomp.Limits{MaxFrameBytes: 1 << 20}),
		frames:    make(chan *stomp.Frame, 4096),
		beats:     make(chan struct{}, 1024),
		deadlines: make(chan time.Time, 1024),
		closed:    make(chan int, 1),
	}
}

// block makes writes wait until the returned function is called.
func (c *coreConn) block() (unblock func()) {
	ch := make(chan struct{})
	c.mu.Lock()
	c.blocked = ch
	c.mu.Unlock()
	return func() { close(ch) }
}

func (c *coreConn) WriteMessage(p []byte, _ bool) error {
	c.mu.Lock()
	blocked := c.blocked
	c.mu.Unlock()
	if blocked != nil {
		<-blocked
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(bytes.Trim(p, "\r\n")) == 0 {
		select {
		case c.beats <- struct{}{}:
		default:
		}
		return nil
	}
	if err := c.dec.Feed(p); err != nil {
		return err
	}
	for {
		f, err := c.dec.Next()
		if err != nil || f == nil {
			return err
		}
		c.frames <- f
	}
}

func (c *coreConn) SetReadDeadline(t time.Time) error {
	select {
	case c.deadlines <- t:
	default:
	}
	return nil
}

func (c *coreConn) Close(code int, _ string) error {
	select {
	case c.closed <- code:
	default:
	}
	return nil
}

// coreWait bounds every wait of the core tests: far above what the
// session needs, far below the 5 s the whole run may take.
const coreWait = 2 * time.Second

// core is one session under test with its fakes.
type core struct {
	t    *testing.T
	s    *Session
	conn *coreConn
	up   *fakeUpstream
	opts *Options
}

// newCore starts a session (subprotocol v) with options edited by edit.
func newCore(t *testing.T, v stomp.Version, edit func(*Options)) *core {
	t.Helper()
	policy, err := destination.New(destination.Config{
		ClientSend:      []string{"/app/**", "/topic/**"},
		ClientSubscribe: []string{"/topic/**", "/app/**"},
	})
	if err != nil {
		t.Fatal(err)
	}
	up := &fakeUpstream{}
	opts := &Options{
		Broker: &fakeBroker{up: up}, Policy: policy, Router: router.New(), Auth: auth.None{},
		Limits:         stomp.Limits{MaxFrameBytes: 64 << 10, MaxHeaders: 32, MaxHeaderBytes: 2048},
		Logger:         slog.New(slog.DiscardHandler),
		SendQueueBytes: 1 << 20,
	}
	if edit != nil {
		edit(opts)
	}
	c := &core{t: t, conn: newCoreConn(), up: up, opts: opts}
	c.s = New(opts, c.conn, "test", v, Handshake{Transport: "ws"}, nil)
	t.Cleanup(func() {
		c.s.Shutdown()
		select {
		case <-c.s.Done():
		case <-time.After(coreWait):
			t.Error("session did not end")
		}
	})
	return c
}

// in hands the session one transport message and returns its verdict.
func (c *core) in(frames ...string) error {
	c.t.Helper()
	return c.s.Receive([]byte(strings.Join(frames, "")))
}

// frame builds a client frame: command, "key:value" headers, body.
func frame(command, body string, headers ...string) string {
	var b bytes.Buffer
	b.WriteString(command + "\n")
	for _, h := range headers {
		b.WriteString(h + "\n")
	}
	b.WriteString("\n" + body + "\x00")
	return b.String()
}

// next returns the next frame the session wrote.
func (c *core) next() *stomp.Frame {
	c.t.Helper()
	select {
	case f := <-c.conn.frames:
		return f
	case <-time.After(coreWait):
		c.t.Fatal("no frame written")
		return nil
	}
}

// expect returns the next frame, failing unless it is a command with
// every "key:value" in headers.
func (c *core) expect(command string, headers ...string) *stomp.Frame {
	c.t.Helper()
	f := c.next()
	if f.Command != command {
		c.t.Fatalf("got %s %v %q, want %s", f.Command, f.Headers, f.Body, command)
	}
	for _, kv := range headers {
		k, v, _ := strings.Cut(kv, ":")
		if got, ok := f.Headers.Get(k); !ok || got != v {
			c.t.Fatalf("%s header %s = %q, want %q (headers %v)", command, k, got, v, f.Headers)
		}
	}
	return f
}

// closedWith waits for the socket's close and checks its code.
func (c *core) closedWith(code int) {
	c.t.Helper()
	select {
	case got := <-c.conn.closed:
		if got != code {
			c.t.Fatalf("closed with %d, want %d", got, code)
		}
	case <-time.After(coreWait):
		c.t.Fatalf("not closed (want %d)", code)
	}
}

// quiet checks that the socket is open and nothing more was written.
func (c *core) quiet() {
	c.t.Helper()
	select {
	case code := <-c.conn.closed:
		c.t.Fatalf("closed with %d", code)
	case f := <-c.conn.frames:
		c.t.Fatalf("unexpected %s %v", f.Command, f.Headers)
	default:
	}
}

// connect sends CONNECT with headers and returns the CONNECTED frame.
func (c *core) connect(headers ...string) *stomp.Frame {
	c.t.Helper()
	if err := c.in(frame("CONNECT", "", append([]string{"accept-version:1.0,1.1,1.2", "login:ann"}, headers...)...)); err != nil {
		c.t.Fatalf("CONNECT: %v", err)
	}
	return c.expect("CONNECTED")
}

// ended checks that the last input ended the session.
func (c *core) ended(err error) {
	c.t.Helper()
	if err == nil {
		c.t.Fatal("the session goes on")
	}
}
