// Package transport accepts client connections and hands their bytes to
// STOMP sessions: WebSocket at /ws (websocket.go) and SockJS at /ws-stomp
// (sockjs.go), behind one Origin allowlist (this file), the connection
// and handshake limits (listener.go, handshake.go) and one message limit.
// Each connection has a reader goroutine that hands every transport
// message to session.Session.Receive; the session's writer goroutine is
// the only one that writes to it (session.Conn). docs/architecture.md
// shows where this sits in the data path and lists the goroutines.
package transport

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// OriginChecker decides whether a browser page may open a connection.
// Requests without an Origin header come from non-browser tools and are
// allowed: the Origin check protects browsers' cookies, nothing else.
type OriginChecker struct {
	allowed map[string]bool // exact "scheme://host[:port]", lower case
}

// NewOriginChecker allows exactly the given origins. With none, it allows
// the server's own host and localhost / 127.0.0.1 / [::1] on any port.
func NewOriginChecker(origins []string) *OriginChecker {
	c := &OriginChecker{}
	if len(origins) > 0 {
		c.allowed = map[string]bool{}
		for _, o := range origins {
			c.allowed[strings.ToLower(strings.TrimRight(o, "/"))] = true
		}
	}
	return c
}

// Check implements websocket.Upgrader.CheckOrigin.
func (c *OriginChecker) Check(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	if c.allowed != nil {
		return c.allowed[strings.ToLower(u.Scheme+"://"+u.Host)]
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	switch strings.ToLower(u.Hostname()) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return isLoopback(u.Hostname())
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
