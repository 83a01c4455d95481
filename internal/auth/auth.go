// Package auth decides who a STOMP client is from its CONNECT frame
// (Authenticator): the login taken on trust (None), login and passcode
// against a table (Static), or a JSON Web Token (JWT, jwt.go). The REST
// API asks the same authenticator (internal/server, identify.go).
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// ErrBadCredentials is returned for a wrong login or passcode. Its text is
// what the client reads in the ERROR frame.
var ErrBadCredentials = errors.New("bad credentials")

// ErrUnauthorized is returned when a token is missing, malformed, badly
// signed or expired. Its text is the ERROR frame's message; the reason
// goes in the body and never contains the token.
var ErrUnauthorized = errors.New("unauthorized")

// Credentials are what a client presented in CONNECT, plus the token its
// WebSocket handshake carried.
type Credentials struct {
	Login    string
	Passcode string
	// Authorization is the CONNECT frame's Authorization header, as sent
	// ("Bearer <jwt>").
	Authorization string
	// HandshakeToken is the token of the WebSocket handshake (query
	// parameter or cookie), "" when it had none.
	HandshakeToken string
}

// Identity is who a client is once authenticated.
type Identity struct {
	User string // the user name; always passes ValidUser
	Name string // a display name, "" when unknown
	// Anonymous says User was generated: the client gave no login in
	// auth.mode none, so it has named itself nowhere yet.
	Anonymous bool
	// Expires is when the credentials stop being valid (for a token: its
	// exp plus the allowed clock skew); zero means never.
	Expires time.Time
}

// Authenticator turns credentials into an identity.
type Authenticator interface {
	Authenticate(c Credentials) (Identity, error)
}

// validUser bounds user names: they appear in headers, logs and (encoded)
// in broker routing keys.
var validUser = regexp.MustCompile(`^[\p{L}\p{N}._@+~-]{1,64}$`)

// ValidUser reports whether name may name a user: 1 to 64 letters, digits
// or ._@+~-.
func ValidUser(name string) bool { return validUser.MatchString(name) }

// None trusts the login header as the user name and generates one when it
// is absent. It is for development and trusted networks.
type None struct{}

// Authenticate implements Authenticator.
func (None) Authenticate(c Credentials) (Identity, error) {
	if c.Login == "" {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			return Identity{}, err
		}
		return Identity{User: "anon-" + hex.EncodeToString(b[:]), Anonymous: true}, nil
	}
	if !validUser.MatchString(c.Login) {
		return Identity{}, fmt.Errorf("%w: login must be 1-64 letters, digits or ._@+~-", ErrBadCredentials)
	}
	return Identity{User: c.Login}, nil
}

// Static checks login and passcode against a fixed table.
type Static struct {
	Users map[string]string
}

// Authenticate implements Authenticator in constant time per passcode.
func (s Static) Authenticate(c Credentials) (Identity, error) {
	want, ok := s.Users[c.Login]
	if !ok {
		// compare anyway so timing does not reveal which logins exist
		subtle.ConstantTimeCompare([]byte(c.Passcode), []byte(c.Passcode))
		return Identity{}, ErrBadCredentials
	}
	if subtle.ConstantTimeCompare([]byte(c.Passcode), []byte(want)) != 1 {
		return Identity{}, ErrBadCredentials
	}
	if !validUser.MatchString(c.Login) {
		return Identity{}, fmt.Errorf("%w: configured login %q is not a valid user name", ErrBadCredentials, c.Login)
	}
	return Identity{User: c.Login}, nil
}
