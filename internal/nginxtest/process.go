package nginxtest

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatrelay/internal/proctest"
	"chatrelay/internal/testkit"
)

// stopGrace is how long the cleanup waits for a graceful stop (SIGQUIT)
// before it kills nginx's process group.
const stopGrace = 10 * time.Second

// Nginx is a running nginx, master and workers in one process group.
type Nginx struct {
	// Addr is the host:port it listens on.
	Addr string
	// Out collects its stdout and stderr (access and error log).
	Out *proctest.LockedBuffer

	cmd    *exec.Cmd
	exited chan struct{}
}

// Base returns nginx's base URL.
func (n *Nginx) Base() string { return "http://" + n.Addr }

// Running returns an error, with nginx's output, once nginx has exited.
func (n *Nginx) Running() error {
	select {
	case <-n.exited:
		return errors.New("nginx exited: " + n.cmd.ProcessState.String() + "\n" + n.Out.String())
	default:
		return nil
	}
}

// Start runs nginx in the foreground until the test ends and waits until
// it accepts connections. At cleanup nginx gets SIGQUIT (workers finish
// and exit), then after stopGrace its process group a SIGKILL; its output
// is logged when the test failed. The master dies with the test binary
// (Pdeathsig); workers such a death leaves behind are reaped by the next
// Configure.
func (s *Setup) Start(t testing.TB) *Nginx {
	t.Helper()
	n := &Nginx{Addr: s.Addr, Out: &proctest.LockedBuffer{}, exited: make(chan struct{})}
	n.cmd = exec.Command(s.bin, s.args("daemon off;")...)
	n.cmd.Stdout, n.cmd.Stderr = n.Out, n.Out
	n.cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // master and workers share a group the cleanup can kill
		Pdeathsig: syscall.SIGKILL, // a dying test binary takes the master along
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	// this goroutine owns cmd.Wait and closes exited
	go func() {
		_ = n.cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		_ = n.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-n.exited:
		case <-time.After(stopGrace):
			t.Logf("nginx did not stop within %v of SIGQUIT: killing it", stopGrace)
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
		// workers outlive a killed master: end the group
		_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("nginx output:\n%s", n.Out.String())
		}
	})
	err := testkit.WaitFor(10*time.Second, func() (bool, error) {
		if err := n.Running(); err != nil {
			return false, err
		}
		c, err := net.DialTimeout("tcp", n.Addr, time.Second)
		if err != nil {
			return false, err
		}
		c.Close()
		return true, nil
	})
	if err != nil {
		t.Fatalf("nginx did not start: %v", err)
	}
	return n
}

// reapStale ends the nginx workers of test binaries that died without
// cleaning up (a SIGKILL, a panic on -timeout): the master dies with its
// test (Pdeathsig), but its workers live on. For every Configure
// directory whose owner process is gone, it kills the nginx processes of
// the master's process group and removes the directory.
func reapStale() {
	for _, dir := range testkit.StaleDirs(dirPattern) {
		if pgid, err := testkit.ReadPid(filepath.Join(dir, "nginx.pid")); err == nil && pgid > 1 {
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
