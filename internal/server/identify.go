package server

import (
	"errors"
	"net/http"

	"chatrelay/internal/auth"
	"chatrelay/internal/config"
)

// identify tells the REST API who sent a request, with the same
// authenticator as STOMP: HTTP Basic carries login:passcode (in jwt mode
// the passcode may be the token), "Authorization: Bearer <jwt>" a token in
// jwt mode. Cookies are not read: a browser would send them on requests
// other sites make (cross-site request forgery), while it never adds
// these headers by itself. A request without credentials is anonymous
// ("", nil).
func (s *Server) identify(r *http.Request) (string, error) {
	var c auth.Credentials
	if login, pass, ok := r.BasicAuth(); ok {
		c.Login, c.Passcode = login, pass
	} else if h := r.Header.Get("Authorization"); h != "" {
		if s.cfg.Auth.Mode != config.AuthJWT {
			return "", errors.New("bearer tokens name users only with auth.mode jwt; use Basic login:passcode")
		}
		c.Authorization = h
	} else {
		return "", nil
	}
	if c.Login == "" && s.cfg.Auth.Mode == config.AuthNone {
		return "", errors.New("a login is required")
	}
	id, err := s.sessOpts.Auth.Authenticate(c)
	if err != nil {
		return "", err
	}
	return id.User, nil
}
