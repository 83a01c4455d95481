package transport

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"

	"chatrelay/internal/clientaddr"
)

// Every TCP connection the server accepts, plain HTTP included, holds a
// place in the connection limits (limits.max_connections and
// limits.max_connections_per_address, per clientaddr.Key) from accept to
// close; a WebSocket upgraded on it keeps that place. A connection past
// the limits is not counted: its first request is answered with the
// refusal (429, or 503 with Retry-After) and the connection is closed. At
// most maxRefusing such connections wait for their answer at a time
// (within http.read_header_timeout); past that, refused connections are
// closed at once.

// maxRefusing bounds the refused connections held open for their answer.
const maxRefusing = 128

// TransportHTTP labels refusals of plain HTTP requests for Observer.
const TransportHTTP = "http"

// Listener returns l with every accepted connection counted in the
// limits of this endpoint and of the SockJS endpoints made from it. Serve
// with an http.Server whose ConnContext is ConnContext and whose handler
// is wrapped in Admit.
func (h *WebSocket) Listener(l net.Listener) net.Listener {
	return &countingListener{Listener: l, e: h.endpoint}
}

// countingListener counts the connections it accepts in e's limits.
type countingListener struct {
	net.Listener
	e *endpoint
}

// Accept implements net.Listener.
func (l *countingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientaddr.Key(c.RemoteAddr().String())
		status, reason := l.e.conns.acquire(key)
		if status == 0 {
			return &countedConn{Conn: c, e: l.e, key: key}, nil
		}
		if l.e.refusing.Add(1) > maxRefusing {
			l.e.refusing.Add(-1)
			l.e.observe().ConnectionRefused(TransportHTTP, refusalName(status))
			_ = c.Close()
			continue
		}
		return &countedConn{Conn: c, e: l.e, status: status, reason: reason}, nil
	}
}

// countedConn is a connection accepted by countingListener: it holds a
// place in the limits for key until Close, or (status non-zero) was
// refused one.
type countedConn struct {
	net.Conn
	e      *endpoint
	key    string
	status int    // the refusal's HTTP status; 0: counted
	reason string // the refusal's reason
	once   sync.Once
}

// counted reports whether c holds a place in the limits.
func (c *countedConn) counted() bool { return c.status == 0 }

// Close implements net.Conn and gives c's place back, once.
func (c *countedConn) Close() error {
	c.once.Do(func() {
		if c.counted() {
			c.e.conns.release(c.key)
		} else {
			c.e.refusing.Add(-1)
		}
	})
	return c.Conn.Close()
}

// CloseWrite half-closes the connection, as net.TCPConn does: net/http
// and the SockJS guard use it when they close.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// SyscallConn gives the socket to the WebSocket reader's input waiter
// (idlewait.go): countedConn buffers nothing.
func (c *countedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, syscall.EINVAL
}

// ReadFrom lets responses copy from files with the socket's own ReadFrom
// (sendfile).
func (c *countedConn) ReadFrom(r io.Reader) (int64, error) { return io.Copy(c.Conn, r) }

// connKey carries a request's countedConn in its context.
type connKey struct{}

// ConnContext is http.Server.ConnContext for connections accepted by
// Listener: it records the connection for Admit and the endpoints.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if cc, ok := c.(*countedConn); ok {
		return context.WithValue(ctx, connKey{}, cc)
	}
	return ctx
}

// connOf returns the countedConn of a request's context, or nil.
func connOf(ctx context.Context) *countedConn {
	cc, _ := ctx.Value(connKey{}).(*countedConn)
	return cc
}

// Admit wraps the server's handler: a request on a connection refused by
// Listener is answered with the refusal (429, or 503 with Retry-After,
// naming the limit) and its connection closed; others go to next.
func (h *WebSocket) Admit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cc := connOf(r.Context())
		if cc == nil || cc.counted() {
			next.ServeHTTP(w, r)
			return
		}
		transport := TransportHTTP
		switch {
		case r.URL.Path == "/ws":
			transport = TransportWebSocket
		case strings.HasPrefix(r.URL.Path, "/ws-stomp/"):
			transport = TransportSockJS
		}
		h.log.Info("connection refused", "transport", transport, "reason", cc.reason, "remote", r.RemoteAddr)
		h.observe().ConnectionRefused(transport, refusalName(cc.status))
		w.Header().Set("Connection", "close")
		if cc.status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "5")
		}
		http.Error(w, cc.reason, cc.status)
	})
}
