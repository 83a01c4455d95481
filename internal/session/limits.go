package session

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"chatrelay/internal/stomp"
)

// ConnCounter counts live connections by key (a user, a remote address)
// and refuses a key's connection past its limit. It is safe for
// concurrent use; the zero value is not usable, call NewConnCounter.
type ConnCounter struct {
	mu    sync.Mutex
	limit int
	n     map[string]int
}

// NewConnCounter returns a counter allowing limit connections per key;
// a limit below 1 allows any number.
func NewConnCounter(limit int) *ConnCounter {
	return &ConnCounter{limit: limit, n: map[string]int{}}
}

// Acquire counts one more connection for key, or reports false (and
// counts nothing) when key already has the limit.
func (c *ConnCounter) Acquire(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.limit > 0 && c.n[key] >= c.limit {
		return false
	}
	c.n[key]++
	return true
}

// Release uncounts one connection of key, acquired before.
func (c *ConnCounter) Release(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] <= 1 {
		delete(c.n, key)
		return
	}
	c.n[key]--
}

// Count returns key's live connections.
func (c *ConnCounter) Count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

// Total returns the live connections of every key.
func (c *ConnCounter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := 0
	for _, n := range c.n {
		t += n
	}
	return t
}

// connectTimeoutDetail is the body of the ERROR that ends a session
// with no CONNECT within the connect timeout. A raw-frame tool's user
// who typed CONNECT but not the NUL that ends every frame sees why.
func (s *Session) connectTimeoutDetail() string {
	const hint = "every STOMP frame, CONNECT included, ends with a NUL byte (0x00, ^@ in the README); a raw-frame tool must send it too"
	if s.preconnect == 0 {
		return fmt.Sprintf("no NUL-terminated CONNECT frame received within %v: nothing was received; %s", s.opts.ConnectTimeout, hint)
	}
	return fmt.Sprintf("no NUL-terminated CONNECT frame received within %v: %d bytes were received but they end no frame; %s", s.opts.ConnectTimeout, s.preconnect, hint)
}

// errPreconnect ends a session whose client sent too much before CONNECT.
var errPreconnect = errors.New("pre-CONNECT byte budget exceeded")

// feedBudget hands p to the decoder. Before CONNECT only what is left of
// limits.preconnect_bytes is fed at a time, so that junk or endless
// heart-beat EOLs cannot keep an unauthenticated connection busy; the
// rest of p is fed once a CONNECT in the budgeted part succeeded.
func (s *Session) feedBudget(p []byte) error {
	for len(p) > 0 {
		chunk := p
		if !s.connected {
			if s.opts.PreconnectBytes > 0 {
				left := s.opts.PreconnectBytes - s.preconnect
				if left <= 0 {
					s.opts.observer().LimitClosed(LimitPreconnectBytes)
					s.fail(nil, Close{
						Code:    CloseTooBig,
						Message: fmt.Sprintf("too many bytes before CONNECT (limits.preconnect_bytes %d)", s.opts.PreconnectBytes),
						Detail:  "a client must send CONNECT first; junk or heart-beats before it are limited",
					})
					return errPreconnect
				}
				chunk = chunk[:min(len(chunk), left)]
			}
			s.preconnect += len(chunk)
		}
		p = p[len(chunk):]
		if err := s.feed(chunk); err != nil {
			return err
		}
	}
	return nil
}

// feed decodes p and handles every frame completed by it.
func (s *Session) feed(p []byte) error {
	if err := s.dec.Feed(p); err != nil {
		s.protocolError(nil, err)
		return err
	}
	for {
		f, err := s.dec.Next()
		if err != nil {
			s.protocolError(nil, err)
			return err
		}
		if f == nil {
			s.dec.Release() // an idle session keeps no input buffer
			return nil
		}
		if err := s.handle(f); err != nil {
			return err
		}
		if s.out.isClosing() {
			return ErrClosed
		}
	}
}

// protocolError ends the session after input that could not be decoded.
// When the input broke a limit the ERROR's message header names it.
func (s *Session) protocolError(f *stomp.Frame, err error) {
	var se *stomp.Error
	if errors.As(err, &se) && se.Limit != "" {
		s.log(slog.LevelInfo, "frame limit exceeded", "limit", se.Limit, "err", err)
		s.opts.observer().LimitClosed(se.Limit)
		code := CloseTooBig
		if se.Limit == stomp.LimitHeaders {
			code = ClosePolicy
		}
		s.fail(f, Close{
			Code:    code,
			Message: fmt.Sprintf("%s (limits.%s)", se.Reason, se.Limit),
			Detail:  "the frame breaks a server limit; see the README's Limits table",
		})
		return
	}
	s.log(slog.LevelInfo, "protocol error", "err", err)
	s.fail(f, Close{Code: CloseProtocol, Message: "malformed frame", Detail: err.Error()})
}

// MessageTooBig ends the session because the transport read a message
// longer than limit bytes; it is called by the transport's read loop.
func (s *Session) MessageTooBig(limit int64) {
	s.log(slog.LevelInfo, "message limit exceeded", "limit", limit)
	s.opts.observer().LimitClosed(LimitMaxFrameBytes)
	kind, name := "websocket", "WebSocket"
	if s.transport == "sockjs" {
		kind, name = "sockjs", "SockJS"
	}
	s.fail(nil, Close{
		Code:    CloseTooBig,
		Message: fmt.Sprintf("%s message exceeds %d bytes (limits.max_frame_bytes)", kind, limit),
		Detail:  fmt.Sprintf("one %s message may carry at most limits.max_frame_bytes plus 1024 bytes", name),
	})
}

// acquireUser counts the session against limits.max_connections_per_user
// at CONNECT. It fails when the user has too many sessions or the session
// has ended meanwhile; finish releases what it acquired.
func (s *Session) acquireUser(user string) (ok bool, ended bool) {
	c := s.opts.UserConns
	if c == nil {
		return true, false
	}
	s.upMu.Lock()
	defer s.upMu.Unlock()
	if s.upReleased {
		return false, true
	}
	if !c.Acquire(user) {
		return false, false
	}
	s.userCounted = user
	s.hasUserCount = true
	return true, false
}
