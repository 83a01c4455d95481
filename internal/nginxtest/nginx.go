// Package nginxtest runs docker/nginx.conf for tests: a private nginx on a
// loopback port, balancing over two given backends (for chatrelay1:8080
// and chatrelay2:8080), with every path it writes inside a directory of
// its own, reaped when the test ends. The stack and e2e tests share it.
package nginxtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/testkit"
)

// dirPattern names the directories Configure creates in os.TempDir().
const dirPattern = "chatrelay-nginx-*"

// temps are the temporary-file directives of nginx's HTTP modules, moved
// into the test's directory.
var temps = []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"}

// Binary returns the nginx executable, or ends the test: a skip
// normally, a failure when CHATRELAY_TEST_REQUIRE_NGINX=1, a skip under
// -short (testkit.Require).
func Binary(t testing.TB) string {
	t.Helper()
	testkit.SkipShort(t, testkit.Nginx)
	p, err := Find()
	if err != nil {
		testkit.Require(t, testkit.Nginx, fmt.Errorf("Debian package nginx: %w", err))
	}
	return p
}

// Find looks nginx up in PATH, then at /usr/sbin/nginx.
func Find() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	const fallback = "/usr/sbin/nginx"
	if st, err := os.Stat(fallback); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
		return fallback, nil
	}
	return "", errors.New("nginx not found in PATH nor at " + fallback)
}

// Setup is docker/nginx.conf rewritten for a test: listening on a
// loopback address, balancing over two given backends, with every path
// nginx writes inside Dir.
type Setup struct {
	// Addr is the host:port nginx listens on.
	Addr string
	// Dir holds the configuration, the pid file and the temporary files.
	Dir string

	bin, conf string
}

// Configure writes the rewritten configuration into a fresh directory,
// removed when the test ends. backend1 and backend2 replace
// chatrelay1:8080 and chatrelay2:8080; listen replaces "listen 8080".
// It first reaps the nginx workers that dead test binaries left behind.
func Configure(t testing.TB, listen, backend1, backend2 string) *Setup {
	t.Helper()
	bin := Binary(t)
	reapStale()
	raw, err := os.ReadFile(filepath.Join(testkit.RepoRoot(t), "docker", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(raw)
	for _, r := range [][2]string{
		{"chatrelay1:8080", backend1},
		{"chatrelay2:8080", backend2},
		{"listen 8080;", "listen " + listen + ";"},
	} {
		if !strings.Contains(conf, r[0]) {
			t.Fatalf("docker/nginx.conf no longer contains %q, which the test rewrites", r[0])
		}
		conf = strings.ReplaceAll(conf, r[0], r[1])
	}
	// Not t.TempDir: the workers (nobody, when the test runs as root) must
	// reach the temporary-file directories inside it.
	dir, err := os.MkdirTemp("", dirPattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := testkit.WriteOwner(dir); err != nil {
		t.Fatal(err)
	}
	version, _ := exec.Command(bin, "-V").CombinedOutput()
	var paths strings.Builder
	for _, m := range temps {
		if !strings.Contains(string(version), "--without-http_"+m+"_module") {
			fmt.Fprintf(&paths, "    %s_temp_path %s;\n", m, filepath.Join(dir, m))
		}
	}
	if !strings.Contains(conf, "http {\n") {
		t.Fatal(`docker/nginx.conf has no "http {" line, where the test adds its temporary paths`)
	}
	conf = strings.Replace(conf, "http {\n", "http {\n"+paths.String(), 1)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return &Setup{Addr: listen, Dir: dir, bin: bin, conf: path}
}

// args are nginx's command-line arguments for this setup, with global
// directives added to the pid file's.
func (s *Setup) args(global string, extra ...string) []string {
	return append([]string{
		"-p", s.Dir + "/",
		"-e", "stderr",
		"-c", s.conf,
		"-g", "pid " + filepath.Join(s.Dir, "nginx.pid") + "; " + global,
	}, extra...)
}

// Test runs nginx -t on the setup, fails the test when nginx rejects it,
// and returns nginx's output.
func (s *Setup) Test(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, s.bin, s.args("", "-t")...).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t on docker/nginx.conf: %v\n%s", err, out)
	}
	return string(out)
}

// Start configures nginx in front of backend1 and backend2 on a free
// loopback port and starts it (Configure, then Setup.Start).
func Start(t testing.TB, backend1, backend2 string) *Nginx {
	t.Helper()
	return Configure(t, testkit.FreeAddr(t), backend1, backend2).Start(t)
}
