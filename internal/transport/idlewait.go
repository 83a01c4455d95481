package transport

import (
	"bufio"
	"net"
	"net/http"
	"syscall"
)

// An idle WebSocket connection costs a parked reader goroutine, and its
// stack is most of what the connection costs beyond its buffers. Parked
// inside gorilla's NextReader, the reader sits a dozen frames deep
// (frame parsing, bufio, net and poll), and the runtime sizes new
// goroutines' stacks from the average it finds: at about 1.1 KiB in use
// that average tips every new goroutine, and so every connection, from
// 2 KiB to 4 KiB. The reader therefore waits for input first, a few
// frames deep, through the socket's syscall.RawConn, and calls NextReader
// only when there is something to read. What gorilla already buffered
// must not wait on the socket, so the endpoint hands gorilla a
// bufio.Reader of its own (hijackBuffer) to look into.
//
// Two assumptions hold this up: gorilla's buffer reads straight from the
// socket the waiter polls (no listener wrapper buffers in between), and
// gorilla returns to the caller between messages. It does not between
// control frames: after a WebSocket ping (which browsers and
// @stomp/stompjs do not send; they heart-beat with STOMP's EOLs) the
// reader waits inside NextReader, on a deeper stack, until the next
// message.

// hijackBuffer wraps the handshake's ResponseWriter so that the hijacked
// connection's bufio.Reader, which gorilla reuses as the connection's
// read buffer (its ReadBufferSize being 0), is one of readBufferSize
// bytes that the reader can look into. A client that sent bytes after its
// request's headers, before the handshake was answered, keeps net/http's
// reader: gorilla refuses it.
type hijackBuffer struct {
	http.ResponseWriter
	br *bufio.Reader // set by Hijack
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (h *hijackBuffer) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// Hijack implements http.Hijacker.
func (h *hijackBuffer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	c, brw, err := hj.Hijack()
	if err != nil || brw.Reader.Buffered() > 0 {
		return c, brw, err
	}
	h.br = bufio.NewReaderSize(c, readBufferSize)
	return c, bufio.NewReadWriter(h.br, brw.Writer), nil
}

// inputWaiter waits until a connection has input to read, without
// reading it.
type inputWaiter struct {
	br  *bufio.Reader   // gorilla's read buffer
	raw syscall.RawConn // nil when the connection offers none
}

// newInputWaiter returns the waiter of a connection whose read buffer
// (gorilla's) is br; nil br or a connection that is not a syscall.Conn
// make wait return at once.
func newInputWaiter(c net.Conn, br *bufio.Reader) inputWaiter {
	w := inputWaiter{br: br}
	if sc, ok := c.(syscall.Conn); ok && br != nil {
		if raw, err := sc.SyscallConn(); err == nil {
			w.raw = raw
		}
	}
	return w
}

// buffered reports whether gorilla's read buffer holds input already.
func (w inputWaiter) buffered() bool { return w.br != nil && w.br.Buffered() > 0 }

// wait returns once the connection has input: bytes buffered, or bytes,
// the end of input or an error pending on the socket. It returns too when
// the read deadline passes or the connection is closed; the next read
// then fails at once with that error.
func (w inputWaiter) wait() {
	if w.raw == nil || w.br.Buffered() > 0 {
		return
	}
	_ = w.raw.Read(socketReadable)
}
