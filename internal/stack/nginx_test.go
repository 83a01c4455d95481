package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/testkit"
)

// nginxBinary returns the nginx executable, or ends the test: a skip
// normally, a failure when CHATRELAY_TEST_REQUIRE_NGINX=1, a skip under
// -short (testkit.Require).
func nginxBinary(t testing.TB) string {
	t.Helper()
	testkit.SkipShort(t, testkit.Nginx)
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if st, err := os.Stat("/usr/sbin/nginx"); err == nil && st.Mode()&0o111 != 0 {
		return "/usr/sbin/nginx"
	}
	testkit.Require(t, testkit.Nginx, errors.New("not installed (Debian package nginx)"))
	return ""
}

// nginxSetup is docker/nginx.conf rewritten for a test: listening on a
// loopback port, balancing over two given backends, with every path nginx
// writes inside dir.
type nginxSetup struct {
	bin, dir, conf string
	addr           string // host:port nginx listens on
}

// newNginxSetup writes the rewritten configuration into a fresh temporary
// directory. backend1 and backend2 replace chatrelay1:8080 and
// chatrelay2:8080; listen is the address for "listen 8080".
func newNginxSetup(t testing.TB, listen, backend1, backend2 string) *nginxSetup {
	t.Helper()
	bin := nginxBinary(t)
	conf := repoFile(t, "docker/nginx.conf")
	for _, r := range []struct{ old, new string }{
		{"chatrelay1:8080", backend1},
		{"chatrelay2:8080", backend2},
		{"listen 8080;", "listen " + listen + ";"},
	} {
		if !strings.Contains(conf, r.old) {
			t.Fatalf("docker/nginx.conf no longer contains %q, which the test rewrites", r.old)
		}
		conf = strings.ReplaceAll(conf, r.old, r.new)
	}
	dir := t.TempDir()
	// temporary files of the modules this nginx has, inside dir, so that
	// nginx runs without root and touches nothing of the system's
	var temps []string
	version, _ := exec.Command(bin, "-V").CombinedOutput()
	for _, m := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		if !strings.Contains(string(version), "--without-http_"+m+"_module") {
			temps = append(temps, fmt.Sprintf("    %s_temp_path %s;", m, filepath.Join(dir, m)))
		}
	}
	conf = strings.Replace(conf, "http {\n", "http {\n"+strings.Join(temps, "\n")+"\n", 1)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return &nginxSetup{bin: bin, dir: dir, conf: path, addr: listen}
}

// args are nginx's command-line arguments for this setup, plus extra -g
// directives.
func (s *nginxSetup) args(global string, extra ...string) []string {
	return append([]string{
		"-p", s.dir + "/",
		"-e", filepath.Join(s.dir, "error.log"),
		"-c", s.conf,
		"-g", "pid " + filepath.Join(s.dir, "nginx.pid") + "; " + global,
	}, extra...)
}

// test runs nginx -t on the setup and returns its output.
func (s *nginxSetup) test(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, s.bin, s.args("", "-t")...).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t on docker/nginx.conf: %v\n%s", err, out)
	}
	return string(out)
}

// start runs nginx in the foreground until the test ends and waits until
// it accepts connections.
func (s *nginxSetup) start(t testing.TB) {
	t.Helper()
	out := &lockedBuffer{}
	cmd := exec.Command(s.bin, s.args("daemon off;")...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // master and workers share a group the cleanup can kill
		Pdeathsig: syscall.SIGKILL, // a dying test binary takes the master along
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	// this goroutine owns cmd.Wait
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT) // graceful: workers finish and exit
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("nginx output:\n%s", out.String())
			if b, err := os.ReadFile(filepath.Join(s.dir, "error.log")); err == nil {
				t.Logf("nginx error.log:\n%s", b)
			}
		}
	})
	err := rabbittest.WaitFor(10*time.Second, func() (bool, error) {
		select {
		case <-exited:
			return false, errors.New("nginx exited: " + out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err != nil {
			return false, err
		}
		c.Close()
		return true, nil
	})
	if err != nil {
		t.Fatalf("nginx did not start: %v", err)
	}
}

// startNginx runs docker/nginx.conf in front of two backends and returns
// its base address.
func startNginx(t testing.TB, backend1, backend2 string) string {
	t.Helper()
	s := newNginxSetup(t, testkit.FreeAddr(t), backend1, backend2)
	s.start(t)
	return s.addr
}

// TestNginxConfigValid: nginx -t accepts docker/nginx.conf once its
// upstreams point at loopback ports.
func TestNginxConfigValid(t *testing.T) {
	s := newNginxSetup(t, testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t))
	out := s.test(t)
	if !strings.Contains(out, "test is successful") {
		t.Fatalf("nginx -t: %s", out)
	}
}
