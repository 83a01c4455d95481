package server

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"chatrelay/internal/config"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

const jwtSecret = "test-secret-0123456789abcdef-0123456789" // ≥ 32 bytes

// jwtRSAKeys are the server's key and a stranger's, generated once.
var jwtRSAKeys = sync.OnceValues(func() ([2]*rsa.PrivateKey, error) {
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

// jwtEnv is a replica in auth.mode jwt and what signs tokens for it.
type jwtEnv struct {
	*replica
	alg    string
	key    any    // signs valid tokens
	pubPEM []byte // RS256: the server's public key file contents
}

// valid returns a token the replica accepts for sub, expiring at exp.
func (e *jwtEnv) valid(t *testing.T, sub string, exp time.Time) string {
	method := jwt.SigningMethod(jwt.SigningMethodHS256)
	if e.alg == config.JWTRS256 {
		method = jwt.SigningMethodRS256
	}
	return signJWT(t, method, e.key, jwt.MapClaims{"sub": sub, "exp": exp.Unix()})
}

func signJWT(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startJWT runs an embedded-broker replica verifying alg (HS256 with
// jwtSecret, RS256 with a public key file in t.TempDir()).
func startJWT(t *testing.T, alg string, leeway time.Duration) *jwtEnv {
	t.Helper()
	cfg := testConfig(t, config.BrokerEmbedded)
	cfg.Auth.Mode = config.AuthJWT
	cfg.HTTP.APIKey = testAPIKey // creating rooms takes a user or the key
	cfg.Auth.JWT.Algorithm = alg
	cfg.Auth.JWT.Leeway = leeway
	e := &jwtEnv{alg: alg}
	switch alg {
	case config.JWTHS256:
		cfg.Auth.JWT.Secret = jwtSecret
		e.key = []byte(jwtSecret)
	case config.JWTRS256:
		ks, err := jwtRSAKeys()
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(&ks[0].PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		e.pubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		cfg.Auth.JWT.PublicKeyFile = filepath.Join(t.TempDir(), "jwt.pem")
		if err := os.WriteFile(cfg.Auth.JWT.PublicKeyFile, e.pubPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		e.key = ks[0]
	}
	e.replica = start(t, cfg)
	return e
}

// dialJWT dials r, adding query (already encoded, may be "") to the URL
// and the handshake headers h.
func dialJWT(t *testing.T, r *replica, query string, h http.Header) *stomptest.Client {
	t.Helper()
	u := r.URL()
	if query != "" {
		u += "?" + query
	}
	c, _, err := stomptest.Dial(u, stomptest.Options{Subprotocols: []string{"v12.stomp"}, Header: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestJWTCarriers connects with an HS256 and an RS256 token by every
// carrier: CONNECT Authorization, CONNECT passcode, handshake query
// parameter and handshake cookie. CONNECTED names the token's sub.
func TestJWTCarriers(t *testing.T) {
	for _, alg := range []string{config.JWTHS256, config.JWTRS256} {
		t.Run(alg, func(t *testing.T) {
			e := startJWT(t, alg, time.Second)
			exp := time.Now().Add(time.Hour)
			cases := []struct {
				name, sub string
				dial      func(tok string) *stomptest.Client
				headers   func(tok string) []string
			}{
				{"authorization", "alice.header",
					func(string) *stomptest.Client { return dialJWT(t, e.replica, "", nil) },
					func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }},
				{"passcode", "bob.passcode",
					func(string) *stomptest.Client { return dialJWT(t, e.replica, "", nil) },
					func(tok string) []string { return []string{"login", "whoever", "passcode", tok} }},
				{"query", "carol.query",
					func(tok string) *stomptest.Client {
						return dialJWT(t, e.replica, "access_token="+url.QueryEscape(tok), nil)
					},
					func(string) []string { return nil }},
				{"cookie", "dave.cookie",
					func(tok string) *stomptest.Client {
						return dialJWT(t, e.replica, "", http.Header{"Cookie": {"theme=dark; chatrelay_token=" + tok}})
					},
					func(string) []string { return nil }},
			}
			for _, tt := range cases {
				t.Run(tt.name, func(t *testing.T) {
					tok := e.valid(t, tt.sub, exp)
					c := tt.dial(tok)
					f, err := c.Connect(tt.headers(tok)...)
					if err != nil {
						t.Fatal(err)
					}
					if got := f.Header("user-name"); got != tt.sub {
						t.Fatalf("user-name %q, want %q", got, tt.sub)
					}
				})
			}
		})
	}
}

// TestJWTRefusals sends tokens each replica must refuse: each gets ERROR
// "unauthorized" (never quoting the token) and a closed socket, while a
// bystander on the same replica keeps receiving.
func TestJWTRefusals(t *testing.T) {
	ks, err := jwtRSAKeys()
	if err != nil {
		t.Fatal(err)
	}
	hour := time.Now().Add(time.Hour).Unix()
	none := signJWT(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "mallory", "exp": hour})
	type refusal struct {
		name, query, reason string
		headers             []string
	}
	for _, alg := range []string{config.JWTHS256, config.JWTRS256} {
		t.Run(alg, func(t *testing.T) {
			e := startJWT(t, alg, time.Second)
			room := createRoom(t, e.replica, unique(t))
			good := e.valid(t, "bystander", time.Now().Add(time.Hour))
			bystander := dialJWT(t, e.replica, "", nil)
			if _, err := bystander.Connect("passcode", good); err != nil {
				t.Fatal(err)
			}
			if err := bystander.Subscribe("b", "/topic/room."+room); err != nil {
				t.Fatal(err)
			}
			expired := e.valid(t, "mallory", time.Now().Add(-time.Hour))
			cases := []refusal{
				{"no token", "", "no token", []string{"login", "mallory"}},
				{"garbage", "", "malformed", []string{"passcode", "not-a-token"}},
				{"alg none", "", "signature", []string{"passcode", none}},
				{"expired", "", "expired", []string{"Authorization", "Bearer " + expired}},
				{"expired in handshake", "access_token=" + expired, "expired", nil},
				{"basic scheme", "", "Bearer", []string{"Authorization", "Basic bWFsbG9yeTpwdw=="}},
				{"no exp", "", "no exp", []string{"passcode", signJWT(t, jwt.GetSigningMethod(alg), e.key, jwt.MapClaims{"sub": "mallory"})}},
				// the first carrier present is the one used: a bad
				// passcode is not rescued by a good handshake token
				{"bad passcode, good query", "access_token=" + good, "malformed", []string{"passcode", "junk"}},
			}
			if alg == config.JWTHS256 {
				cases = append(cases,
					refusal{"bad signature", "", "signature", []string{"passcode",
						signJWT(t, jwt.SigningMethodHS256, []byte(strings.Repeat("k", 40)), jwt.MapClaims{"sub": "mallory", "exp": hour})}},
					refusal{"RS256 token", "", "accepts HS256 only", []string{"passcode",
						signJWT(t, jwt.SigningMethodRS256, ks[0], jwt.MapClaims{"sub": "mallory", "exp": hour})}},
				)
			} else {
				cases = append(cases,
					refusal{"HS256 signed with the public key", "", "accepts RS256 only", []string{"passcode",
						signJWT(t, jwt.SigningMethodHS256, e.pubPEM, jwt.MapClaims{"sub": "mallory", "exp": hour})}},
					refusal{"other RSA key", "", "signature", []string{"passcode",
						signJWT(t, jwt.SigningMethodRS256, ks[1], jwt.MapClaims{"sub": "mallory", "exp": hour})}},
				)
			}
			for _, tt := range cases {
				t.Run(tt.name, func(t *testing.T) {
					c := dialJWT(t, e.replica, tt.query, nil)
					kv := append([]string{"accept-version", "1.2", "host", "/"}, tt.headers...)
					if err := c.Send(stomp.New(stomp.CONNECT, kv...)); err != nil {
						t.Fatal(err)
					}
					f, err := c.Read(5 * time.Second)
					if err != nil {
						t.Fatalf("waiting for ERROR: %v", err)
					}
					if f.Command != stomp.ERROR || f.Header("message") != "unauthorized" || !strings.Contains(string(f.Body), tt.reason) {
						t.Fatalf("got %s %q %q, want ERROR unauthorized with %q", f.Command, f.Header("message"), f.Body, tt.reason)
					}
					for i := 1; i < len(tt.headers); i += 2 {
						if v := tt.headers[i]; len(v) > 16 && strings.Contains(string(f.Body), v[len(v)-16:]) {
							t.Fatalf("ERROR body %q quotes the token", f.Body)
						}
					}
					if _, err := c.WaitClosed(5 * time.Second); err != nil {
						t.Fatalf("after ERROR: %v", err)
					}
				})
			}
			assertStillReceives(t, e.replica, bystander, "b", room, "passcode", e.valid(t, "sender", time.Now().Add(time.Hour)))
		})
	}
}

// TestJWTExpiryClosesSession connects with a token that expires in 2 s:
// the session gets ERROR "token expired" no earlier than exp and no
// later than exp + leeway + 2 s, then the close; a session with a
// longer-lived token stays.
func TestJWTExpiryClosesSession(t *testing.T) {
	const leeway = time.Second
	e := startJWT(t, config.JWTHS256, leeway)
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second) // exp has whole seconds
	short := dialJWT(t, e.replica, "", nil)
	if _, err := short.Connect("passcode", e.valid(t, "shortlived", exp)); err != nil {
		t.Fatal(err)
	}
	long := dialJWT(t, e.replica, "", nil)
	if _, err := long.Connect("passcode", e.valid(t, "longlived", time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	f, err := short.Read(time.Until(exp.Add(leeway + 2*time.Second)))
	if err != nil {
		t.Fatalf("no ERROR by exp + leeway + 2s: %v", err)
	}
	if now := time.Now(); now.Before(exp) {
		t.Fatalf("session closed %v before exp", exp.Sub(now))
	}
	if f.Command != stomp.ERROR || f.Header("message") != "token expired" {
		t.Fatalf("got %s %q %q, want ERROR token expired", f.Command, f.Header("message"), f.Body)
	}
	if _, err := short.WaitClosed(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-long.Closed():
		t.Fatalf("long-lived session closed too: %v", long.CloseErr())
	default:
	}
	if err := long.Subscribe("s", "/topic/still-here"); err != nil {
		t.Fatalf("long-lived session: %v", err)
	}
}
