// Package auth decides who a STOMP client is from its CONNECT frame.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
)

// ErrBadCredentials is returned for a wrong login or passcode. Its text is
// what the client reads in the ERROR frame.
var ErrBadCredentials = errors.New("bad credentials")

// Credentials are what a client presented in CONNECT.
type Credentials struct {
	Login    string
	Passcode string
}

// Authenticator turns credentials into an authenticated user name.
type Authenticator interface {
	Authenticate(c Credentials) (user string, err error)
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
func (None) Authenticate(c Credentials) (string, error) {
	if c.Login == "" {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		return "anon-" + hex.EncodeToString(b[:]), nil
	}
	if !validUser.MatchString(c.Login) {
		return "", fmt.Errorf("%w: login must be 1-64 letters, digits or ._@+~-", ErrBadCredentials)
	}
	return c.Login, nil
}

// Static checks login and passcode against a fixed table.
type Static struct {
	Users map[string]string
}

// Authenticate implements Authenticator in constant time per passcode.
func (s Static) Authenticate(c Credentials) (string, error) {
	want, ok := s.Users[c.Login]
	if !ok {
		// compare anyway so timing does not reveal which logins exist
		subtle.ConstantTimeCompare([]byte(c.Passcode), []byte(c.Passcode))
		return "", ErrBadCredentials
	}
	if subtle.ConstantTimeCompare([]byte(c.Passcode), []byte(want)) != 1 {
		return "", ErrBadCredentials
	}
	if !validUser.MatchString(c.Login) {
		return "", fmt.Errorf("%w: configured login %q is not a valid user name", ErrBadCredentials, c.Login)
	}
	return c.Login, nil
}
