package transport

import (
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/gorilla/websocket"

	"chatrelay/internal/session"
)

// HandshakeLimits are the checks a WebSocket handshake passes before the
// upgrade, after the Origin check.
type HandshakeLimits struct {
	// MaxConnections bounds the replica's concurrent WebSockets (503).
	MaxConnections int
	// MaxPerAddress bounds concurrent WebSockets from one remote IP
	// (429). Behind a proxy every client has the proxy's address.
	MaxPerAddress int
	// RequireSubprotocol refuses (400) a handshake offering no vN.stomp
	// subprotocol.
	RequireSubprotocol bool
}

// connLimiter counts the connections of a WebSocket endpoint, in total
// and per remote IP. A slot is taken before the upgrade and given back
// when the connection's handler returns, on every path.
type connLimiter struct {
	mu     sync.Mutex
	total  int
	max    int
	byAddr *session.ConnCounter
}

func newConnLimiter(l HandshakeLimits) *connLimiter {
	return &connLimiter{max: l.MaxConnections, byAddr: session.NewConnCounter(l.MaxPerAddress)}
}

// acquire takes a slot for ip, or returns the HTTP status and reason of
// the refusal.
func (c *connLimiter) acquire(ip string) (status int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max > 0 && c.total >= c.max {
		return http.StatusServiceUnavailable, "too many connections on this server (limits.max_connections " + strconv.Itoa(c.max) + ")"
	}
	if !c.byAddr.Acquire(ip) {
		return http.StatusTooManyRequests, "too many connections from your address (limits.max_connections_per_address)"
	}
	c.total++
	return 0, ""
}

// release gives back the slot of ip taken by acquire.
func (c *connLimiter) release(ip string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	c.byAddr.Release(ip)
}

// count returns the connections held.
func (c *connLimiter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// remoteIP is the IP of the TCP peer: the client, or the proxy in front
// of the server. X-Forwarded-For is not trusted.
func remoteIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
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
