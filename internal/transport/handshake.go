package transport

import (
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gorilla/websocket"

	"chatrelay/internal/session"
)

// HandshakeLimits are the checks a WebSocket handshake passes before the
// upgrade, after the Origin check.
type HandshakeLimits struct {
	// MaxConnections bounds the replica's concurrent connections (503):
	// every TCP connection accepted through Listener, every SockJS
	// session of an HTTP transport, and each WebSocket served without
	// Listener.
	MaxConnections int
	// MaxPerAddress bounds them per client (429), as clientaddr.Key
	// names it: an IPv4 address or an IPv6 /64. Behind a proxy every
	// client has the proxy's address.
	MaxPerAddress int
	// RequireSubprotocol refuses (400) a handshake offering no vN.stomp
	// subprotocol.
	RequireSubprotocol bool
}

// connLimiter counts the connections of an endpoint, in total and per
// client (clientaddr.Key). A slot is taken when a connection is accepted
// or a session opened, and given back when it ends, on every path.
type connLimiter struct {
	mu     sync.Mutex
	total  int
	max    int
	byAddr *session.ConnCounter
}

func newConnLimiter(l HandshakeLimits) *connLimiter {
	return &connLimiter{max: l.MaxConnections, byAddr: session.NewConnCounter(l.MaxPerAddress)}
}

// acquire takes a slot for key, or returns the HTTP status and reason of
// the refusal.
func (c *connLimiter) acquire(key string) (status int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max > 0 && c.total >= c.max {
		return http.StatusServiceUnavailable, "too many connections on this server (limits.max_connections " + strconv.Itoa(c.max) + ")"
	}
	if !c.byAddr.Acquire(key) {
		return http.StatusTooManyRequests, "too many connections from your address (limits.max_connections_per_address)"
	}
	c.total++
	return 0, ""
}

// release gives back the slot of key taken by acquire.
func (c *connLimiter) release(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	c.byAddr.Release(key)
}

// count returns the connections held.
func (c *connLimiter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// maxAcceptLanguage bounds the Accept-Language a session keeps: a longer
// header is cut (the entries that matter come first) rather than held
// for the whole session.
const maxAcceptLanguage = 256

// acceptLanguage returns the request's Accept-Language header lines,
// joined as one list and cut at maxAcceptLanguage bytes, for the
// session's language (session.Handshake.AcceptLanguage).
func acceptLanguage(r *http.Request) string {
	v := strings.Join(r.Header.Values("Accept-Language"), ",")
	if len(v) > maxAcceptLanguage {
		v = v[:maxAcceptLanguage]
	}
	return v
}

// offersSubprotocol reports whether the handshake offers one of the STOMP
// subprotocols.
func offersSubprotocol(r *http.Request) bool {
	for _, offered := range websocket.Subprotocols(r) {
		for _, p := range Subprotocols {
			if offered == p {
				return true
			}
		}
	}
	return false
}
