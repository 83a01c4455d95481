package transport

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/stomp"
	"chatrelay/internal/testkit"
)

// TestSockJSSessionInjection: alice opens a session over xhr-polling; a
// client without her cookie (none, or the valid cookie of its own
// session) can neither send into her session nor poll it: 404, and
// nothing it sent reaches her session, which keeps working.
func TestSockJSSessionInjection(t *testing.T) {
	testkit.SkipSlow(t, "its server shutdown waits 5 s on a held connection")
	e := newTestEndpoints(t, nil, HandshakeLimits{}, 5*time.Second)
	alice := newXHR(t, e)
	if status, body := alice.post("xhr", ""); status != http.StatusOK || body != "o\n" {
		t.Fatalf("open: %d %q", status, body)
	}
	if status := alice.send(connectFrame); status != http.StatusNoContent {
		t.Fatalf("xhr_send: %d", status)
	}
	if f, cf := alice.poll(); f == nil || f.Command != stomp.CONNECTED {
		t.Fatalf("got %v %+v", f, cf)
	}

	// mallory opens a session of her own, so she holds a valid cookie
	mallory := newXHR(t, e)
	if status, _ := mallory.post("xhr", ""); status != http.StatusOK {
		t.Fatalf("mallory's own session: %d", status)
	}
	var malloryCookie string
	for _, c := range mallory.client.Jar.Cookies(mustURL(t, mallory.base+"/xhr_send")) {
		if c.Name == sessionCookie {
			malloryCookie = c.String()
		}
	}
	if malloryCookie == "" {
		t.Fatal("mallory's session set no cookie")
	}
	inject, _ := json.Marshal([]string{"SUBSCRIBE\nid:injected\ndestination:/app/echo\n\n\x00"})
	for _, cookie := range []string{"", malloryCookie, sessionCookie + "=forged"} {
		for _, kind := range []string{"xhr_send", "xhr", "xhr_streaming", "eventsource"} {
			method, body := http.MethodPost, string(inject)
			if kind == "eventsource" {
				method, body = http.MethodGet, ""
			}
			req, _ := http.NewRequest(method, alice.base+"/"+kind, strings.NewReader(body))
			if cookie != "" {
				req.Header.Set("Cookie", cookie)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Set-Cookie") != "" {
				t.Errorf("%s %s with cookie %q: %d, Set-Cookie %q; want 404 and none", method, kind, cookie, resp.StatusCode, resp.Header.Get("Set-Cookie"))
			}
		}
	}

	// alice's own SUBSCRIBE is the first thing her session handles
	if status := alice.send("SUBSCRIBE\nid:own\ndestination:/app/echo\nreceipt:r1\n\n\x00"); status != http.StatusNoContent {
		t.Fatalf("alice's xhr_send: %d", status)
	}
	for range 2 { // her MESSAGE and RECEIPT, in either order
		f, cf := alice.poll()
		if f == nil {
			t.Fatalf("alice's session closed: %+v", cf)
		}
		switch {
		case f.Command == stomp.RECEIPT && f.Header("receipt-id") == "r1":
		case f.Command == stomp.MESSAGE && f.Header("subscription") == "own" && string(f.Body) == `{"user":"alice"}`:
		default:
			t.Fatalf("alice got %s %v %q", f.Command, f.Headers, f.Body)
		}
	}
	if n := e.obs.get("opened sockjs"); n != 2 {
		t.Fatalf("%d SockJS sessions opened, want alice's and mallory's", n)
	}
}

// TestSockJSSessionCookie: the opening request of each HTTP transport
// sets an HttpOnly cookie without Path (scoped by the browser to the
// session's URL), later requests set none, /info says cookie_needed, and
// the websocket transport needs no cookie.
func TestSockJSSessionCookie(t *testing.T) {
	testkit.SkipSlow(t, "its server shutdown waits 5 s on a held connection")
	e := newTestEndpoints(t, nil, HandshakeLimits{}, 5*time.Second)
	x := newXHR(t, e)
	resp, err := x.client.Post(x.base+"/xhr", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	set := resp.Header.Values("Set-Cookie")
	if len(set) != 1 || !strings.HasPrefix(set[0], sessionCookie+"=") || !strings.Contains(set[0], "HttpOnly") ||
		!strings.Contains(set[0], "SameSite=Lax") || strings.Contains(set[0], "Path") {
		t.Fatalf("Set-Cookie %q", set)
	}
	resp, err = x.client.Post(x.base+"/xhr_send", "text/plain", strings.NewReader(`["\n"]`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Set-Cookie") != "" {
		t.Fatalf("xhr_send with the cookie: %d, Set-Cookie %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
	resp, err = http.Get(e.srv.URL + "/ws-stomp/info")
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		CookieNeeded bool `json:"cookie_needed"`
	}
	err = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if err != nil || !info.CookieNeeded {
		t.Fatalf("info: %+v %v", info, err)
	}
	c := dialSockJS(t, e, "", nil)
	c.send(connectFrame)
	if f := c.frame(); f.Command != stomp.CONNECTED {
		t.Fatalf("websocket transport: %v", f)
	}
}

// TestBindingsSweep: bindings no session holds are forgotten after the
// grace, held ones never; the sweep runs as the table grows.
func TestBindingsSweep(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBindings()
	b.now = func() time.Time { return now }
	open := func(id string) {
		t.Helper()
		if token, ok := b.admit(httptest.NewRequest(http.MethodPost, "/", nil), id, true); !ok || token == "" {
			t.Fatalf("open %s refused", id)
		}
	}
	for i := range minSweep {
		open(string(rune('A' + i)))
	}
	b.hold("A")
	b.hold("B")
	b.release("B")
	now = now.Add(bindingGrace + time.Second)
	b.release("C") // ended just now: kept for the grace
	open("new")    // the table is full: sweeps
	if n := b.len(); n != 3 {
		t.Fatalf("%d bindings after the sweep, want A (held), C (just ended) and new", n)
	}
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	if _, ok := b.admit(req, "A", false); ok {
		t.Fatal("a request without the cookie admitted")
	}
	if _, ok := b.admit(req, "gone", false); ok {
		t.Fatal("a non-opening request made a binding")
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
