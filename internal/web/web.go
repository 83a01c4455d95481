// Package web serves chatrelay's browser chat: a single page (index.html,
// app.js, style.css) and the vendored @stomp/stompjs and sockjs-client
// bundles it loads, all embedded in the binary, so a plain
// `go run ./cmd/chatrelay` serves a working chat at / with no Node.js at
// run time.
//
// The vendored bundles live in static/vendor; `make web-vendor` copies them
// from test/js/node_modules (the versions pinned in test/js/package.json)
// and a test checks that they have not drifted.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"maps"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"chatrelay/internal/rooms"
)

// static holds the page and its vendored libraries.
//
//go:embed static
var static embed.FS

// contentTypes maps the extensions of the embedded files to their
// Content-Type; anything else falls back to the mime package, then to
// application/octet-stream.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".txt":  "text/plain; charset=utf-8",
	".json": "application/json",
	".map":  "application/json",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

// pageCSP is the Content-Security-Policy of the page: scripts, styles and
// HTTP requests from this server only; WebSockets to any host (ws: and
// wss: because older browsers do not count them as 'self').
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// aliases are the paths served by a file of another name: the chat at /,
// the REST API reference (Swagger UI) at /api/docs, where the server
// mounts this handler too.
var aliases = map[string]string{"": "index.html", "api/docs": "api-docs.html"}

// asset is one embedded file, ready to serve.
type asset struct {
	data        []byte
	contentType string
	etag        string
}

// handler serves the embedded assets by exact path, and config.json.
type handler struct {
	assets map[string]*asset // by slash path without the leading slash
}

// Options are the server settings the page needs to know.
type Options struct {
	// MaxMessageBytes is the server's limit on a message's text in UTF-8
	// bytes (rooms.max_message_bytes); the page counts against it.
	MaxMessageBytes int
}

// pageConfig is config.json: the settings of Options the page reads at
// start, plus the server's name bounds.
type pageConfig struct {
	MaxMessageBytes  int `json:"maxMessageBytes"`
	MaxRoomNameLen   int `json:"maxRoomNameLen"`
	MaxRoomNameBytes int `json:"maxRoomNameBytes"`
	MaxUserNameLen   int `json:"maxUserNameLen"`
}

// loadAssets reads every embedded file once.
var loadAssets = sync.OnceValue(func() map[string]*asset {
	root, err := fs.Sub(static, "static")
	if err != nil {
		panic("web: " + err.Error()) // the embed pattern guarantees the directory
	}
	assets := map[string]*asset{}
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(root, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		assets[name] = &asset{
			data:        data,
			contentType: contentType(name),
			etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
		}
		return nil
	})
	if err != nil {
		panic("web: reading embedded files: " + err.Error())
	}
	return assets
})

// contentType returns the Content-Type of a file by its extension.
func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if ct, ok := contentTypes[ext]; ok {
		return ct
	}
	if ct := mime.TypeByExtension(ext); ct != "" {
		return ct
	}
	return "application/octet-stream"
}

// Handler returns the handler of the web chat. It serves index.html at /
// (and at /index.html) and every other embedded file at its own path, for
// GET and HEAD, with a Content-Type by extension, a strong ETag and
// "Cache-Control: no-cache" (browsers revalidate, and get 304 while the
// binary is unchanged). Directories are never listed: any path that is not
// a file is 404. Other methods on a file get 405 with Allow, so the
// handler can be mounted at the catch-all pattern "/".
func Handler() http.Handler {
	return HandlerWith(Options{})
}

// HandlerWith is Handler that also serves /config.json with opts (a zero
// MaxMessageBytes means rooms.DefaultMaxMessageBytes): the page counts
// message bytes and checks names against what this server accepts.
func HandlerWith(opts Options) http.Handler {
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = rooms.DefaultMaxMessageBytes
	}
	cfg, _ := json.Marshal(pageConfig{ // plain data: cannot fail
		MaxMessageBytes:  opts.MaxMessageBytes,
		MaxRoomNameLen:   rooms.MaxNameLen,
		MaxRoomNameBytes: rooms.MaxNameBytes,
		MaxUserNameLen:   MaxUserNameLen,
	})
	sum := sha256.Sum256(cfg)
	assets := maps.Clone(loadAssets())
	assets["config.json"] = &asset{data: cfg, contentType: contentTypes[".json"], etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	return &handler{assets: assets}
}

// MaxUserNameLen is the longest user name auth.ValidUser accepts, in
// characters.
const MaxUserNameLen = 64

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	if alias, ok := aliases[name]; ok {
		name = alias
	}
	a, ok := h.assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", a.etag)
	hdr.Set("X-Content-Type-Options", "nosniff")
	if path.Ext(name) == ".html" {
		hdr.Set("Content-Security-Policy", pageCSP)
		hdr.Set("Referrer-Policy", "same-origin")
	}
	// ServeContent answers HEAD, Range and If-None-Match (304)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.data))
}
