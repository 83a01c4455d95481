package transport

import (
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"chatrelay/internal/session"
	"chatrelay/internal/stomp"
)

// Subprotocols are the STOMP WebSocket subprotocols, in preference order.
var Subprotocols = []string{"v12.stomp", "v11.stomp", "v10.stomp"}

// TokenCarriers name where a WebSocket handshake may carry a bearer token
// for the session's CONNECT: a query parameter, then a cookie. An empty
// name disables that carrier; the zero value reads no token.
type TokenCarriers struct {
	QueryParam string
	Cookie     string
}

// token returns the handshake's token, "" when it carries none.
func (tc TokenCarriers) token(r *http.Request) string {
	if tc.QueryParam != "" {
		if t := r.URL.Query().Get(tc.QueryParam); t != "" {
			return t
		}
	}
	if tc.Cookie != "" {
		if c, err := r.Cookie(tc.Cookie); err == nil && c.Value != "" {
			return c.Value
		}
	}
	return ""
}

// Reading and closing bounds of every connection.
const (
	// readChunk is how much of a WebSocket message is read and decoded
	// at a time: a message is never held whole, so its size costs no
	// memory before the limits refuse it. The chunk comes from chunkPool
	// once a message has begun, so an idle connection holds none.
	readChunk = 8 << 10
	// readBufferSize is gorilla's buffered reader per connection (made by
	// hijackBuffer), which an idle connection keeps: it need only hold
	// frame headers and control frames (at most 125 bytes of payload),
	// since a payload read of readChunk bytes goes to the socket directly
	// once what is buffered has been taken. gorilla reuses the hijacked
	// reader only when it is larger than 256 bytes (checked below); 288
	// is the next allocation size class (512 cost an idle connection 224
	// bytes more; a message longer than the buffer costs one more read).
	readBufferSize = 288
	// writeBufferSize is gorilla's write buffer, taken from
	// writeBufferPool for the length of one message only.
	writeBufferSize = 4 << 10
	// lingerTime bounds how long a closing connection waits for the
	// client's close frame while discarding what it still sends, and
	// lingerBytes how much it discards: closing a socket with unread
	// input resets it, which can destroy the final ERROR in flight.
	lingerTime  = time.Second
	lingerBytes = 16 << 20
)

// gorilla v1.5.3 reuses a hijacked reader of more than 256 bytes and
// makes its own otherwise, which inputWaiter could not look into: this
// fails to compile when readBufferSize is too small.
const _ = uint(readBufferSize - 257)

// chunkPool holds the readChunk buffers read loops decode messages from.
var chunkPool = sync.Pool{New: func() any {
	b := make([]byte, readChunk)
	return &b
}}

// writeBufferPool lends gorilla its write buffers while a message is
// written, so idle connections hold none.
var writeBufferPool = &sync.Pool{}

// WebSocket is the http.Handler of the /ws endpoint.
type WebSocket struct {
	*endpoint
	upgrader websocket.Upgrader
}

// WebSocketOptions configure a WebSocket endpoint and the SockJS
// endpoints made from it. Every field is required but Tokens.
type WebSocketOptions struct {
	// Origins decides which Origin headers may open a connection.
	Origins *OriginChecker
	// Limits are checked at each handshake.
	Limits HandshakeLimits
	// MaxMessage bounds one WebSocket message (a frame plus a little
	// slack for heart-beats).
	MaxMessage int64
	// WriteTimeout bounds one write to the client.
	WriteTimeout time.Duration
	// Tokens says where the handshake may carry a bearer token.
	Tokens TokenCarriers
	// Log is where the endpoint logs the connections it refuses.
	Log *slog.Logger
	// NewSession creates the session of each accepted connection.
	NewSession SessionFactory
}

// NewWebSocket returns the endpoint handler.
func NewWebSocket(o WebSocketOptions) *WebSocket {
	return &WebSocket{
		endpoint: &endpoint{
			origins:      o.Origins,
			limits:       o.Limits,
			conns:        newConnLimiter(o.Limits),
			maxMessage:   o.MaxMessage,
			writeTimeout: o.WriteTimeout,
			tokens:       o.Tokens,
			newSession:   o.NewSession,
			log:          o.Log,
		},
		upgrader: websocket.Upgrader{
			ReadBufferSize:  0, // reuse hijackBuffer's reader
			WriteBufferSize: writeBufferSize,
			WriteBufferPool: writeBufferPool,
			Subprotocols:    Subprotocols,
			CheckOrigin:     o.Origins.Check,
		},
	}
}

// SetObserver makes o (which may be nil) observe the connections of this
// endpoint and of every SockJS endpoint made from it. Call it before
// serving.
func (h *WebSocket) SetObserver(o Observer) {
	if o == nil {
		h.observer.Store(nil)
		return
	}
	h.observer.Store(&o)
}

// Connections returns how many places of the replica's connection limits
// are held: by TCP connections accepted through Listener, by SockJS
// sessions of the HTTP transports, and by WebSockets served without
// Listener. This endpoint and the SockJS endpoints made from it share
// them.
func (h *WebSocket) Connections() int { return h.conns.count() }

// ServeHTTP checks the handshake, upgrades the request, creates the
// session and starts the goroutine that reads the connection. It returns
// once the connection is handed over, so that net/http's per-request
// state (buffers, request, the handler goroutine's grown stack) is not
// kept for the connection's life.
func (h *WebSocket) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.checkOrigin(w, r, TransportWebSocket) {
		return
	}
	if h.limits.RequireSubprotocol && !offersSubprotocol(r) {
		h.observe().ConnectionRefused(TransportWebSocket, RefusedSubprotocol)
		http.Error(w, "a STOMP subprotocol (v12.stomp, v11.stomp or v10.stomp) is required", http.StatusBadRequest)
		return
	}
	sl, status, reason := h.acquire(r, TransportWebSocket, false)
	if status != 0 {
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "5")
		}
		http.Error(w, reason, status)
		return
	}
	hb := &hijackBuffer{ResponseWriter: w}
	ws, err := h.upgrader.Upgrade(hb, r, nil)
	if err != nil {
		h.release(sl, TransportWebSocket)
		return // the upgrader has answered
	}
	version := stomp.V12
	switch ws.Subprotocol() {
	case "v10.stomp":
		version = stomp.V10
	case "v11.stomp":
		version = stomp.V11
	}
	c := &wsConn{ws: ws, writeTimeout: h.writeTimeout, h: h, slot: sl,
		in: newInputWaiter(ws.UnderlyingConn(), hb.br)}
	c.s = h.newSession(c, r.RemoteAddr, version, session.Handshake{Token: h.tokens.token(r), Transport: TransportWebSocket, AcceptLanguage: acceptLanguage(r)})
	go c.readNext()
}

// readNext is the goroutine that reads the connection, one message at a
// time: it owns the connection's reads while it runs. It waits for the
// next message, hands it to the session readChunk bytes at a time, and
// then hands reading over to a fresh goroutine and ends. Handling a
// message (CONNECT, SUBSCRIBE) runs deep and grows the stack to several
// KiB, which the runtime does not shrink back below 4 KiB (it halves a
// stack only when what is in use plus an 800-byte guard is under a
// quarter of it, and a waiting reader uses more than 224 bytes); a
// reader that ends after each message leaves that stack behind. When
// nothing more is buffered the connection parks (idlepark.go): an idle
// connection has no reader at all until input, its read deadline or
// Close starts one.
//
// When the session or the connection ends, the last reader drains what
// the client still sends, tells Close that reading is over, waits for the
// session to end and releases the connection's place in the limits.
func (c *wsConn) readNext() {
	if c.readOne() {
		if c.in.buffered() {
			go c.readNext()
		} else {
			c.park() // idlepark.go: no goroutine waits for the next message
		}
		return
	}
	c.endReading()
	drain(c.ws)
	c.mu.Lock()
	c.readOver = true
	if c.readDone != nil {
		close(c.readDone)
	}
	c.mu.Unlock()
	<-c.s.Done()
	c.h.release(c.slot, TransportWebSocket)
}

// readOne waits for input (see inputWaiter), then reads one message and
// hands it to the session; it reports whether reading goes on. A message
// longer than maxMessage ends the session with an ERROR (gorilla's own
// read limit is not used: it closes with 1009 before the client can be
// told why).
func (c *wsConn) readOne() bool {
	// After a failed wait (the deadline passed, the connection closed)
	// NextReader fails at once and gorilla keeps the error, so that
	// drain does not wait for the client again.
	c.in.wait()
	_, r, err := c.ws.NextReader()
	if err != nil {
		c.s.ReadFailed(err)
		return false
	}
	return c.h.readMessage(r, c.s)
}

// readMessage hands the message r to s in chunks borrowed from chunkPool
// for the message's length only. It reports whether reading goes on.
func (h *WebSocket) readMessage(r io.Reader, s Handler) bool {
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	var size int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if size += int64(n); size > h.maxMessage {
				s.MessageTooBig(h.maxMessage)
				return false
			}
			if s.Receive(buf[:n]) != nil {
				return false
			}
		}
		if err == io.EOF {
			return true
		}
		if err != nil {
			s.ReadFailed(err)
			return false
		}
	}
}

// drain discards what the client still sends once the session stopped
// reading, until the client answers the close or goes away, within
// lingerTime and lingerBytes.
func drain(ws *websocket.Conn) {
	_ = ws.SetReadDeadline(time.Now().Add(lingerTime))
	var total int64
	for total < lingerBytes {
		_, r, err := ws.NextReader()
		if err != nil {
			return
		}
		n, err := io.Copy(io.Discard, io.LimitReader(r, lingerBytes-total))
		total += n
		if err != nil {
			return
		}
	}
}

// wsConn adapts a gorilla connection to session.Conn. Writes come from the
// session's writer goroutine only; closeOnce guards the close handshake.
// The last reader (readNext) sets readOver, and closes readDone if Close
// made it to wait on, when it stops reading.
type wsConn struct {
	ws           *websocket.Conn
	writeTimeout time.Duration
	closeOnce    sync.Once
	readDone     chan struct{} // made by Close, under mu (an idle connection keeps none)
	readOver     bool          // reading has ended, under mu

	// what the reader needs: the endpoint, the session, the place held
	// in the endpoint's limits, and how to wait for input
	h    *WebSocket
	s    Handler
	slot slot
	in   inputWaiter

	mu      sync.Mutex // orders SetReadDeadline with Close and park
	closing bool

	parkState // the reader's parking (idlepark.go)
}

// WriteMessage implements session.Conn: a text message when the session
// says p may be one (valid UTF-8, see session/textframes.go), binary
// otherwise.
func (c *wsConn) WriteMessage(p []byte, text bool) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	typ := websocket.BinaryMessage
	if text {
		typ = websocket.TextMessage
	}
	return c.ws.WriteMessage(typ, p)
}

// BatchFrames implements session.Batcher: STOMP over WebSocket clients
// read several frames from one message.
func (c *wsConn) BatchFrames() bool { return true }

// SetReadDeadline implements session.Conn. Once closing, the deadline
// set by Close stays.
func (c *wsConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return nil
	}
	c.deadline = t
	return c.ws.SetReadDeadline(t)
}

// Close implements session.Conn: a close frame with code and reason;
// then, within lingerTime, the read loop's end (the client's answering
// close frame, normally); then the TCP connection.
func (c *wsConn) Close(code int, reason string) error {
	var err error
	c.closeOnce.Do(func() {
		msg := websocket.FormatCloseMessage(code, reason)
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		c.mu.Lock()
		c.closing = true
		_ = c.ws.SetReadDeadline(time.Now().Add(lingerTime))
		if !c.readOver {
			c.readDone = make(chan struct{})
		}
		readDone := c.readDone // nil: reading is over already
		c.mu.Unlock()
		c.wake() // a parked connection gets a reader to see the close
		if readDone != nil {
			t := time.NewTimer(lingerTime + 100*time.Millisecond)
			select {
			case <-readDone:
			case <-t.C:
			}
			t.Stop()
		}
		err = c.ws.Close()
	})
	return err
}
