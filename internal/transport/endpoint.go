package transport

import (
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
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
	conns        *connLimiter // one count for both transports
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

// acquire takes a connection slot for remoteAddr's IP. On refusal it
// returns the HTTP status and reason of the refusal (0 and "" when the
// slot is taken); the caller gives a slot back with release(ip).
func (e *endpoint) acquire(remoteAddr, transport string) (ip string, status int, reason string) {
	ip = remoteIP(remoteAddr)
	status, reason = e.conns.acquire(ip)
	if status == 0 {
		e.observe().ConnectionOpened(transport)
		return ip, 0, ""
	}
	e.log.Warn("connection refused", "transport", transport, "reason", reason, "remote", remoteAddr)
	e.observe().ConnectionRefused(transport, refusalName(status))
	return "", status, reason
}

// release gives back the slot acquire took for ip.
func (e *endpoint) release(ip, transport string) {
	e.conns.release(ip)
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
