package web

import (
	"bytes"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// get sends one request to the handler and returns the recorded answer.
func get(t *testing.T, method, path string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, vs := range header {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec
}

// embedded returns an embedded file's bytes.
func embedded(t *testing.T, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(static, "static/"+name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestServesFiles(t *testing.T) {
	cases := []struct {
		path, file, contentType string
	}{
		{"/", "index.html", "text/html; charset=utf-8"},
		{"/index.html", "index.html", "text/html; charset=utf-8"},
		{"/app.js", "app.js", "text/javascript; charset=utf-8"},
		{"/style.css", "style.css", "text/css; charset=utf-8"},
		{"/vendor/stomp.umd.min.js", "vendor/stomp.umd.min.js", "text/javascript; charset=utf-8"},
		{"/vendor/sockjs.min.js", "vendor/sockjs.min.js", "text/javascript; charset=utf-8"},
		{"/vendor/stompjs-LICENSE.txt", "vendor/stompjs-LICENSE.txt", "text/plain; charset=utf-8"},
		{"/vendor/sockjs-client-LICENSE.txt", "vendor/sockjs-client-LICENSE.txt", "text/plain; charset=utf-8"},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			rec := get(t, http.MethodGet, c.path, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, want 200", rec.Code)
			}
			if got := rec.Header().Get("Content-Type"); got != c.contentType {
				t.Errorf("Content-Type %q, want %q", got, c.contentType)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", got)
			}
			if rec.Header().Get("ETag") == "" {
				t.Error("no ETag")
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if want := embedded(t, c.file); !bytes.Equal(rec.Body.Bytes(), want) {
				t.Errorf("body is not %s (%d bytes, want %d)", c.file, rec.Body.Len(), len(want))
			}
		})
	}
}

func TestIndexLoadsScriptsAndDocumentsIDs(t *testing.T) {
	page := string(embedded(t, "index.html"))
	for _, s := range []string{
		`src="vendor/stomp.umd.min.js"`, `src="vendor/sockjs.min.js"`, `src="typing.js"`, `src="app.js"`, `href="style.css"`,
	} {
		if !strings.Contains(page, s) {
			t.Errorf("index.html lacks %s", s)
		}
	}
	// every id the test hooks promise exists as an element and is documented
	for _, id := range []string{
		"user", "connect", "disconnect", "status", "me", "transport", "error-banner", "error-text",
		"error-dismiss", "room-list", "new-room-name", "create-room", "current-room", "leave-room",
		"messages", "typing", "message-input", "send", "online", "dm-to", "dm-text", "dm-send", "dms",
	} {
		if !strings.Contains(page, `id="`+id+`"`) {
			t.Errorf("index.html has no element #%s", id)
		}
		if !strings.Contains(page, "#"+id) {
			t.Errorf("index.html does not document #%s", id)
		}
	}
	rec := get(t, http.MethodGet, "/", nil)
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("page CSP %q", csp)
	}
}

func TestHead(t *testing.T) {
	for _, path := range []string{"/", "/app.js", "/vendor/stomp.umd.min.js"} {
		rec := get(t, http.MethodHead, path, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("HEAD %s: status %d", path, rec.Code)
		}
		if rec.Body.Len() != 0 {
			t.Errorf("HEAD %s: %d body bytes", path, rec.Body.Len())
		}
		if rec.Header().Get("Content-Length") == "" || rec.Header().Get("Content-Type") == "" {
			t.Errorf("HEAD %s: headers %v", path, rec.Header())
		}
	}
}

func TestNotFound(t *testing.T) {
	for _, path := range []string{
		"/nope", "/vendor", "/vendor/", "/static/index.html", "/app.js/", "/index.html/x",
		"/vendor/stomp.umd.js", "/VENDOR/sockjs.min.js",
	} {
		rec := get(t, http.MethodGet, path, nil)
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, rec.Code)
		}
		if strings.Contains(rec.Body.String(), "stomp.umd.min.js") {
			t.Errorf("GET %s lists a directory", path)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	rec := get(t, http.MethodPost, "/app.js", nil)
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /app.js: %d Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
	if rec := get(t, http.MethodPost, "/unknown", nil); rec.Code != http.StatusNotFound {
		t.Errorf("POST /unknown: %d, want 404", rec.Code)
	}
}

func TestConditionalGet(t *testing.T) {
	etag := get(t, http.MethodGet, "/app.js", nil).Header().Get("ETag")
	rec := get(t, http.MethodGet, "/app.js", http.Header{"If-None-Match": {etag}})
	if rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", rec.Code)
	}
	if other := get(t, http.MethodGet, "/style.css", nil).Header().Get("ETag"); other == etag {
		t.Errorf("two files share ETag %s", etag)
	}
}

// TestMountedAtRoot checks the handler beside the server's other patterns
// as server.go mounts it: "/" must not conflict with "/api/" or "GET /ws".
func TestMountedAtRoot(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ws")) })
	mux.HandleFunc("/api/", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("api")) })
	mux.Handle("/", Handler())
	for path, want := range map[string]string{"/ws": "ws", "/api/rooms": "api"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Body.String() != want {
			t.Errorf("GET %s reached %q, want %q", path, rec.Body.String(), want)
		}
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "<title>chatrelay</title>") {
		t.Errorf("GET /: %d", rec.Code)
	}
}
