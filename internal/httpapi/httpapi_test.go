package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestRouting(t *testing.T) {
	tests := []struct {
		name, method, path string
		status             int
		allow              string
		wantError          string
	}{
		{"unknown path", "GET", "/api/nope", 404, "", "not found"},
		{"trailing slash", "GET", "/api/rooms/", 404, "", "not found"},
		{"too deep", "GET", "/api/rooms/1/messages/2/3", 404, "", "not found"},
		{"wrong method on a message", "GET", "/api/rooms/1/messages/2", 405, "DELETE, PUT", "method not allowed"},
		{"wrong method on collection", "PUT", "/api/rooms", 405, "GET, HEAD, POST", "method not allowed"},
		{"wrong method on room", "PATCH", "/api/rooms/1", 405, "DELETE, GET, HEAD", "method not allowed"},
		{"wrong method on user", "GET", "/api/users/bob/messages", 405, "POST", "method not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newEnv(nil).do(t, tt.method, tt.path, "", "")
			if a.status != tt.status || a.field("error") != tt.wantError {
				t.Fatalf("%d %s, want %d %q", a.status, a.raw, tt.status, tt.wantError)
			}
			if got := a.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestPanicAnswersJSON(t *testing.T) {
	e := newEnv(nil)
	e.store.panicList = true
	a := e.do(t, "GET", "/api/rooms", "", "")
	if a.status != 500 || a.field("error") != "internal error" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
}

func TestAbortHandlerPanicPropagates(t *testing.T) {
	h := &api{opts: Options{}.withDefaults(), mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /api/abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", p)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/abort", nil))
}

func TestMountedOnServerMux(t *testing.T) {
	e := newEnv(nil)
	e.store.addRoom(t, "lobby", 0)
	mux := http.NewServeMux()
	mux.Handle("/api/", e.h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(srv.URL + "/api/rooms/1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestNewNeedsStore(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New without a Store did not panic")
		}
	}()
	New(Options{})
}

func TestDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	if o.Now == nil || o.NewID == nil || o.Logger == nil ||
		o.MaxMessageBytes != 4096 || o.PublishTimeout != DefaultPublishTimeout {
		t.Fatalf("defaults not applied: %+v", o)
	}
}
