package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/igm/sockjs-go/v3/sockjs"

	"chatrelay/internal/session"
	"chatrelay/internal/stomp"
)

// SockJS serves STOMP over SockJS (github.com/igm/sockjs-go), for clients
// such as `new SockJS("/ws-stomp")` with @stomp/stompjs. It carries the
// same sessions as the WebSocket endpoint it is made from, under the same
// origin allowlist, connection limits, message limit and token carriers.
//
// One SockJS message is one chunk of the STOMP byte stream, as one
// WebSocket message is on /ws: it may hold part of a frame, several
// frames or heart-beats, and may not be longer than the WebSocket
// endpoint's message limit (limits.max_frame_bytes plus 1024 bytes).
// What a transport reads before the library hands messages over is
// bounded too (see rawLimit). SockJS is a text protocol: a frame body
// that is not valid UTF-8 does not survive it.
//
// The transports offered are websocket, xhr-streaming, xhr-polling and
// eventsource. JSONP and htmlfile are disabled and the iframe page is not
// served: their requests carry no Origin header for the allowlist to
// check, and the iframe page would load the client library from another
// site. Every request with a refused Origin gets 403. Every request of an
// HTTP transport's session must come from the client that opened it (see
// sockjs_binding.go); any other gets 404.
type SockJS struct {
	*endpoint
	prefix   string
	handler  *sockjs.Handler
	rawLimit int64
	log      *slog.Logger

	owners *bindings // the client of each HTTP-transport session (sockjs_binding.go)

	mu      sync.Mutex
	byID    map[string]*sockjsConn // sessions of the HTTP transports, by SockJS session id
	live    map[*sockjsConn]struct{}
	closing bool
}

// SockJS timings: sockjs-go's defaults, which match the SockJS protocol's
// reference server.
const (
	// sockjsHeartbeat is how often the server sends SockJS's own "h"
	// frame, which keeps proxies from closing idle streaming requests.
	// STOMP heart-beats, when negotiated, run on top as usual.
	sockjsHeartbeat = 25 * time.Second
	// sockjsDisconnect is how long a session of an HTTP transport lives
	// without a receiving request from its client.
	sockjsDisconnect = 5 * time.Second
)

// sessionPath matches a SockJS session request below the prefix:
// /{server}/{session}/{transport}.
var sessionPath = regexp.MustCompile(`^/([^/.]+)/([^/.]+)/([a-z_]+)$`)

// NewSockJS returns the SockJS endpoint served at prefix (such as
// "/ws-stomp"; mount it at prefix + "/"). It shares ws's settings,
// connection limits, observer and session factory.
func NewSockJS(prefix string, ws *WebSocket, log *slog.Logger) *SockJS {
	h := &SockJS{
		endpoint: ws.endpoint,
		prefix:   strings.TrimRight(prefix, "/"),
		rawLimit: rawLimit(ws.maxMessage),
		log:      log,
		owners:   newBindings(),
		byID:     map[string]*sockjsConn{},
		live:     map[*sockjsConn]struct{}{},
	}
	opts := sockjs.DefaultOptions
	opts.Websocket = true
	opts.RawWebsocket = false
	opts.WebsocketUpgrader = &websocket.Upgrader{
		// set sizes keep gorilla from reading through the hijacked
		// connection's own buffer, around the guard
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
		CheckOrigin:     ws.origins.Check,
	}
	opts.WebsocketWriteTimeout = ws.writeTimeout
	opts.CheckOrigin = ws.origins.Check
	opts.HeartbeatDelay = sockjsHeartbeat
	opts.DisconnectDelay = sockjsDisconnect
	opts.DisableJSONP = true
	opts.DisableHtmlFile = true
	opts.SockJSURL = ""
	// a JSessionID hook makes /info say cookie_needed: true (the session
	// cookie is set by ServeHTTP, not here)
	opts.JSessionID = func(http.ResponseWriter, *http.Request) {}
	h.handler = sockjs.NewHandler(h.prefix, opts, h.serve)
	return h
}

// rawLimit bounds what one transport request or WebSocket message may
// carry before it is decoded into SockJS messages: JSON escaping turns one
// byte into at most six, so a message within maxMessage always fits.
func rawLimit(maxMessage int64) int64 { return 6*maxMessage + 1024 }

// ServeHTTP checks the Origin of every request, refuses what is not
// offered, bounds what the transports read, and hands the rest to
// sockjs-go.
func (h *SockJS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.checkOrigin(w, r, TransportSockJS) {
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, h.prefix)
	if strings.HasPrefix(rest, "/iframe") {
		http.NotFound(w, r)
		return
	}
	m := sessionPath.FindStringSubmatch(rest)
	if m == nil {
		h.handler.ServeHTTP(w, r)
		return
	}
	switch id, kind := m[2], m[3]; {
	case kind == "websocket":
		g := newWSGuard(h.rawLimit)
		r = r.WithContext(context.WithValue(r.Context(), guardKey{}, g))
		h.handler.ServeHTTP(&hijackGuard{ResponseWriter: w, g: g}, r)
	case kind == "xhr_send" && r.Method == http.MethodPost:
		if h.admit(w, r, id, false) {
			h.xhrSend(w, r, id)
		}
	case (kind == "xhr" || kind == "xhr_streaming") && r.Method == http.MethodPost,
		kind == "eventsource" && r.Method == http.MethodGet:
		if h.admit(w, r, id, true) {
			h.receive(w, r, id)
		}
	default:
		h.handler.ServeHTTP(w, r) // OPTIONS preflights, refused methods
	}
}

// admit lets a request of an HTTP transport reach session id only from
// the client that opened it (see bindings); an opening request (opens)
// of a new session gets the cookie that binds it. Any other request is
// answered 404, the answer for a session that does not exist.
func (h *SockJS) admit(w http.ResponseWriter, r *http.Request, id string, opens bool) bool {
	token, ok := h.owners.admit(r, id, opens)
	if !ok {
		h.log.Info("sockjs request refused: not from the session's client", "session", id, "remote", r.RemoteAddr)
		http.NotFound(w, r)
		return false
	}
	if token != "" {
		setSessionCookie(w, token)
	}
	return true
}

// xhrSend reads an xhr_send request's body (a JSON array of messages),
// at most rawLimit bytes of it, before sockjs-go decodes it. A longer
// body ends the session with the ERROR naming the limit; the request
// itself is answered 204 then, so that the client goes on reading the
// ERROR from its receiving request.
func (h *SockJS) xhrSend(w http.ResponseWriter, r *http.Request, id string) {
	var body []byte
	var err error
	if r.ContentLength <= h.rawLimit {
		body, err = io.ReadAll(io.LimitReader(r.Body, h.rawLimit+1))
		if err != nil {
			http.Error(w, "cannot read the request body", http.StatusBadRequest)
			return
		}
	}
	if r.ContentLength > h.rawLimit || int64(len(body)) > h.rawLimit {
		c := h.lookup(id)
		if c == nil {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		c.tooBig()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	h.handler.ServeHTTP(w, r)
}

// receive serves a receiving request of an HTTP transport, with a write
// deadline per write, counting the messages it writes.
//
// sockjs-go detaches a request's receiver on a goroutine of its own once
// the request is answered: a client that polls again at once can find the
// old receiver still attached and be told "Another connection still open"
// (close 2010), which ends its session. A request that meets that is
// served again after 1, 2, 4, 8 and 16 ms before the refusal goes out.
func (h *SockJS) receive(w http.ResponseWriter, r *http.Request, id string) {
	dw := newDeadlineWriter(w, h.writeTimeout, func(n int) {
		if c := h.lookup(id); c != nil {
			c.delivered(n)
		}
	})
	defer dw.clear()
	for wait := time.Millisecond; ; wait *= 2 {
		dw.holdBusy = wait <= maxBusyWait
		h.handler.ServeHTTP(dw, r)
		if !dw.heldBusy {
			return
		}
		dw.heldBusy = false
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
}

// maxBusyWait is the longest wait of receive before it serves a request
// again.
const maxBusyWait = 16 * time.Millisecond

// serve runs one SockJS session; sockjs-go calls it on a goroutine of its
// own, which this function owns as the session's read loop until the
// session ends. The session's writer goroutine writes through ss.
func (h *SockJS) serve(ss sockjs.Session) {
	req := ss.Request()
	ws := ss.ReceiverType() == sockjs.ReceiverTypeWebsocket
	// a session of an HTTP transport outlives the connections that carry
	// its requests: it holds a place of its own
	sl, status, reason := h.acquire(req, TransportSockJS, !ws)
	if status != 0 {
		refuse(ss, status, reason)
		return
	}
	defer h.release(sl, TransportSockJS)
	c := newSockJSConn(ss, !ws)
	if g, ok := req.Context().Value(guardKey{}).(*wsGuard); ok && ws {
		g.bind(c.tooBig)
	}
	if !ws {
		h.owners.hold(ss.ID())
		defer h.owners.release(ss.ID())
	}
	closing := h.register(ss.ID(), c, !ws)
	defer h.unregister(ss.ID(), c, !ws)
	s := h.newSession(c, req.RemoteAddr, stomp.V12, session.Handshake{Token: h.tokens.token(req), Transport: TransportSockJS, AcceptLanguage: acceptLanguage(req)})
	c.sess.Store(&s)
	if closing {
		s.Shutdown()
	}
	h.readLoop(c, s)
	<-s.Done()
}

// readLoop hands each SockJS message to s until the session or the
// SockJS session ends. A message longer than maxMessage ends the session
// with an ERROR naming limits.max_frame_bytes.
func (h *SockJS) readLoop(c *sockjsConn, s Handler) {
	for {
		msg, err := c.recv()
		if errors.Is(err, errTooBig) {
			s.MessageTooBig(h.maxMessage)
			return
		}
		if err != nil {
			s.ReadFailed(err)
			return
		}
		if int64(len(msg)) > h.maxMessage {
			s.MessageTooBig(h.maxMessage)
			return
		}
		if s.Receive([]byte(msg)) != nil {
			return
		}
	}
}

// refuse ends a SockJS session the connection limits do not admit: an
// ERROR saying which limit, then a SockJS close frame (1013, try again
// later, for a full replica; 1008 for too many from one address).
func refuse(ss sockjs.Session, status int, reason string) {
	code := uint32(session.ClosePolicy)
	if status == http.StatusServiceUnavailable {
		code = 1013
	}
	_ = ss.Send(string(stomp.New(stomp.ERROR, "message", reason).Encode(stomp.V12)))
	_ = ss.Close(code, reason)
}

// register records a live session (by id too for the HTTP transports,
// whose xhr_send requests find it so). It reports whether the endpoint is
// shutting down, in which case the caller ends the session.
func (h *SockJS) register(id string, c *sockjsConn, byID bool) (closing bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.live[c] = struct{}{}
	if byID {
		h.byID[id] = c
	}
	return h.closing
}

// unregister forgets a session recorded by register.
func (h *SockJS) unregister(id string, c *sockjsConn, byID bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.live, c)
	if byID && h.byID[id] == c {
		delete(h.byID, id)
	}
}

// lookup returns the live session of an HTTP transport with SockJS
// session id id, or nil.
func (h *SockJS) lookup(id string) *sockjsConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.byID[id]
}

// Shutdown ends every SockJS session with the server's going-away ERROR
// and refuses new ones. Streaming and polling requests then end, which
// http.Server.Shutdown waits for (register it with RegisterOnShutdown).
func (h *SockJS) Shutdown() {
	h.mu.Lock()
	h.closing = true
	live := make([]Handler, 0, len(h.live))
	for c := range h.live {
		if s := c.sess.Load(); s != nil {
			live = append(live, *s)
		}
	}
	h.mu.Unlock()
	for _, s := range live {
		s.Shutdown()
	}
}

// errTooBig ends a read when a transport message is over the limit.
var errTooBig = errors.New("sockjs message too large")

// sockjsConn adapts a sockjs.Session to session.Conn. WriteMessage and
// Close come from the session's writer goroutine; recv from the read
// loop; tooBig from a request that met an oversized message; delivered
// from the receiving requests of an HTTP transport.
type sockjsConn struct {
	ss       sockjs.Session
	http     bool                    // an HTTP transport: messages may wait in sockjs-go
	deadline atomic.Int64            // read deadline in Unix nanoseconds; 0: none
	sess     atomic.Pointer[Handler] // set once the session exists
	ctx      context.Context         // cancelled with errTooBig
	cancel   context.CancelCauseFunc

	mu       sync.Mutex
	sent     uint64        // messages handed to sockjs-go (HTTP transports)
	written  uint64        // messages its receiving requests have written
	progress chan struct{} // closed and replaced when written grows
}

func newSockJSConn(ss sockjs.Session, http bool) *sockjsConn {
	c := &sockjsConn{ss: ss, http: http, progress: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	return c
}

// WriteMessage implements session.Conn: one SockJS message. The
// websocket transport writes within the write timeout; the streaming
// ones too (see deadlineWriter); polling ones buffer in sockjs-go until
// the next poll, for at most the disconnect delay. text does not matter:
// a SockJS message is a JSON string inside a text frame or HTTP body,
// and sockjs-go's JSON encoding replaces bytes that are not UTF-8 with
// U+FFFD.
func (c *sockjsConn) WriteMessage(p []byte, _ bool) error {
	if c.http {
		c.mu.Lock()
		c.sent++
		c.mu.Unlock()
	}
	return c.ss.Send(string(p))
}

// BatchFrames implements session.Batcher: a SockJS message is a string
// the client's STOMP parser reads like a WebSocket message, several
// frames included.
func (c *sockjsConn) BatchFrames() bool { return true }

// delivered records that a receiving request wrote n messages.
func (c *sockjsConn) delivered(n int) {
	c.mu.Lock()
	c.written += uint64(n)
	close(c.progress)
	c.progress = make(chan struct{})
	c.mu.Unlock()
}

// flushed waits until every message handed to sockjs-go has been written
// by a receiving request, the SockJS session has ended, or the client has
// not polled for twice the disconnect delay. sockjs-go drops the messages
// it holds for a session closed between two polls: without this wait a
// polling client would miss its final ERROR.
func (c *sockjsConn) flushed() {
	t := time.NewTimer(2 * sockjsDisconnect)
	defer t.Stop()
	for {
		c.mu.Lock()
		done, progress := c.written >= c.sent, c.progress
		c.mu.Unlock()
		if done {
			return
		}
		select {
		case <-progress:
		case <-c.ss.Context().Done():
			return
		case <-t.C:
			return
		}
	}
}

// SetReadDeadline implements session.Conn; the next recv honours it.
func (c *sockjsConn) SetReadDeadline(t time.Time) error {
	if t.IsZero() {
		c.deadline.Store(0)
	} else {
		c.deadline.Store(t.UnixNano())
	}
	return nil
}

// Close implements session.Conn: a SockJS close frame with code and
// reason, after which sockjs-go ends the session's requests (and, for
// the websocket transport, the connection: see guardedConn.Close).
func (c *sockjsConn) Close(code int, reason string) error {
	c.cancel(nil)
	if c.http {
		c.flushed()
	}
	err := c.ss.Close(uint32(code), reason)
	if errors.Is(err, sockjs.ErrSessionNotOpen) {
		return nil
	}
	return err
}

// tooBig makes the read loop end the session for an oversized message.
func (c *sockjsConn) tooBig() { c.cancel(errTooBig) }

// recv returns the next SockJS message, os.ErrDeadlineExceeded once the
// read deadline has passed, or errTooBig after tooBig.
func (c *sockjsConn) recv() (string, error) {
	ctx := c.ctx
	if d := c.deadline.Load(); d != 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, d))
		defer cancel()
	}
	msg, err := c.ss.RecvCtx(ctx)
	if err == nil {
		return msg, nil
	}
	if cause := context.Cause(c.ctx); errors.Is(cause, errTooBig) {
		return "", errTooBig
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "", os.ErrDeadlineExceeded
	}
	return "", err
}
