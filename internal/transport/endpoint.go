package transport

import (
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"chatrelay/internal/clientaddr"
)

// Transport names: the label of an endpoint's connections in metrics and
// what session.Handshake.Transport says.
const (
	TransportWebSocket = "ws"
	TransportSockJS    = "sockjs"
)

// Reasons an endpoint refuses a connection, as Observer gets them: the
// limits name their config key under limits.
const (
	RefusedOrigin        = "origin"
	RefusedSubprotocol   = "subprotocol"
	RefusedMaxConns      = "max_connections"
	RefusedMaxPerAddress = "max_connections_per_address"
)

// Observer is told about an endpoint's connections, for metrics. Its
// methods are called from many goroutines and must not block.
type Observer interface {
	// ConnectionOpened: a connection of transport was accepted and now
	// holds a slot of the connection limits.
	ConnectionOpened(transport string)
	// ConnectionClosed: a connection opened before has ended.
	ConnectionClosed(transport string)
	// ConnectionRefused: a connection was refused before any session
	// existed, for reason (one of the Refused* names).
	ConnectionRefused(transport, reason string)
}

// endpoint is what the WebSocket and SockJS endpoints of a replica share:
// they carry the same STOMP sessions under the same origin allowlist,
// connection limits, message limit and token carriers.
type endpoint struct {
	origins      *OriginChecker
	limits       HandshakeLimits
	conns        *connLimiter // one count for both transports and every connection of Listener
	refusing     atomic.Int64 // refused connections of Listener waiting for their answer
	maxMessage   int64
	writeTimeout time.Duration
	tokens       TokenCarriers
	newSession   SessionFactory
	log          *slog.Logger
	observer     atomic.Pointer[Observer] // nil: nobody observes
}

// observe returns the observer, or one that does nothing.
func (e *endpoint) observe() Observer {
	if o := e.observer.Load(); o != nil {
		return *o
	}
	return nopObserver{}
}

// slot is a place in the connection limits held by one WebSocket or
// SockJS session. owned: the session took it for itself (key names it);
// otherwise the session runs on a TCP connection accepted through
// Listener, whose own place it uses, given back when that closes.
type slot struct {
	key   string
	owned bool
}

// acquire takes a place in the limits for the connection or session r
// opens. A WebSocket (own false) on a connection accepted through
// Listener uses that connection's place; a SockJS session of an HTTP
// transport (own true), or a WebSocket served without Listener, takes
// one of its own for r's client (clientaddr.Key). On refusal it returns
// the HTTP status and reason of the refusal (0 and "" when admitted); the
// caller gives the place back with release.
func (e *endpoint) acquire(r *http.Request, transport string, own bool) (sl slot, status int, reason string) {
	if cc := connOf(r.Context()); !own && cc != nil && cc.counted() {
		e.observe().ConnectionOpened(transport)
		return slot{}, 0, ""
	}
	key := clientaddr.Key(r.RemoteAddr)
	status, reason = e.conns.acquire(key)
	if status == 0 {
		e.observe().ConnectionOpened(transport)
		return slot{key: key, owned: true}, 0, ""
	}
	e.log.Warn("connection refused", "transport", transport, "reason", reason, "remote", r.RemoteAddr)
	e.observe().ConnectionRefused(transport, refusalName(status))
	return slot{}, status, reason
}

// release gives back the place acquire took.
func (e *endpoint) release(sl slot, transport string) {
	if sl.owned {
		e.conns.release(sl.key)
	}
	e.observe().ConnectionClosed(transport)
}

// checkOrigin refuses (403) a request whose Origin is not allowed.
func (e *endpoint) checkOrigin(w http.ResponseWriter, r *http.Request, transport string) bool {
	if e.origins.Check(r) {
		return true
	}
	e.log.Info("origin refused", "transport", transport, "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
	e.observe().ConnectionRefused(transport, RefusedOrigin)
	http.Error(w, "origin not allowed", http.StatusForbidden)
	return false
}

// refusalName is the limit behind a connLimiter refusal status.
func refusalName(status int) string {
	if status == http.StatusServiceUnavailable {
		return RefusedMaxConns
	}
	return RefusedMaxPerAddress
}

// nopObserver observes nothing.
type nopObserver struct{}

func (nopObserver) ConnectionOpened(string)          {}
func (nopObserver) ConnectionClosed(string)          {}
func (nopObserver) ConnectionRefused(string, string) {}
