package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatrelay/internal/nginxtest"
	"chatrelay/internal/proctest"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/testkit"
)

// stack is compose.yaml's topology on loopback: two chatrelay replicas on
// one RabbitMQ node, behind nginx.
type stack struct {
	base     string // the page's origin: http://127.0.0.1:PORT of nginx
	replicas []*replica
	nginx    *nginxtest.Nginx
}

// replica is one chatrelay process.
type replica struct {
	name string
	addr string // 127.0.0.1:PORT it serves on
	proc *proctest.Server
}

// HTTP is the replica's own base URL, bypassing nginx.
func (r *replica) HTTP() string { return "http://" + r.addr }

// startStack starts two replicas of cmd/chatrelay on node and nginx in
// front of them.
func startStack(t *testing.T, ctx context.Context, node *rabbittest.Node) *stack {
	t.Helper()
	nginxAddr := testkit.FreeAddr(t)
	s := &stack{base: "http://" + nginxAddr}
	for _, name := range []string{"chatrelay1", "chatrelay2"} {
		s.replicas = append(s.replicas, startReplica(t, name,
			"CHATRELAY_HTTP_ALLOWED_ORIGINS="+s.base,
			"CHATRELAY_BROKER_MODE=rabbitmq",
			"CHATRELAY_BROKER_ADDRESSES="+node.STOMPAddr(),
			"CHATRELAY_BROKER_AMQP_ADDRESSES="+node.AMQPAddr(),
			// every browser reaches the replicas from nginx's address
			"CHATRELAY_LIMITS_MAX_CONNECTIONS_PER_ADDRESS=10000",
		))
	}
	for _, r := range s.replicas {
		r.proc.WaitReady(t, 30*time.Second)
	}
	s.nginx = startNginx(t, nginxAddr, s.replicas[0].addr, s.replicas[1].addr)
	return s
}

// startReplica runs cmd/chatrelay configured like a compose replica:
// environment only (env and the HTTP address; no config.yaml in its
// working directory, none of the test's CHATRELAY_ variables), stopped
// with SIGTERM at cleanup. It does not wait until the replica is ready.
func startReplica(t testing.TB, name string, env ...string) *replica {
	t.Helper()
	p := proctest.Launch(t, proctest.Options{Name: name, Env: env, OwnEnv: true, Stop: syscall.SIGTERM, Grace: 15 * time.Second})
	return &replica{name: name, addr: p.Addr, proc: p}
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
			if err := r.proc.Running(); err != nil {
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
