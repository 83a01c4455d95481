package apicheck

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeReplica answers like a replica would, or not, per path.
func fakeReplica() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/rooms": // documented answer
			_, _ = w.Write([]byte(`{"rooms":[],"next":null}`))
		case "/api/rooms/abc": // a status the document does not list
			w.WriteHeader(http.StatusTeapot)
			_, _ = w.Write([]byte(`{"error":"teapot"}`))
		case "/api/rooms/abc/members": // a body that is not the schema
			_, _ = w.Write([]byte(`{"roomId":"abc"}`))
		case "/api/nowhere": // an undocumented route, served
			_, _ = w.Write([]byte(`{}`))
		case "/api/rooms/abc/read": // serves a request the document refuses
			_, _ = w.Write([]byte(`{"roomId":"abc","offset":1}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"not found"}`))
		}
	}))
}

// TestCheckerCatchesDisagreements: each kind of disagreement is a
// violation; agreeing exchanges and unwatched hosts are not.
func TestCheckerCatchesDisagreements(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	srv := fakeReplica()
	defer srv.Close()
	client := &http.Client{Transport: c.Transport(nil)}
	do := func(method, path, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	do("GET", "/api/nowhere", "") // not watched yet
	if v := c.Violations(); len(v) != 0 {
		t.Fatalf("violations on an unwatched host: %v", v)
	}
	c.Watch(strings.TrimPrefix(srv.URL, "http://"))
	do("GET", "/api/rooms", "")
	do("GET", "/api/unknown-route", "")
	if v := c.Violations(); len(v) != 0 {
		t.Fatalf("violations on agreeing exchanges: %v", v)
	}
	do("GET", "/api/rooms/abc", "")
	do("GET", "/api/rooms/abc/members", "")
	do("GET", "/api/nowhere", "")
	do("PUT", "/api/rooms/abc/read", `{"offset":"x"}`)
	v := c.Violations()
	for _, want := range []string{"GET /api/rooms/abc ", "GET /api/rooms/abc/members", "GET /api/nowhere: not in the document", "PUT /api/rooms/abc/read: the server answered 200"} {
		found := false
		for _, s := range v {
			found = found || strings.Contains(s, want)
		}
		if !found {
			t.Errorf("no violation for %q in %q", want, v)
		}
	}
	if got := c.Checked()["GET /api/rooms"]; got != 1 {
		t.Errorf("GET /api/rooms checked %d times, want 1", got)
	}
}
