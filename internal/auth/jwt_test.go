package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testSecret = "0123456789abcdef0123456789abcdef" // 32 bytes

// rsaKeys returns two RSA keys generated once per test binary.
var rsaKeys = sync.OnceValues(func() ([2]*rsa.PrivateKey, error) {
	var ks [2]*rsa.PrivateKey
	for i := range ks {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return ks, err
		}
		ks[i] = k
	}
	return ks, nil
})

func testKeys(t *testing.T) [2]*rsa.PrivateKey {
	t.Helper()
	ks, err := rsaKeys()
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// publicPEM encodes k's public half as a PKIX PEM block.
func publicPEM(t *testing.T, k *rsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// sign returns a token with claims signed by method and key.
func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// exp returns claims for sub expiring d from now.
func exp(sub string, d time.Duration) jwt.MapClaims {
	return jwt.MapClaims{"sub": sub, "exp": time.Now().Add(d).Unix()}
}

func TestJWT(t *testing.T) {
	ks := testKeys(t)
	pubPEM := publicPEM(t, ks[0])
	hs, err := NewJWT(JWTConfig{Algorithm: HS256, Secret: []byte(testSecret), Leeway: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := NewJWT(JWTConfig{Algorithm: RS256, PublicKeyPEM: pubPEM, Leeway: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	hsOK := sign(t, jwt.SigningMethodHS256, []byte(testSecret), exp("alice", time.Hour))
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, exp("alice", time.Hour))
	cases := []struct {
		name   string
		a      *JWT
		cred   Credentials
		user   string // "" means refused
		reason string // part of the refusal
	}{
		{"HS256 passcode", hs, Credentials{Passcode: hsOK}, "alice", ""},
		{"HS256 bearer", hs, Credentials{Authorization: "Bearer " + hsOK}, "alice", ""},
		{"HS256 bearer lower-case scheme", hs, Credentials{Authorization: "bearer " + hsOK}, "alice", ""},
		{"HS256 handshake", hs, Credentials{HandshakeToken: hsOK}, "alice", ""},
		{"RS256", rs, Credentials{Passcode: sign(t, jwt.SigningMethodRS256, ks[0], exp("bob", time.Hour))}, "bob", ""},
		{"with name", hs, Credentials{Passcode: sign(t, jwt.SigningMethodHS256, []byte(testSecret),
			jwt.MapClaims{"sub": "carol", "name": "Carol Č.", "exp": time.Now().Add(time.Hour).Unix()})}, "carol", ""},
		{"bearer wins over passcode", hs, Credentials{Authorization: "Bearer " + hsOK, Passcode: "junk"}, "alice", ""},
		{"passcode wins over handshake", hs, Credentials{Passcode: "junk", HandshakeToken: hsOK}, "", "malformed"},
		{"no token", hs, Credentials{Login: "alice"}, "", "no token"},
		{"basic scheme", hs, Credentials{Authorization: "Basic YWxpY2U6cHc="}, "", "Bearer"},
		{"garbage", hs, Credentials{Passcode: "not.a.jwt"}, "", "malformed"},
		{"too long", hs, Credentials{Passcode: strings.Repeat("a.", MaxTokenBytes)}, "", "longer"},
		{"HS256 bad signature", hs, Credentials{Passcode: sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), exp("alice", time.Hour))}, "", "signature"},
		{"RS256 other key", rs, Credentials{Passcode: sign(t, jwt.SigningMethodRS256, ks[1], exp("bob", time.Hour))}, "", "signature"},
		{"alg none HS256", hs, Credentials{Passcode: none}, "", "signature"},
		{"alg none RS256", rs, Credentials{Passcode: none}, "", "signature"},
		{"HS256 with RSA public key", rs, Credentials{Passcode: sign(t, jwt.SigningMethodHS256, pubPEM, exp("mallory", time.Hour))}, "", "accepts RS256 only"},
		{"RS256 token to HS256 server", hs, Credentials{Passcode: sign(t, jwt.SigningMethodRS256, ks[0], exp("bob", time.Hour))}, "", "accepts HS256 only"},
		{"HS512", hs, Credentials{Passcode: sign(t, jwt.SigningMethodHS512, []byte(testSecret), exp("alice", time.Hour))}, "", "signature"},
		{"expired", hs, Credentials{Passcode: sign(t, jwt.SigningMethodHS256, []byte(testSecret), exp("alice", -time.Hour))}, "", "expired"},
		{"expired within leeway", hs, Credentials{Passcode: sign(t, jwt.SigningMethodHS256, []byte(testSecret), exp("alice", -10*time.Second))}, "alice", ""},
		{"expired past leeway", hs, Credentials{Passcode: sign(t, jwt.SigningMethodHS256, []byte(testSecret), exp("alice", -time.Minute))}, "", "expired"},
		{"not before in future", hs, Credentials{Passcode: sign(t, jwt.SigningMethodHS256, []byte(testSecret),
			jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "nbf": time.Now().Add(time.Hour).Unix()})}, "", "not valid yet"},
		{"no exp", hs, Credentials{Passcode: sign(t, jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "alice"})}, "", "no exp"},
		{"no sub", hs, Credentials{Passcode: sign(t, jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()})}, "", "no sub"},
		{"invalid sub", hs, Credentials{Passcode: sign(t, jwt.SigningMethodHS256, []byte(testSecret), exp("a/b", time.Hour))}, "", "sub claim"},
		{"sub not a string", hs, Credentials{Passcode: sign(t, jwt.SigningMethodHS256, []byte(testSecret),
			jwt.MapClaims{"sub": 42, "exp": time.Now().Add(time.Hour).Unix()})}, "", "token"},
		{"control character in name", hs, Credentials{Passcode: sign(t, jwt.SigningMethodHS256, []byte(testSecret),
			jwt.MapClaims{"sub": "alice", "name": "a\nb", "exp": time.Now().Add(time.Hour).Unix()})}, "", "name claim"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			id, err := tt.a.Authenticate(tt.cred)
			if tt.user != "" {
				if err != nil || id.User != tt.user {
					t.Fatalf("got %+v %v, want user %q", id, err, tt.user)
				}
				return
			}
			if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("got %+v %v, want unauthorized with %q", id, err, tt.reason)
			}
			for _, tok := range []string{tt.cred.Passcode, tt.cred.HandshakeToken} {
				if len(tok) > 20 && strings.Contains(err.Error(), tok[len(tok)-20:]) {
					t.Fatalf("error %q quotes the token", err)
				}
			}
		})
	}
}

// TestJWTIdentity checks the name and that Expires is exp plus leeway.
func TestJWTIdentity(t *testing.T) {
	a, err := NewJWT(JWTConfig{Algorithm: HS256, Secret: []byte(testSecret), Leeway: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e := time.Now().Add(time.Hour).Truncate(time.Second)
	tok := sign(t, jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "alice", "name": "Alice", "exp": e.Unix()})
	id, err := a.Authenticate(Credentials{Passcode: tok})
	if err != nil {
		t.Fatal(err)
	}
	if id.User != "alice" || id.Name != "Alice" || !id.Expires.Equal(e.Add(5*time.Second)) {
		t.Fatalf("identity %+v, want expiry %v", id, e.Add(5*time.Second))
	}
}

// TestParserOptionsPinAlgorithm shows that the parser options alone stop
// algorithm confusion: even a key function that would hand the RSA public
// key PEM to the HMAC verifier (the classic mistake) is never reached.
func TestParserOptionsPinAlgorithm(t *testing.T) {
	pubPEM := publicPEM(t, testKeys(t)[0])
	rs, err := NewJWT(JWTConfig{Algorithm: RS256, PublicKeyPEM: pubPEM})
	if err != nil {
		t.Fatal(err)
	}
	forged := sign(t, jwt.SigningMethodHS256, pubPEM, exp("mallory", time.Hour))
	called := false
	naive := func(*jwt.Token) (any, error) { called = true; return pubPEM, nil }
	if _, err := jwt.Parse(forged, naive); err != nil {
		t.Fatalf("without options the forged token should verify (test premise): %v", err)
	}
	called = false
	if _, err := jwt.Parse(forged, naive, rs.parserOptions()...); !errors.Is(err, jwt.ErrTokenSignatureInvalid) || called {
		t.Fatalf("with options: err %v, key function called %v", err, called)
	}
}

func TestNewJWTRefusesWeakSettings(t *testing.T) {
	ks := testKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]JWTConfig{
		"short secret":     {Algorithm: HS256, Secret: []byte(testSecret[:31])},
		"no public key":    {Algorithm: RS256},
		"not PEM":          {Algorithm: RS256, PublicKeyPEM: []byte("hello")},
		"1024-bit key":     {Algorithm: RS256, PublicKeyPEM: publicPEM(t, small)},
		"alg none":         {Algorithm: "none", Secret: []byte(testSecret)},
		"negative leeway":  {Algorithm: HS256, Secret: []byte(testSecret), Leeway: -time.Second},
		"lower-case hs256": {Algorithm: "hs256", Secret: []byte(testSecret)},
	} {
		if _, err := NewJWT(c); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := NewJWT(JWTConfig{Algorithm: RS256, PublicKeyPEM: publicPEM(t, ks[0])}); err != nil {
		t.Fatal(err)
	}
}
