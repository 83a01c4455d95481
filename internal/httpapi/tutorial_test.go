package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"chatrelay/internal/roomlimit"
)

// defaultTutorialRoutes are the default tutorial.rest_aliases.
var defaultTutorialRoutes = []TutorialRoute{
	{"GET /chat/rooms", TutorialList},
	{"POST /chat/room", TutorialCreate},
	{"GET /chat/room/{id}", TutorialGet},
}

// tutorialEnv serves /api/ and the tutorial routes over one store and one
// Limiter, as the server mounts them.
func tutorialEnv(t *testing.T, lim roomlimit.Limits, verified bool) (*fakeStore, http.Handler) {
	t.Helper()
	store := newFakeStore()
	opts := Options{
		Store:         store,
		Identify:      passcodePW,
		VerifiedUsers: verified,
		Limiter:       roomlimit.New(lim, store),
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", New(opts))
	h, patterns, err := NewTutorial(opts, defaultTutorialRoutes)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range patterns {
		mux.Handle(p, h)
	}
	return store, mux
}

// call sends a request from addr and decodes the JSON answer into out
// (when not nil); it returns the status.
func call(t *testing.T, h http.Handler, method, target, contentType, body, addr string, out any) int {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.RemoteAddr = addr
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q, body %q", method, target, ct, rec.Body.String())
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, target, rec.Body.String(), err)
		}
	}
	return rec.Code
}

func TestTutorialRoutes(t *testing.T) {
	_, h := tutorialEnv(t, defaultLimits(), false)
	const form = "application/x-www-form-urlencoded"
	var made tutorialRoom
	// the tutorial's axios post: a form body
	if st := call(t, h, "POST", "/chat/room", form, url.Values{"name": {"채팅방"}}.Encode(), "10.0.0.1:1", &made); st != http.StatusOK || made.RoomID == "" || made.Name != "채팅방" {
		t.Fatalf("form create: %d %+v", st, made)
	}
	// ?name= as Spring's @RequestParam reads it, and a JSON body
	var q, j tutorialRoom
	if st := call(t, h, "POST", "/chat/room?name=lobby", "", "", "10.0.0.1:1", &q); st != http.StatusOK || q.Name != "lobby" {
		t.Fatalf("query create: %d %+v", st, q)
	}
	if st := call(t, h, "POST", "/chat/room", "application/json", `{"name":"json room"}`, "10.0.0.1:1", &j); st != http.StatusOK || j.Name != "json room" {
		t.Fatalf("JSON create: %d %+v", st, j)
	}
	var list []tutorialRoom
	if st := call(t, h, "GET", "/chat/rooms", "", "", "10.0.0.2:1", &list); st != http.StatusOK || len(list) != 3 || list[0] != made {
		t.Fatalf("list: %d %+v", st, list)
	}
	var got tutorialRoom
	if st := call(t, h, "GET", "/chat/room/"+made.RoomID, "", "", "10.0.0.2:1", &got); st != http.StatusOK || got != made {
		t.Fatalf("get: %d %+v", st, got)
	}
	// the same room through the API
	var api map[string]any
	if st := call(t, h, "GET", "/api/rooms/"+made.RoomID, "", "", "10.0.0.2:1", &api); st != http.StatusOK || api["name"] != "채팅방" {
		t.Fatalf("api get: %d %v", st, api)
	}
	refusals := []struct {
		name, method, target, ct, body string
		status                         int
		want                           string
	}{
		{"unknown room", "GET", "/chat/room/nosuch", "", "", http.StatusNotFound, "not found"},
		{"no name", "POST", "/chat/room", form, "", http.StatusBadRequest, "name is required"},
		{"JSON without name", "POST", "/chat/room", "application/json", `{}`, http.StatusBadRequest, "name is required"},
		{"bad JSON", "POST", "/chat/room", "application/json", `{"name":`, http.StatusBadRequest, "JSON"},
		{"duplicate name", "POST", "/chat/room", form, "name=%EC%B1%84%ED%8C%85%EB%B0%A9", http.StatusConflict, "exists"},
		{"name too long", "POST", "/chat/room", form, "name=" + strings.Repeat("x", 101), http.StatusBadRequest, "longer"},
		{"body too large", "POST", "/chat/room", form, "name=" + strings.Repeat("x", 70<<10), http.StatusBadRequest, "larger"},
	}
	for _, r := range refusals {
		var e map[string]any
		if st := call(t, h, r.method, r.target, r.ct, r.body, "10.0.0.3:1", &e); st != r.status || !strings.Contains(e["error"].(string), r.want) {
			t.Errorf("%s: %d %v, want %d %q", r.name, st, e, r.status, r.want)
		}
	}
}

// TestTutorialCreateSharesTheLimits: POST /chat/room counts against the
// same per-address bucket as POST /api/rooms, and is refused past it with
// the same 429 code, key and Retry-After.
func TestTutorialCreateSharesTheLimits(t *testing.T) {
	lim := defaultLimits()
	_, h := tutorialEnv(t, lim, false)
	const addr = "10.1.1.1:9"
	created := 0
	for i := 0; i < lim.AddressBurst; i++ {
		target := "/api/rooms"
		body, ct := `{"name":"r`+string(rune('a'+i))+`"}`, "application/json"
		if i%2 == 1 {
			target, body, ct = "/chat/room", "name=r"+string(rune('a'+i)), "application/x-www-form-urlencoded"
		}
		if st := call(t, h, "POST", target, ct, body, addr, nil); st != http.StatusCreated && st != http.StatusOK {
			t.Fatalf("creation %d through %s: %d", i, target, st)
		}
		created++
	}
	var e map[string]any
	req := httptest.NewRequest("POST", "/chat/room", strings.NewReader("name=one-more"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = addr
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusTooManyRequests || e["code"] != roomlimit.CodeRate || e["key"] != roomlimit.KeyAddressRate || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("creation %d: %d %v (Retry-After %q), want 429 %s %s", created+1, rec.Code, e, rec.Header().Get("Retry-After"), roomlimit.CodeRate, roomlimit.KeyAddressRate)
	}
	// another address still creates
	if st := call(t, h, "POST", "/chat/room", "application/x-www-form-urlencoded", "name=elsewhere", "10.2.2.2:9", nil); st != http.StatusOK {
		t.Fatalf("another address: %d", st)
	}
}

// TestTutorialCreateNeedsUserWhenVerified: in static/jwt, anonymous
// creation through the alias is a 401 as through the API.
func TestTutorialCreateNeedsUserWhenVerified(t *testing.T) {
	_, h := tutorialEnv(t, defaultLimits(), true)
	var e map[string]any
	if st := call(t, h, "POST", "/chat/room", "application/x-www-form-urlencoded", "name=x", "10.0.0.1:1", &e); st != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d %v", st, e)
	}
	req := httptest.NewRequest("POST", "/chat/room", strings.NewReader("name=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("ann", "pw")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("signed in: %d %s", rec.Code, rec.Body)
	}
}

func TestTutorialRoutesAreChecked(t *testing.T) {
	opts := Options{Store: newFakeStore()}
	for _, bad := range [][]TutorialRoute{
		{{"GET /chat/rooms", "delete"}},
		{{"GET /chat/rooms", TutorialList}, {"GET /chat/rooms", TutorialList}},
		{{"not a pattern {", TutorialList}},
	} {
		if _, _, err := NewTutorial(opts, bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
