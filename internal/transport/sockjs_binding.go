package transport

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// A SockJS session of an HTTP transport is many requests that name it by
// the id in their URL, and that id is no secret: it travels in URLs,
// proxy logs and is nginx's hash key. So the request that opens a
// session is answered with a cookie holding a random token
// (sessionCookie), and every later request of the session must carry it:
// one that does not gets 404, as if the session did not exist, and
// reaches nothing. The cookie has no Path attribute, so the browser
// scopes it to the session's own URL (/ws-stomp/<server>/<session>, as
// the browser sees it, whatever a proxy rewrites) and sends it with that
// session's requests only; it lives until the browser closes, and a
// browser evicts the unused ones of ended sessions first. The websocket
// transport needs none: its session is one connection.
//
// Browsers send it on their own: sockjs-client's XHR transports set
// withCredentials, and same-origin requests (EventSource included) carry
// cookies anyway; /info says cookie_needed, which turns off the
// cookie-less XDomainRequest transports of old Internet Explorers. A
// non-browser SockJS client on an HTTP transport needs a cookie jar.

// sessionCookie is the name of the cookie binding a SockJS session to the
// client that opened it.
const sessionCookie = "chatrelay_sockjs"

// bindingGrace is how long a binding outlives its session (or waits for
// it to start): sockjs-go keeps an ended session for its disconnect delay
// after the last request, which may still come from its client.
const bindingGrace = 2 * sockjsDisconnect

// minSweep is the table size from which bindings sweeps forgotten entries.
const minSweep = 64

// bindings holds the token of every SockJS session of an HTTP transport,
// by session id. It is safe for concurrent use.
type bindings struct {
	now func() time.Time

	mu        sync.Mutex
	byID      map[string]*binding
	nextSweep int // sweep when the table reaches this size
}

// binding is one session's token. A binding no session holds (not yet
// started, or ended) is forgotten after expires.
type binding struct {
	token   string
	held    bool
	expires time.Time
}

func newBindings() *bindings {
	return &bindings{now: time.Now, byID: map[string]*binding{}, nextSweep: minSweep}
}

// admit decides whether r may reach SockJS session id. A session that
// has a binding admits only requests carrying its token. Without one, an
// opening request (opens) binds the session to a new token, which it
// returns for the response's cookie; any other request is refused.
func (b *bindings) admit(r *http.Request, id string, opens bool) (newToken string, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.byID[id]; e != nil {
		c, err := r.Cookie(sessionCookie)
		return "", err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(e.token)) == 1
	}
	if !opens {
		return "", false
	}
	b.sweep()
	token := newSessionToken()
	b.byID[id] = &binding{token: token, expires: b.now().Add(bindingGrace)}
	return token, true
}

// hold marks id's binding as held by its running session.
func (b *bindings) hold(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.byID[id]; e != nil {
		e.held = true
	}
}

// release lets id's binding go bindingGrace after its session ended.
func (b *bindings) release(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.byID[id]; e != nil {
		e.held = false
		e.expires = b.now().Add(bindingGrace)
	}
}

// len returns how many bindings the table holds.
func (b *bindings) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.byID)
}

// sweep forgets the expired bindings no session holds, once the table
// has doubled since the last sweep, so that its cost per new binding
// stays constant.
func (b *bindings) sweep() {
	if len(b.byID) < b.nextSweep {
		return
	}
	now := b.now()
	for id, e := range b.byID {
		if !e.held && now.After(e.expires) {
			delete(b.byID, id)
		}
	}
	b.nextSweep = max(minSweep, 2*len(b.byID))
}

// newSessionToken returns 128 random bits, URL-safe.
func newSessionToken() string {
	var k [16]byte
	_, _ = rand.Read(k[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(k[:])
}

// setSessionCookie adds the cookie carrying token to w's headers.
func setSessionCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    token,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}
