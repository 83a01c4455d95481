package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// JWT signing algorithms a server may be configured with.
const (
	HS256 = "HS256"
	RS256 = "RS256"
)

// Bounds on keys and tokens.
const (
	// MinSecretBytes is the shortest HS256 secret accepted (RFC 7518
	// §3.2: a key at least as long as the hash output).
	MinSecretBytes = 32
	// MinRSABits is the smallest RS256 public key accepted.
	MinRSABits = 2048
	// MaxTokenBytes bounds a token before any of it is decoded.
	MaxTokenBytes = 8 << 10
	// maxNameBytes bounds the optional name claim.
	maxNameBytes = 128
)

// JWTConfig configures a JWT authenticator.
type JWTConfig struct {
	Algorithm    string        // HS256 or RS256: the only algorithm accepted
	Secret       []byte        // the HS256 shared secret
	PublicKeyPEM []byte        // the RS256 public key (PKIX, PKCS#1 or a certificate)
	Leeway       time.Duration // clock skew allowed on exp and nbf
}

// JWT authenticates a client by a JSON Web Token signed with one fixed
// algorithm and key. The token is taken from the first carrier present:
// the CONNECT Authorization header ("Bearer <jwt>"), the CONNECT
// passcode, then the WebSocket handshake. The sub claim is the user, the
// optional name claim the display name, and exp is required.
type JWT struct {
	alg    string
	key    any // []byte for HS256, *rsa.PublicKey for RS256
	leeway time.Duration
}

// NewJWT checks c and returns the authenticator.
func NewJWT(c JWTConfig) (*JWT, error) {
	j := &JWT{alg: c.Algorithm, leeway: c.Leeway}
	if c.Leeway < 0 {
		return nil, errors.New("jwt: negative leeway")
	}
	switch c.Algorithm {
	case HS256:
		if len(c.Secret) < MinSecretBytes {
			return nil, fmt.Errorf("jwt: HS256 secret must be at least %d bytes", MinSecretBytes)
		}
		j.key = append([]byte(nil), c.Secret...)
	case RS256:
		pub, err := jwt.ParseRSAPublicKeyFromPEM(c.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("jwt: RS256 public key: %w", err)
		}
		if pub.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("jwt: RS256 public key has %d bits, want at least %d", pub.N.BitLen(), MinRSABits)
		}
		j.key = pub
	default:
		return nil, fmt.Errorf("jwt: algorithm %q: want %s or %s", c.Algorithm, HS256, RS256)
	}
	return j, nil
}

// claims are the token claims the server reads.
type claims struct {
	Name string `json:"name,omitempty"`
	jwt.RegisteredClaims
}

// Authenticate implements Authenticator. Every refusal wraps
// ErrUnauthorized with a reason that never quotes the token.
func (j *JWT) Authenticate(c Credentials) (Identity, error) {
	tok, err := pickToken(c)
	if err != nil {
		return Identity{}, err
	}
	if len(tok) > MaxTokenBytes {
		return Identity{}, unauthorized("token is longer than %d bytes", MaxTokenBytes)
	}
	var cl claims
	_, err = jwt.ParseWithClaims(tok, &cl, j.keyFunc, j.parserOptions()...)
	if err != nil {
		return Identity{}, unauthorized("%s", j.reason(err))
	}
	switch {
	case cl.Subject == "":
		return Identity{}, unauthorized("token has no sub claim")
	case !ValidUser(cl.Subject):
		return Identity{}, unauthorized("sub claim must be 1-64 letters, digits or ._@+~-")
	case !validName(cl.Name):
		return Identity{}, unauthorized("name claim must be at most %d bytes of printable UTF-8", maxNameBytes)
	}
	return Identity{User: cl.Subject, Name: cl.Name, Expires: cl.ExpiresAt.Add(j.leeway)}, nil
}

// parserOptions pin the algorithm (refusing none and algorithm
// confusion before any key is used), require exp and allow the leeway.
func (j *JWT) parserOptions() []jwt.ParserOption {
	return []jwt.ParserOption{
		jwt.WithValidMethods([]string{j.alg}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(j.leeway),
	}
}

// keyFunc returns the configured key. WithValidMethods has already
// refused any other algorithm; the check here keeps that true should the
// options ever change.
func (j *JWT) keyFunc(t *jwt.Token) (any, error) {
	if t.Method.Alg() != j.alg {
		return nil, fmt.Errorf("algorithm %s is not %s", t.Method.Alg(), j.alg)
	}
	return j.key, nil
}

// pickToken returns the token of the first carrier present.
func pickToken(c Credentials) (string, error) {
	if c.Authorization != "" {
		scheme, tok, ok := strings.Cut(strings.TrimSpace(c.Authorization), " ")
		tok = strings.TrimSpace(tok)
		if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return "", unauthorized("Authorization header must be \"Bearer <token>\"")
		}
		return tok, nil
	}
	if c.Passcode != "" {
		return c.Passcode, nil
	}
	if c.HandshakeToken != "" {
		return c.HandshakeToken, nil
	}
	return "", unauthorized("no token: send it in CONNECT (Authorization: Bearer <token>, or as passcode) or with the WebSocket handshake")
}

// reason turns a jwt error into a fixed sentence: jwt's own messages may
// quote attacker-chosen header fields.
func (j *JWT) reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "token is malformed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "token signature is invalid (this server accepts " + j.alg + " only)"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "token has no exp claim"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token is not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return "token claims are invalid"
	default:
		return "token is invalid"
	}
}

// validName accepts an absent name or a short printable one: it may end
// up in headers and logs.
func validName(s string) bool {
	if len(s) > maxNameBytes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func unauthorized(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUnauthorized, fmt.Sprintf(format, a...))
}
