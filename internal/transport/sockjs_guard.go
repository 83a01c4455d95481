package transport

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// What the SockJS transports read is bounded here, below sockjs-go, which
// reads a whole WebSocket message or request body before it decodes it:
//   - websocket: the hijacked connection is wrapped (guardedConn) and the
//     WebSocket frame headers the client sends are scanned; a message
//     declared longer than the limit trips the guard before its payload
//     is read, the session ends with its ERROR, and reading stops;
//   - xhr_send: the body is read by SockJS.xhrSend, bounded;
//   - the receiving HTTP transports get a write deadline per write
//     (deadlineWriter), as /ws has, so that a client that stops reading
//     cannot block the session's writer for ever.

// guardKey carries a websocket request's guard in its context, from
// ServeHTTP to the session's serve.
type guardKey struct{}

// guardWait bounds how long a tripped guard holds the read back for the
// session's ERROR and close to be written.
const guardWait = 5 * time.Second

// wsGuard is the limit of one websocket-transport connection and the
// session to tell when a message breaks it.
type wsGuard struct {
	limit uint64

	mu      sync.Mutex
	onTrip  func() // set by bind
	tripped bool
}

func newWSGuard(limit int64) *wsGuard { return &wsGuard{limit: uint64(limit)} }

// bind sets what a trip does; a trip that came first is acted on now.
func (g *wsGuard) bind(onTrip func()) {
	g.mu.Lock()
	g.onTrip = onTrip
	tripped := g.tripped
	g.mu.Unlock()
	if tripped {
		onTrip()
	}
}

// trip reports an oversized message, once.
func (g *wsGuard) trip() {
	g.mu.Lock()
	if g.tripped {
		g.mu.Unlock()
		return
	}
	g.tripped = true
	f := g.onTrip
	g.mu.Unlock()
	if f != nil {
		f()
	}
}

// hijackGuard hands gorilla a guarded connection when it hijacks the
// request.
type hijackGuard struct {
	http.ResponseWriter
	g *wsGuard
}

// Hijack implements http.Hijacker.
func (w *hijackGuard) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("sockjs: the response cannot be hijacked")
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	return &guardedConn{Conn: nc, g: w.g, released: make(chan struct{})}, brw, nil
}

// guardedConn is a websocket-transport connection whose reads are
// scanned for oversized messages. Read is called by sockjs-go's reader
// goroutine only, which alone touches the scanner; Close by its handler.
type guardedConn struct {
	net.Conn
	g        *wsGuard
	scan     frameScanner
	released chan struct{} // closed by Close
	once     sync.Once
}

// Read implements net.Conn. Once a message breaks the limit it returns
// nothing more: it waits for the session to close the connection (its
// ERROR goes out meanwhile), then fails.
func (c *guardedConn) Read(p []byte) (int, error) {
	if c.scan.over {
		return 0, c.wait()
	}
	n, err := c.Conn.Read(p)
	if n > 0 && c.scan.feed(p[:n], c.g.limit) {
		c.g.trip()
		return 0, c.wait()
	}
	return n, err
}

// wait holds a tripped read until Close or guardWait.
func (c *guardedConn) wait() error {
	t := time.NewTimer(guardWait)
	defer t.Stop()
	select {
	case <-c.released:
	case <-t.C:
	}
	return errTooBig
}

// Close implements net.Conn. It half-closes first, so that what the
// session wrote (its final ERROR and close frame) reaches the client, and
// discards what the client still sends within lingerTime and lingerBytes:
// closing a socket with unread input resets it, which can destroy that
// final ERROR in flight.
func (c *guardedConn) Close() error {
	var err error
	c.once.Do(func() {
		close(c.released)
		if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok && hc.CloseWrite() == nil {
			_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
			_, _ = io.Copy(io.Discard, io.LimitReader(c.Conn, lingerBytes))
		}
		err = c.Conn.Close()
	})
	return err
}

// frameScanner follows the WebSocket frames a client sends (RFC 6455
// section 5.2) to add up the length of each data message from the frame
// headers, before any payload is read.
type frameScanner struct {
	hdr     [14]byte
	have    int    // header bytes collected
	need    int    // header length, once its first two bytes are in
	payload uint64 // payload bytes of the current frame still to pass
	message uint64 // length of the current data message so far
	over    bool   // a message broke the limit
}

// feed scans b and reports whether a data message has become longer than
// limit.
func (s *frameScanner) feed(b []byte, limit uint64) bool {
	for len(b) > 0 && !s.over {
		if s.payload > 0 {
			k := min(uint64(len(b)), s.payload)
			s.payload -= k
			b = b[k:]
			continue
		}
		s.hdr[s.have] = b[0]
		s.have++
		b = b[1:]
		if s.have == 2 {
			s.need = 2
			switch s.hdr[1] & 0x7f {
			case 126:
				s.need += 2
			case 127:
				s.need += 8
			}
			if s.hdr[1]&0x80 != 0 {
				s.need += 4 // masking key
			}
		}
		if s.have < 2 || s.have < s.need {
			continue
		}
		s.over = s.frame(limit)
	}
	return s.over
}

// frame accounts for a complete frame header and reports whether its data
// message has become longer than limit.
func (s *frameScanner) frame(limit uint64) bool {
	var length uint64
	switch l := s.hdr[1] & 0x7f; l {
	case 126:
		length = uint64(binary.BigEndian.Uint16(s.hdr[2:4]))
	case 127:
		length = binary.BigEndian.Uint64(s.hdr[2:10])
	default:
		length = uint64(l)
	}
	s.payload = length
	s.have, s.need = 0, 0
	fin, opcode := s.hdr[0]&0x80 != 0, s.hdr[0]&0x0f
	if opcode >= 8 {
		return false // control frames stand apart from messages
	}
	if length > limit-min(s.message, limit) {
		return true
	}
	s.message += length
	if fin {
		s.message = 0
	}
	return false
}

// deadlineWriter sets a write deadline before each write and flush of a
// receiving HTTP transport's response, and tells written how many SockJS
// messages each write carried. clear removes the deadline when the
// request ends, as the connection may serve other requests.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	written func(n int)
	// holdBusy: swallow the "Another connection still open" close frame
	// and set heldBusy instead (see SockJS.receive)
	holdBusy, heldBusy bool
}

// busyFrame is what sockjs-go writes to a receiving request of a session
// that has a receiver already; eventsource prefixes it with "data: ".
var busyFrame = []byte(`c[2010,"Another connection still open"]`)

func newDeadlineWriter(w http.ResponseWriter, timeout time.Duration, written func(n int)) *deadlineWriter {
	return &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: timeout, written: written}
}

// Write implements http.ResponseWriter. sockjs-go writes each SockJS
// frame with one Write.
func (w *deadlineWriter) Write(p []byte) (int, error) {
	if w.holdBusy && bytes.Equal(bytes.TrimSpace(bytes.TrimPrefix(p, []byte("data: "))), busyFrame) {
		w.heldBusy = true
		return len(p), nil
	}
	w.arm()
	n, err := w.ResponseWriter.Write(p)
	if err == nil {
		if m := countMessages(p); m > 0 {
			w.written(m)
		}
	}
	return n, err
}

// countMessages counts the messages of a SockJS array frame as the
// receiving transports write it: a["..",".."] (xhr) or data: a[..]
// (eventsource, whose escaping leaves quotes and backslashes alone).
// Other frames (o, h, c[..]) carry none.
func countMessages(p []byte) int {
	p = bytes.TrimPrefix(p, []byte("data: "))
	if !bytes.HasPrefix(p, []byte("a[")) {
		return 0
	}
	n, in, esc := 0, false, false
	for _, b := range p[2:] {
		switch {
		case esc:
			esc = false
		case in && b == '\\':
			esc = true
		case b == '"':
			if !in {
				n++
			}
			in = !in
		case !in && b == ']':
			return n
		}
	}
	return n
}

// Flush implements http.Flusher, which sockjs-go requires.
func (w *deadlineWriter) Flush() {
	w.arm()
	_ = w.rc.Flush()
}

func (w *deadlineWriter) arm() {
	if w.timeout > 0 {
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	}
}

func (w *deadlineWriter) clear() { _ = w.rc.SetWriteDeadline(time.Time{}) }
