package session

import "chatrelay/internal/i18n"

// A session speaks one language to its user (i18n.Lang): the one its
// CONNECT frame's accept-language header names, else the one its
// WebSocket or SockJS handshake's Accept-Language names, else
// Options.DefaultLanguage. Header values are Accept-Language lists with
// q-values; a malformed one counts as naming no language, never as an
// error. The language words the messages on /user/queue/errors; STOMP
// ERROR frames stay in English (their message header is what clients
// match on, as with RabbitMQ).

// chooseLanguage sets the session's language from its CONNECT frame's
// header (accept-language, or Accept-Language as some clients spell it)
// and the handshake's. The reader goroutine calls it once, at CONNECT.
func (s *Session) chooseLanguage(connectHeader string) {
	l := i18n.Choose(connectHeader, s.handshake.AcceptLanguage, s.opts.DefaultLanguage)
	s.lang.Store(&l)
}

// language returns the session's language: the default until CONNECT.
// Any goroutine may call it.
func (s *Session) language() i18n.Lang {
	if l := s.lang.Load(); l != nil {
		return *l
	}
	if s.opts.DefaultLanguage != "" {
		return s.opts.DefaultLanguage
	}
	return i18n.Default
}
