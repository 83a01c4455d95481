package proctest

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// readyTimeout bounds how long Start waits for the child's /readyz.
const readyTimeout = 30 * time.Second

// Server is chatrelay running as a child process.
type Server struct {
	// Addr is its HTTP host:port on 127.0.0.1.
	Addr string
	// Out collects its stdout and stderr.
	Out *LockedBuffer

	cmd    *exec.Cmd
	exited chan struct{}
}

// Start runs the cmd/chatrelay binary in an empty directory (no
// config.yaml: defaults and environment) with env added to the test's
// environment and CHATRELAY_HTTP_ADDR set to a free loopback port, and
// waits until its /readyz answers 200. The process dies with the test
// binary (Pdeathsig) and is killed at cleanup.
func Start(t testing.TB, env ...string) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(Binary(t))
	cmd.Dir = t.TempDir()
	cmd.Env = append(append(os.Environ(), env...), "CHATRELAY_HTTP_ADDR="+addr)
	s := &Server{Addr: addr, Out: &LockedBuffer{}, cmd: cmd, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.Out, s.Out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with the test binary
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// this goroutine owns cmd.Wait and closes exited
	go func() { _ = cmd.Wait(); close(s.exited) }()
	t.Cleanup(s.Kill)
	deadline := time.Now().Add(readyTimeout)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("chatrelay exited before it was ready:\n%s", s.Out.String())
		case <-time.After(100 * time.Millisecond): // polling /readyz, bounded by deadline
		}
		if time.Now().After(deadline) {
			t.Fatalf("chatrelay not ready within %v:\n%s", readyTimeout, s.Out.String())
		}
	}
}

// Kill kills the process with SIGKILL and waits until it is gone.
func (s *Server) Kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}
