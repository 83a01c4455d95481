package proctest

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatrelay/internal/testkit"
)

// readyTimeout bounds how long Start waits for the child's /readyz.
const readyTimeout = 30 * time.Second

// Options say how Launch runs the binary.
type Options struct {
	// Name names the process in the test's log ("chatrelay" when empty).
	Name string
	// Env is added to the environment (CHATRELAY_HTTP_ADDR is set by
	// Launch).
	Env []string
	// OwnEnv leaves out the test's own CHATRELAY_ variables, so that the
	// child is configured by Env alone.
	OwnEnv bool
	// Stop is the signal the cleanup sends first, as an orchestrator
	// would (SIGTERM); after Grace the process is killed. Zero: the
	// cleanup kills it at once.
	Stop  syscall.Signal
	Grace time.Duration
}

// Server is chatrelay running as a child process.
type Server struct {
	// Name names it in the test's log.
	Name string
	// Addr is its HTTP host:port on 127.0.0.1.
	Addr string
	// Out collects its stdout and stderr.
	Out *LockedBuffer

	cmd    *exec.Cmd
	exited chan struct{}
}

// Start runs the cmd/chatrelay binary with env added to the test's
// environment (Launch) and waits until its /readyz answers 200. The
// cleanup kills it.
func Start(t testing.TB, env ...string) *Server {
	t.Helper()
	s := Launch(t, Options{Env: env})
	s.WaitReady(t, readyTimeout)
	return s
}

// Launch runs the cmd/chatrelay binary in an empty directory (no
// config.yaml: defaults and environment) configured by o, with
// CHATRELAY_HTTP_ADDR set to a free loopback port, and returns without
// waiting for it (see WaitReady). The process dies with the test binary
// (Pdeathsig) and is stopped at cleanup (o.Stop, o.Grace); its output is
// logged when the test failed.
func Launch(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Name == "" {
		o.Name = "chatrelay"
	}
	addr := testkit.FreeAddr(t)
	cmd := exec.Command(Binary(t))
	cmd.Dir = t.TempDir()
	env := os.Environ()
	if o.OwnEnv {
		env = environWithout("CHATRELAY_")
	}
	cmd.Env = append(append(env, o.Env...), "CHATRELAY_HTTP_ADDR="+addr)
	s := &Server{Name: o.Name, Addr: addr, Out: &LockedBuffer{}, cmd: cmd, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.Out, s.Out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with the test binary
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", o.Name, err)
	}
	// this goroutine owns cmd.Wait and closes exited
	go func() { _ = cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		s.stop(t, o.Stop, o.Grace)
		if t.Failed() {
			t.Logf("%s output:\n%s", s.Name, s.Out.String())
		}
	})
	return s
}

// stop sends sig (none when zero) and kills the process when it has not
// exited after grace; it returns once the process is gone.
func (s *Server) stop(t testing.TB, sig syscall.Signal, grace time.Duration) {
	if sig != 0 {
		_ = s.cmd.Process.Signal(sig)
		select {
		case <-s.exited:
			return
		case <-time.After(grace):
			t.Logf("%s did not stop within %v of %v: killing it", s.Name, grace, sig)
		}
	}
	s.Kill()
}

// WaitReady waits up to timeout until the server's /readyz answers 200,
// failing the test early when the process exits.
func (s *Server) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	err := testkit.WaitOK(s.HTTP()+"/readyz", timeout, s.Running)
	if err != nil && s.Running() != nil {
		t.Fatalf("%s exited before it was ready: %v", s.Name, err) // err holds the output
	}
	if err != nil {
		t.Fatalf("%s not ready: %v\n%s", s.Name, err, s.Out.String())
	}
}

// HTTP returns the server's base URL.
func (s *Server) HTTP() string { return "http://" + s.Addr }

// Running returns an error, with the process's output, once it has
// exited.
func (s *Server) Running() error {
	select {
	case <-s.exited:
		return errors.New(s.Name + " exited: " + s.cmd.ProcessState.String() + "\n" + s.Out.String())
	default:
		return nil
	}
}

// Signal sends sig to the process.
func (s *Server) Signal(sig syscall.Signal) error { return s.cmd.Process.Signal(sig) }

// Exited is closed once the process has exited.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// Kill kills the process with SIGKILL and waits until it is gone.
func (s *Server) Kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// environWithout is the test's environment less the variables starting
// with prefix.
func environWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}
