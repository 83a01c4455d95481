package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/transport"
)

// newHTTPServer returns the replica's HTTP server: h behind the
// connection limits' refusals (transport.WebSocket.Admit) and the body
// bound, with the http.* timeouts.
//
// The timeouts leave the long-lived transports alone: a WebSocket
// upgrade clears the connection's deadlines (gorilla does, after the
// hijack); SockJS's streaming and polling requests extend their write
// deadline before each write (by limits.write_timeout) and send their
// own heart-beat within it; their requests carry no body, and once a
// body has been read net/http clears the read deadline.
func newHTTPServer(c config.HTTP, ws *transport.WebSocket, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           ws.Admit(readBodies(c.MaxBodyBytes, h)),
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		ConnContext:       transport.ConnContext,
	}
}

// readBodies reads the body of every request but SockJS's (whose
// xhr_send bodies the SockJS endpoint reads, bounded by
// limits.max_frame_bytes) before the handler runs, at most max bytes of
// it: a longer body is answered 413 (at once when its Content-Length says
// so), one that does not arrive within http.read_timeout 408, both
// naming the limit. Handlers then read the body from memory.
func readBodies(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/ws-stomp/") || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > max {
			refuseBody(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes (http.max_body_bytes)", max))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
		var ne net.Error
		switch {
		case err == nil && int64(len(body)) > max:
			refuseBody(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes (http.max_body_bytes)", max))
			return
		case errors.As(err, &ne) && ne.Timeout():
			// the write deadline is about to pass too: give the answer
			// a moment of its own
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Second))
			refuseBody(w, http.StatusRequestTimeout, "body not received within http.read_timeout")
			return
		case err != nil:
			refuseBody(w, http.StatusBadRequest, "cannot read the request body")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// refuseBody answers a request whose body was refused, in the REST API's
// JSON error form, and closes the connection (the rest of the body, if
// any, is not read).
func refuseBody(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "close")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
