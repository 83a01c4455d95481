package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatrelay/internal/proctest"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/testkit"
)

// stack is compose.yaml's topology on loopback: two chatrelay replicas on
// one RabbitMQ node, behind nginx.
type stack struct {
	base     string // the page's origin: http://127.0.0.1:PORT of nginx
	replicas []*replica
	nginx    *process
}

// replica is one chatrelay process.
type replica struct {
	name string
	addr string // 127.0.0.1:PORT it serves on
	proc *process
}

// HTTP is the replica's own base URL, bypassing nginx.
func (r *replica) HTTP() string { return "http://" + r.addr }

// process is a child process that lives until the test ends.
type process struct {
	name   string
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{} // closed when cmd.Wait has returned
}

// startProcess starts cmd with its output collected and registers a
// cleanup that stops it: stop sends the polite signal, and after grace a
// SIGKILL to the process (or, with Setpgid, to its whole group). The
// output is logged when the test failed.
func startProcess(t testing.TB, name string, cmd *exec.Cmd, stop syscall.Signal, grace time.Duration) *process {
	t.Helper()
	p := &process{name: name, cmd: cmd, out: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL // a dying test binary takes it along
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	// this goroutine owns cmd.Wait
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(stop)
		select {
		case <-p.exited:
		case <-time.After(grace):
			t.Logf("%s did not stop within %v of %v: killing it", name, grace, stop)
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if cmd.SysProcAttr.Setpgid {
			// nginx workers outlive a killed master: end the group
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	return p
}

// running returns an error once the process has exited.
func (p *process) running() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited: %v\n%s", p.name, p.cmd.ProcessState, p.out.String())
	default:
		return nil
	}
}

// startStack builds cmd/chatrelay and starts two replicas on node and
// nginx in front of them.
func startStack(t *testing.T, ctx context.Context, node *rabbittest.Node) *stack {
	t.Helper()
	bin := proctest.Binary(t)
	nginxAddr := testkit.FreeAddr(t)
	s := &stack{base: "http://" + nginxAddr}
	for _, name := range []string{"chatrelay1", "chatrelay2"} {
		s.replicas = append(s.replicas, startReplica(t, bin, name, node, s.base))
	}
	for _, r := range s.replicas {
		waitHTTP(t, r.proc, r.HTTP()+"/readyz", 30*time.Second)
	}
	s.nginx = startNginx(t, nginxAddr, s.replicas[0].addr, s.replicas[1].addr)
	return s
}

// startReplica runs bin configured like a compose replica: environment
// only (no config.yaml in its working directory), RabbitMQ mode, allowing
// the page's origin.
func startReplica(t testing.TB, bin, name string, node *rabbittest.Node, origin string) *replica {
	t.Helper()
	addr := testkit.FreeAddr(t)
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	cmd.Env = append(environWithout("CHATRELAY_"),
		"CHATRELAY_HTTP_ADDR="+addr,
		"CHATRELAY_HTTP_ALLOWED_ORIGINS="+origin,
		"CHATRELAY_BROKER_MODE=rabbitmq",
		"CHATRELAY_BROKER_ADDRESSES="+node.STOMPAddr(),
		"CHATRELAY_BROKER_AMQP_ADDRESSES="+node.AMQPAddr(),
		// every browser reaches the replicas from nginx's address
		"CHATRELAY_LIMITS_MAX_CONNECTIONS_PER_ADDRESS=10000",
	)
	return &replica{name: name, addr: addr, proc: startProcess(t, name, cmd, syscall.SIGTERM, 15*time.Second)}
}

// findBinary looks name up in PATH, then at fallback.
func findBinary(name, fallback string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if st, err := os.Stat(fallback); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
		return fallback, nil
	}
	return "", fmt.Errorf("%s not found in PATH nor at %s", name, fallback)
}

// waitHTTP waits until url answers 200, failing early when p exits.
func waitHTTP(t testing.TB, p *process, url string, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	err := rabbittest.WaitFor(timeout, func() (bool, error) {
		if err := p.running(); err != nil {
			return false, err
		}
		resp, err := client.Get(url)
		if err != nil {
			return false, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("%s not ready: %v", p.name, err)
	}
}

// sessions returns the replica's STOMP sessions by transport label, read
// from the chatrelay_sessions gauge of its own /metrics.
func (r *replica) sessions() (map[string]int, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(r.HTTP() + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s /metrics: %s", r.name, resp.Status)
	}
	const prefix = `chatrelay_sessions{transport="`
	out := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		label, value, ok := strings.Cut(rest, `"} `)
		if !ok {
			return nil, fmt.Errorf("%s /metrics: unreadable line %q", r.name, sc.Text())
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("%s /metrics: %q: %w", r.name, sc.Text(), err)
		}
		out[label] = int(v)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s /metrics has no chatrelay_sessions gauge", r.name)
	}
	return out, nil
}

// waitSessions waits until the replicas together hold total sessions and
// returns each one's sessions by transport.
func (s *stack) waitSessions(total int, timeout time.Duration) ([]map[string]int, error) {
	var last []map[string]int
	err := rabbittest.WaitFor(timeout, func() (bool, error) {
		snap := make([]map[string]int, len(s.replicas))
		n := 0
		for i, r := range s.replicas {
			if err := r.proc.running(); err != nil {
				return false, err
			}
			m, err := r.sessions()
			if err != nil {
				return false, err
			}
			snap[i] = m
			for _, v := range m {
				n += v
			}
		}
		last = snap
		return n == total, nil
	})
	if err != nil {
		return last, fmt.Errorf("want %d sessions on the replicas, have %v: %w", total, last, err)
	}
	return last, nil
}

// environWithout is the test's environment less the variables starting
// with prefix, so that a child is configured by what the test sets alone.
func environWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}

// killByArgument SIGKILLs every process with an argument containing
// marker (a path unique to this test, such as Chromium's user data
// directory) and returns their pids.
func killByArgument(marker string) []int {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var killed []int
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(b, []byte(marker)) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed = append(killed, pid)
		}
	}
	return killed
}

// lockedBuffer collects a process's output for the test to read.
type lockedBuffer = proctest.LockedBuffer
