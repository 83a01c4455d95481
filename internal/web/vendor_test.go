package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"chatrelay/internal/testkit"
)

// jsDir is test/js, where package.json pins the browser libraries and
// `npm ci --prefix test/js` (make js-deps) installs them.
var jsDir = filepath.Join("..", "..", "test", "js")

// pinned are the versions of the vendored libraries; test/js/package.json
// must pin the same ones. Bump both, then run `make web-vendor`.
var pinned = map[string]string{
	"@stomp/stompjs":  "7.5.0",
	"sockjs-client":   "1.6.1",
	"swagger-ui-dist": "5.35.0",
}

// vendored lists each file of static/vendor and the node_modules file it
// is a byte-for-byte copy of (as `make web-vendor` copies it).
var vendored = []struct{ pkg, from, to string }{
	{"@stomp/stompjs", "bundles/stomp.umd.min.js", "vendor/stomp.umd.min.js"},
	{"@stomp/stompjs", "LICENSE", "vendor/stompjs-LICENSE.txt"},
	{"sockjs-client", "dist/sockjs.min.js", "vendor/sockjs.min.js"},
	{"sockjs-client", "LICENSE", "vendor/sockjs-client-LICENSE.txt"},
	{"swagger-ui-dist", "swagger-ui-bundle.js", "vendor/swagger-ui/swagger-ui-bundle.js"},
	{"swagger-ui-dist", "swagger-ui-bundle.js.LICENSE.txt", "vendor/swagger-ui/swagger-ui-bundle.js.LICENSE.txt"},
	{"swagger-ui-dist", "swagger-ui.css", "vendor/swagger-ui/swagger-ui.css"},
	{"swagger-ui-dist", "LICENSE", "vendor/swagger-ui/swagger-ui-LICENSE.txt"},
	{"swagger-ui-dist", "NOTICE", "vendor/swagger-ui/swagger-ui-NOTICE.txt"},
}

// readJSON decodes a JSON file into v.
func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestPinnedVersions needs no Node: package.json and its lockfile must pin
// exactly the vendored versions.
func TestPinnedVersions(t *testing.T) {
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	readJSON(t, filepath.Join(jsDir, "package.json"), &pkg)
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	readJSON(t, filepath.Join(jsDir, "package-lock.json"), &lock)
	for name, version := range pinned {
		if got := pkg.Dependencies[name]; got != version {
			t.Errorf("test/js/package.json pins %s %q; the vendored copy is %s (update internal/web and run make web-vendor)", name, got, version)
		}
		if got := lock.Packages["node_modules/"+name].Version; got != version {
			t.Errorf("test/js/package-lock.json locks %s %q, want %s", name, got, version)
		}
	}
}

// TestVendoredMatchesNodeModules checks that static/vendor holds exactly
// the installed packages' files. It needs test/js/node_modules (make
// js-deps): it skips without it unless CHATRELAY_TEST_REQUIRE_NODE=1.
func TestVendoredMatchesNodeModules(t *testing.T) {
	modules := filepath.Join(jsDir, "node_modules")
	if _, err := os.Stat(modules); errors.Is(err, fs.ErrNotExist) {
		if testkit.Node.Required() {
			t.Fatalf("%s is missing and %s=1: run make js-deps", modules, testkit.Node.Env)
		}
		t.Skipf("%s is missing (run make js-deps); not checking the vendored bundles", modules)
	}
	for name, version := range pinned {
		var pkg struct {
			Version string `json:"version"`
		}
		readJSON(t, filepath.Join(modules, filepath.FromSlash(name), "package.json"), &pkg)
		if pkg.Version != version {
			t.Errorf("node_modules has %s %s, want %s (run make js-deps)", name, pkg.Version, version)
		}
	}
	for _, v := range vendored {
		want, err := os.ReadFile(filepath.Join(modules, filepath.FromSlash(v.pkg), filepath.FromSlash(v.from)))
		if err != nil {
			t.Fatal(err)
		}
		onDisk, err := os.ReadFile(filepath.Join("static", filepath.FromSlash(v.to)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(onDisk, want) {
			t.Errorf("static/%s differs from %s/%s: run make web-vendor", v.to, v.pkg, v.from)
		}
		if !bytes.Equal(embedded(t, v.to), want) {
			t.Errorf("embedded %s differs from %s/%s", v.to, v.pkg, v.from)
		}
	}
}

// TestVendorHoldsOnlyKnownFiles keeps static/vendor to the files the
// drift check covers.
func TestVendorHoldsOnlyKnownFiles(t *testing.T) {
	known := map[string]bool{}
	for _, v := range vendored {
		known[v.to] = true
	}
	var files []string
	err := fs.WalkDir(static, "static/vendor", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, strings.TrimPrefix(name, "static/"))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !known[f] {
			t.Errorf("static/%s is not checked against node_modules: add it to vendored", f)
		}
	}
	if len(files) != len(known) {
		t.Errorf("static/vendor has %d files, want %d", len(files), len(known))
	}
}
