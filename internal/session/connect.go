package session

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"chatrelay/internal/auth"
	"chatrelay/internal/stomp"
)

// connect answers CONNECT or STOMP: it negotiates the version and
// heart-beats, authenticates and sends CONNECTED. The session attaches to
// the relay only when it first needs the broker (Session.up).
func (s *Session) connect(f *stomp.Frame) error {
	v, err := s.negotiateVersion(f.Header("accept-version"))
	if err != nil {
		// RabbitMQ's answer: the versions it speaks in a version header
		supported := supportedVersions(s.subproto)
		ef := errorFrame(msgVersionMismatch, f.Header("receipt"), err.Error()+"; supported versions are "+supported)
		ef.Headers = ef.Headers.Set("version", supported)
		s.out.close(ef, CloseProtocol, msgVersionMismatch, true)
		return err
	}
	s.version.Store(int32(v))
	s.dec.SetVersion(v)
	lang, ok := f.Headers.Get("accept-language")
	if !ok {
		lang = f.Header("Accept-Language")
	}
	s.chooseLanguage(lang)
	cx, cy := 0, 0
	if hb, ok := f.Headers.Get("heart-beat"); ok && v != stomp.V10 {
		if cx, cy, err = stomp.ParseHeartBeat(hb); err != nil {
			return s.failFrame(f, Close{
				Code:    CloseProtocol,
				Message: "invalid heart-beat header",
				Detail:  err.Error(),
			})
		}
	}
	authz, ok := f.Headers.Get("Authorization")
	if !ok {
		authz = f.Header("authorization")
	}
	id, err := s.opts.Auth.Authenticate(auth.Credentials{
		Login:          f.Header("login"),
		Passcode:       f.Header("passcode"),
		Authorization:  authz,
		HandshakeToken: s.handshake.Token,
	})
	s.handshake = Handshake{}
	if err != nil {
		// the error never carries the passcode or token; log only it
		msg := "authentication failed"
		switch {
		case errors.Is(err, auth.ErrUnauthorized):
			msg = "unauthorized"
		case errors.Is(err, auth.ErrBadCredentials):
			msg = "bad credentials"
		}
		s.log(slog.LevelInfo, "connect refused", "login", f.Header("login"), "err", err)
		return s.failFrame(f, Close{Code: ClosePolicy, Message: msg, Detail: err.Error()})
	}
	user := id.User
	s.user = user
	s.anonymous = id.Anonymous
	s.logUser.Store(&user)
	if ok, ended := s.acquireUser(user); !ok {
		if ended {
			return ErrClosed
		}
		s.log(slog.LevelInfo, "connect refused: too many connections", "limit", s.opts.UserConns.limit)
		s.opts.observer().LimitClosed(LimitConnsPerUser)
		return s.failFrame(f, Close{
			Code:    ClosePolicy,
			Message: "too many connections",
			Detail:  fmt.Sprintf("user %q already has %d sessions (limits.max_connections_per_user)", user, s.opts.UserConns.limit),
		})
	}
	if s.released() {
		return ErrClosed
	}
	// server values are floors: the interval used is the larger wish
	var sendEvery, recvEvery time.Duration
	if cy > 0 {
		sendEvery = max(time.Duration(cy)*time.Millisecond, s.opts.HeartBeatSend)
	}
	if cx > 0 {
		recvEvery = max(time.Duration(cx)*time.Millisecond, s.opts.HeartBeatReceive)
	}
	s.recvEvery = recvEvery
	s.connected = true
	s.countOpened()
	s.armReadDeadline()
	connected := stomp.New(stomp.CONNECTED,
		"version", v.String(),
		"heart-beat", fmt.Sprintf("%d,%d", sendEvery.Milliseconds(), recvEvery.Milliseconds()),
		"server", s.opts.Server,
		"session", s.id,
		"user-name", user,
	)
	s.enqueue(connected)
	if sendEvery > 0 {
		s.out.heartBeats(sendEvery)
	}
	if !id.Expires.IsZero() {
		s.expireAt(id.Expires)
	}
	s.log(slog.LevelInfo, "connected", "version", v.String(), "heart-beat-send", sendEvery, "heart-beat-receive", recvEvery)
	return nil
}

// expireAt ends the session with ERROR "token expired" at t, unless it
// ends before. The goroutine started here owns only its timer; it ends
// with the session (s.ctx) and touches the session through fail alone,
// which any goroutine may call.
func (s *Session) expireAt(t time.Time) {
	go func() {
		timer := time.NewTimer(time.Until(t))
		defer timer.Stop()
		select {
		case <-timer.C:
			s.log(slog.LevelInfo, "token expired")
			s.fail(nil, Close{
				Code:    ClosePolicy,
				Message: "token expired",
				Detail:  "the token's exp has passed: reconnect with a new token",
			})
		case <-s.ctx.Done():
		}
	}()
}

// negotiateVersion picks the highest version both sides speak. No
// accept-version header means STOMP 1.0. A WebSocket subprotocol chosen
// in the handshake caps the choice.
func (s *Session) negotiateVersion(accept string) (stomp.Version, error) {
	if strings.TrimSpace(accept) == "" {
		return stomp.V10, nil
	}
	best := stomp.Version(-1)
	for _, a := range strings.Split(accept, ",") {
		var v stomp.Version
		switch strings.TrimSpace(a) {
		case "1.0":
			v = stomp.V10
		case "1.1":
			v = stomp.V11
		case "1.2":
			v = stomp.V12
		default:
			continue
		}
		if v <= s.subproto && v > best {
			best = v
		}
	}
	if best < 0 {
		return 0, fmt.Errorf("unsupported protocol version %q", accept)
	}
	return best, nil
}
