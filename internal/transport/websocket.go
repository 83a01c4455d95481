package transport

import (
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

// SessionFactory creates the session for an accepted connection.
type SessionFactory func(conn session.Conn, remote string, version stomp.Version, hs session.Handshake) *session.Session

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

// WebSocket is the http.Handler of the /ws endpoint.
type WebSocket struct {
	upgrader     websocket.Upgrader
	newSession   SessionFactory
	tokens       TokenCarriers
	maxMessage   int64
	writeTimeout time.Duration
	log          *slog.Logger
}

// NewWebSocket returns the endpoint handler. maxMessage bounds one
// WebSocket message (a frame plus a little slack for heart-beats); tokens
// says where the handshake may carry a bearer token.
func NewWebSocket(origins *OriginChecker, maxMessage int64, writeTimeout time.Duration, tokens TokenCarriers, log *slog.Logger, f SessionFactory) *WebSocket {
	return &WebSocket{
		upgrader: websocket.Upgrader{
			ReadBufferSize:  4096,
			WriteBufferSize: 4096,
			Subprotocols:    Subprotocols,
			CheckOrigin:     origins.Check,
		},
		newSession:   f,
		tokens:       tokens,
		maxMessage:   maxMessage,
		writeTimeout: writeTimeout,
		log:          log,
	}
}

// ServeHTTP upgrades the request and runs the read loop of the session in
// the request's goroutine until the session ends.
func (h *WebSocket) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.upgrader.CheckOrigin(r) {
		h.log.Info("websocket origin refused", "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	ws.SetReadLimit(h.maxMessage)
	version := stomp.V12
	switch ws.Subprotocol() {
	case "v10.stomp":
		version = stomp.V10
	case "v11.stomp":
		version = stomp.V11
	}
	conn := &wsConn{ws: ws, writeTimeout: h.writeTimeout}
	s := h.newSession(conn, r.RemoteAddr, version, session.Handshake{Token: h.tokens.token(r)})
	for {
		_, p, err := ws.ReadMessage()
		if err != nil {
			// a message over the read limit ends here too: gorilla has
			// already sent close code 1009 (message too big)
			s.ReadFailed(err)
			break
		}
		if s.Receive(p) != nil {
			break
		}
	}
	<-s.Done()
}

// wsConn adapts a gorilla connection to session.Conn. Writes come from the
// session's writer goroutine only; closeOnce guards the close handshake.
type wsConn struct {
	ws           *websocket.Conn
	writeTimeout time.Duration
	closeOnce    sync.Once
}

// WriteMessage implements session.Conn.
func (c *wsConn) WriteMessage(p []byte) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	return c.ws.WriteMessage(websocket.BinaryMessage, p)
}

// SetReadDeadline implements session.Conn.
func (c *wsConn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// Close implements session.Conn: a close frame with code and reason, then
// the TCP connection.
func (c *wsConn) Close(code int, reason string) error {
	var err error
	c.closeOnce.Do(func() {
		msg := websocket.FormatCloseMessage(code, reason)
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		err = c.ws.Close()
	})
	return err
}
