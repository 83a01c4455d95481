package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatrelay/internal/jsclient"
	"chatrelay/internal/testkit"
)

// nginxDirPattern names the directories startNginx creates in
// os.TempDir().
const nginxDirPattern = "chatrelay-e2e-nginx-*"

// nginxTemps are the temporary-file directives of nginx's HTTP modules,
// moved into the test's directory.
var nginxTemps = []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"}

// startNginx runs docker/nginx.conf listening on listen and balancing over
// backend1 and backend2 (for chatrelay1:8080 and chatrelay2:8080), and
// waits until it proxies /healthz.
func startNginx(t testing.TB, listen, backend1, backend2 string) *process {
	t.Helper()
	bin := nginxBinary(t)
	reapStaleNginx()
	root, err := jsclient.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "docker", "nginx.conf"))
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
			t.Fatalf("docker/nginx.conf no longer contains %q, which this test rewrites", r[0])
		}
		conf = strings.ReplaceAll(conf, r[0], r[1])
	}
	// Not t.TempDir: the workers (nobody, when the test runs as root) must
	// reach the temporary-file directories inside it.
	dir, err := os.MkdirTemp("", nginxDirPattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	version, _ := exec.Command(bin, "-V").CombinedOutput()
	var temps strings.Builder
	for _, m := range nginxTemps {
		if !strings.Contains(string(version), "--without-http_"+m+"_module") {
			fmt.Fprintf(&temps, "    %s_temp_path %s;\n", m, filepath.Join(dir, m))
		}
	}
	if !strings.Contains(conf, "http {\n") {
		t.Fatal(`docker/nginx.conf has no "http {" line, where this test adds its temporary paths`)
	}
	conf = strings.Replace(conf, "http {\n", "http {\n"+temps.String(), 1)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir+"/", "-c", path, "-e", "stderr",
		"-g", "daemon off; pid "+filepath.Join(dir, "nginx.pid")+";")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // master and workers: one group to kill
	p := startProcess(t, "nginx", cmd, syscall.SIGQUIT, 10*time.Second)
	waitHTTP(t, p, "http://"+listen+"/nginx-health", 15*time.Second)
	waitHTTP(t, p, "http://"+listen+"/healthz", 15*time.Second)
	return p
}

// nginxBinary finds nginx, or ends the test: a loud skip, or a failure
// when CHATRELAY_TEST_REQUIRE_NGINX=1.
func nginxBinary(t testing.TB) string {
	t.Helper()
	p, err := findBinary("nginx", "/usr/sbin/nginx")
	if err != nil {
		testkit.Require(t, testkit.Nginx, fmt.Errorf("Debian package nginx: %w", err))
	}
	return p
}

// reapStaleNginx ends the nginx workers of test binaries that died without
// cleaning up (a SIGKILL, a panic on -timeout): the master dies with its
// test (Pdeathsig), but its workers live on. For every startNginx
// directory whose owner process is gone, it kills the nginx processes of
// the master's process group and removes the directory.
func reapStaleNginx() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), nginxDirPattern))
	for _, dir := range dirs {
		owner, err := readPid(filepath.Join(dir, "owner.pid"))
		if err != nil {
			// just created by a concurrent test, or garbage once old
			if st, err := os.Stat(dir); err != nil || time.Since(st.ModTime()) < 10*time.Minute {
				continue
			}
		} else if err := syscall.Kill(owner, 0); err == nil || err == syscall.EPERM {
			continue // its test still runs
		}
		if pgid, err := readPid(filepath.Join(dir, "nginx.pid")); err == nil && pgid > 1 {
			for _, pid := range groupMembers(pgid, "nginx") {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		_ = os.RemoveAll(dir)
	}
}

// groupMembers lists the processes named comm in process group pgid.
func groupMembers(pgid int, comm string) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var pids []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open || s[open+1:closing] != comm {
			continue
		}
		fields := strings.Fields(s[closing+1:])
		if len(fields) < 3 || fields[2] != strconv.Itoa(pgid) {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(s[:open])); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// readPid reads a file holding a process id.
func readPid(file string) (int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
