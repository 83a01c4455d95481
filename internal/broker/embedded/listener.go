package embedded

import (
	"context"
	"errors"
	"net"
	"sync"
)

// memAddr is the address of the in-memory listener.
type memAddr struct{}

// Network returns "memory".
func (memAddr) Network() string { return "memory" }

// String returns Address.
func (memAddr) String() string { return Address }

// errListenerClosed is returned by Accept and Dial after Close. It is not a
// net.Error, so go-stomp's accept loop treats it as final.
var errListenerClosed = errors.New("embedded broker closed")

// memListener is a net.Listener whose connections are net.Pipe pairs: Dial
// hands the server end to Accept. It tracks the open server ends so that
// Close can cut every connection.
type memListener struct {
	accept chan net.Conn
	done   chan struct{}
	flow   *flow // gates the server ends' reads

	mu     sync.Mutex
	closed bool
	conns  map[*trackedConn]struct{}
}

func newMemListener(f *flow) *memListener {
	return &memListener{
		accept: make(chan net.Conn),
		done:   make(chan struct{}),
		flow:   f,
		conns:  make(map[*trackedConn]struct{}),
	}
}

// Accept waits for the next Dial.
func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.done:
		return nil, errListenerClosed
	}
}

// Close stops Accept and Dial and closes every open connection.
func (l *memListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	for c := range conns {
		c.Close()
	}
	return nil
}

// Addr returns the listener's address.
func (l *memListener) Addr() net.Addr { return memAddr{} }

// dial makes a pipe and waits (bounded by ctx) for the server to accept
// its end.
func (l *memListener) dial(ctx context.Context) (net.Conn, error) {
	client, server := net.Pipe()
	tc := &trackedConn{Conn: server, l: l, closed: make(chan struct{})}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, errListenerClosed
	}
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	select {
	case l.accept <- tc:
		return client, nil
	case <-l.done:
	case <-ctx.Done():
	}
	tc.Close()
	client.Close()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, errListenerClosed
}

// trackedConn is the server end of a pipe; it leaves the listener's set
// when closed. Its reads wait while the broker's flow is paused.
type trackedConn struct {
	net.Conn
	l      *memListener
	once   sync.Once
	closed chan struct{} // closed by Close
}

// Read waits until the broker takes frames again (see HighWater), then
// reads from the pipe.
func (c *trackedConn) Read(p []byte) (int, error) {
	if !c.l.flow.wait(c.closed) {
		return 0, net.ErrClosed
	}
	return c.Conn.Read(p)
}

// Close closes the pipe end and forgets it.
func (c *trackedConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
