// Package rabbittest starts private RabbitMQ nodes for tests. A node runs
// beside any system node (its own name, ports, data, logs, cookie and
// config), with the management, STOMP and Web-STOMP plugins enabled and all
// listeners on free 127.0.0.1 ports chosen at run time.
//
// Share one node per test package through TestMain:
//
//	var node *rabbittest.Node
//
//	func TestMain(m *testing.M) { os.Exit(rabbittest.Main(m, &node)) }
//
//	func TestX(t *testing.T) {
//		n := rabbittest.Require(t, node)
//		...
//	}
//
// MainWith and StartWith take Options: extra rabbitmq.conf settings (a
// repository's own rabbitmq.conf, say) and definitions imported at boot.
//
// # Clusters
//
// RequireCluster hands out a 3-node cluster that the package's tests
// share. It starts on first use (about 45 s on a 2-core machine: the nodes
// boot in parallel, then nodes 2 and 3 join node 1 with rabbitmqctl
// stop_app, join_cluster, start_app) and stops when Main returns, so a
// package that asks for it needs no other TestMain than the one above
// (MainCluster if it needs no single node):
//
//	func TestNodeLoss(t *testing.T) {
//		c := rabbittest.RequireCluster(t)
//		cfg.Broker.Addresses = c.STOMPAddrs()      // one per node, node 1 first
//		cfg.Broker.AMQPAddresses = c.AMQPAddrs()
//		...
//		leader, err := c.StreamLeader("/", stream) // who leads it now
//		on, err := c.ConnectionNode(localPort, 10*time.Second)
//		err = c.StopNode(leader)                   // clean stop; KillNode is kill -9
//		...                                        // the other two still form a cluster
//		err = c.StartNode(leader)                  // same data and ports; it rejoins
//	}
//
// Each of these waits (up to ClusterTimeout) until the running nodes agree
// on who runs. A test may leave nodes down: RequireCluster starts them
// again before it hands the cluster to the next test. Tests that stop nodes
// must not run in parallel with other tests of the same cluster.
// SharedCluster makes a shared cluster of another size or with Options;
// StartCluster starts one that the caller owns and Closes.
//
// Cluster nodes share one Erlang cookie and find each other on loopback
// through the machine's epmd (port 4369, as single nodes do); each has its
// own distribution port, and Node.Ctl runs rabbitmqctl against any of them.
package rabbittest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"chatrelay/internal/testkit"
)

// StartTimeout bounds how long Start waits for a node to answer STOMP.
const StartTimeout = 90 * time.Second

// ctlTimeout bounds one rabbitmqctl invocation.
const ctlTimeout = 60 * time.Second

// Node is a running private RabbitMQ node.
type Node struct {
	// Name is the Erlang node name, unique per start: chatrelay-PID-RANDOM@localhost.
	Name string
	// AMQPPort, STOMPPort, WebSTOMPPort, MgmtPort and DistPort are the
	// node's 127.0.0.1 listener ports.
	AMQPPort, STOMPPort, WebSTOMPPort, MgmtPort, DistPort int
	// Dir holds everything the node writes: home (Erlang cookie), mnesia,
	// log, config files and the pid file.
	Dir string
	// Started is how long the node's last start (Start, StartAgain,
	// Restart, or its start within StartCluster) took until it answered
	// STOMP.
	Started time.Duration
	// DroppedConfig lists the keys of Options.Config lines that were not
	// applied because the harness owns them (listeners, ports, logs).
	DroppedConfig []string

	binDir string
	opts   Options
	cmd    *exec.Cmd
	exited chan struct{} // closed when the rabbitmq-server process has exited

	mu      sync.Mutex
	stopped bool
}

// Start wipes dir, then starts a node there and waits (up to StartTimeout)
// until its STOMP port accepts a CONNECT as guest/guest and its Web-STOMP
// and management ports accept connections. If a chosen port was taken in
// the meantime, it retries with fresh ports.
func Start(dir string) (*Node, error) { return StartWith(dir, Options{}) }

// StartWith is Start with options: extra rabbitmq.conf settings and
// definitions imported at boot.
func StartWith(dir string, opts Options) (*Node, error) {
	binDir, err := FindServer()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		n, err := startOnce(binDir, dir, opts)
		if err == nil {
			return n, nil
		}
		lastErr = err
		if !portTaken(err) {
			break
		}
		fmt.Fprintf(os.Stderr, "rabbittest: a port was taken before the node bound it (try %d); retrying on fresh ports\n", attempt+1)
	}
	return nil, lastErr
}

// portTaken reports whether a start failed because a port was taken
// between choosing it and the node binding it: a listener's (eaddrinuse)
// or the Erlang distribution port's. Such a start is retried.
func portTaken(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "eaddrinuse") || strings.Contains(msg, "dist_port_already_used")
}

func startOnce(binDir, dir string, opts Options) (*Node, error) {
	ports, err := freePorts(portsPerNode)
	if err != nil {
		return nil, err
	}
	n := newNode(binDir, dir, uniqueName(""), ports, opts)
	if err := n.create(""); err != nil {
		return nil, err
	}
	if err := n.launch(); err != nil {
		return nil, err
	}
	return n, nil
}

// portsPerNode is how many listener ports a node takes: AMQP, STOMP,
// Web-STOMP, management and Erlang distribution.
const portsPerNode = 5

// newNode describes a node on ports (portsPerNode of them) without
// touching the disk.
func newNode(binDir, dir, name string, ports []int, opts Options) *Node {
	return &Node{
		Name:         name,
		AMQPPort:     ports[0],
		STOMPPort:    ports[1],
		WebSTOMPPort: ports[2],
		MgmtPort:     ports[3],
		DistPort:     ports[4],
		Dir:          dir,
		binDir:       binDir,
		opts:         opts,
	}
}

// create wipes the node's directory and writes its files. A non-empty
// cookie becomes the node's Erlang cookie (nodes of one cluster share it);
// otherwise the node makes its own at first start.
func (n *Node) create(cookie string) error {
	if err := os.RemoveAll(n.Dir); err != nil {
		return fmt.Errorf("rabbittest: wipe %s: %w", n.Dir, err)
	}
	if err := os.MkdirAll(n.Dir, 0o755); err != nil {
		return err
	}
	if err := n.writeFiles(); err != nil {
		return fmt.Errorf("rabbittest: write config: %w", err)
	}
	if cookie != "" {
		// Erlang refuses a cookie file that others can read.
		if err := os.WriteFile(n.path("home", ".erlang.cookie"), []byte(cookie), 0o400); err != nil {
			return err
		}
	}
	return testkit.WriteOwner(n.Dir)
}

// launch starts the node process on the node's files and waits until it
// answers STOMP; Started is set to how long that took.
func (n *Node) launch() error {
	begin := time.Now()
	n.mu.Lock()
	n.stopped = false // a node stopped (or killed) before runs again: Stop must stop it
	n.mu.Unlock()
	n.exited = make(chan struct{})
	logf, err := os.Create(n.StartupLog())
	if err != nil {
		return err
	}
	defer logf.Close() // the child holds its own copy
	n.cmd = exec.Command(n.bin("rabbitmq-server"))
	n.cmd.Dir = n.Dir // erl_crash.dump and friends never land in the package dir
	// RUNNING_UNDER_SYSTEMD makes the 3.10 script exec erl instead of
	// running it in the background behind a signal-forwarding shell, so
	// the process started here is beam itself and Pdeathsig reaches it
	// (with the shell in between, a SIGKILLed test binary left beam
	// running). The variable is read only by that script.
	n.cmd.Env = append(n.environ(), "RUNNING_UNDER_SYSTEMD=true")
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	n.cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // Ctrl-C to go test does not hit the node; killable as a group
		Pdeathsig: syscall.SIGKILL, // a crashed or timed-out test binary takes its node with it
	}
	if err := n.cmd.Start(); err != nil {
		return fmt.Errorf("rabbittest: start %s: %w", n.cmd.Path, err)
	}
	cmd, exited := n.cmd, n.exited
	// this goroutine owns the node process's Wait and closes exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	if err := n.waitReady(StartTimeout); err != nil {
		n.kill()
		return fmt.Errorf("rabbittest: node %s did not start: %w\n%s", n.Name, err, n.logTail())
	}
	n.Started = time.Since(begin)
	return nil
}

// Restart stops the node and starts it again on the same data directory
// and ports, as an operator's restart of the broker: durable queues and
// streams come back, connections do not.
func (n *Node) Restart() error {
	if err := n.Stop(); err != nil {
		return err
	}
	return n.launch()
}

// StartAgain starts a node that Stop or Kill ended, on the same name, data
// directory and ports, and waits (up to StartTimeout) until it answers
// STOMP. A cluster node rejoins its cluster. It fails if the node still
// runs.
func (n *Node) StartAgain() error {
	if !n.hasExited() {
		return fmt.Errorf("rabbittest: node %s is still running", n.Name)
	}
	return n.launch()
}

// Kill ends the node as kill -9 would (its beam process and process group),
// without telling RabbitMQ, and waits until the process has been reaped.
// Kill is idempotent; StartAgain brings the node back.
func (n *Node) Kill() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.hasExited() {
		return nil
	}
	n.kill()
	if !n.hasExited() {
		return fmt.Errorf("rabbittest: node %s (pid %d) would not die", n.Name, n.cmd.Process.Pid)
	}
	return nil
}

// Running reports whether the node's process is alive (it may still be
// starting, or have its application stopped by StopApp).
func (n *Node) Running() bool { return n.exited != nil && !n.hasExited() }

// String returns the node's name ("<nil>" for a nil node), so that nodes
// print readably in test messages.
func (n *Node) String() string {
	if n == nil {
		return "<nil>"
	}
	return n.Name
}

// uniqueName returns a node name no other node on this machine has:
// chatrelay-PID-RANDOM[-suffix]@localhost.
func uniqueName(suffix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	if suffix != "" {
		suffix = "-" + suffix
	}
	return fmt.Sprintf("chatrelay-%d-%s%s@localhost", os.Getpid(), hex.EncodeToString(b), suffix)
}

func (n *Node) bin(name string) string { return n.binDir + "/" + name }

// STOMPAddr is the node's plain STOMP listener, "127.0.0.1:port".
func (n *Node) STOMPAddr() string { return "127.0.0.1:" + strconv.Itoa(n.STOMPPort) }

// AMQPAddr is the node's AMQP 0-9-1 listener, "127.0.0.1:port".
func (n *Node) AMQPAddr() string { return "127.0.0.1:" + strconv.Itoa(n.AMQPPort) }

// WebSTOMPURL is the node's Web-STOMP endpoint, "ws://127.0.0.1:port/ws".
func (n *Node) WebSTOMPURL() string { return "ws://127.0.0.1:" + strconv.Itoa(n.WebSTOMPPort) + "/ws" }

// MgmtURL is the base URL of the management UI and HTTP API (guest/guest).
func (n *Node) MgmtURL() string { return "http://127.0.0.1:" + strconv.Itoa(n.MgmtPort) }

// Ctl runs rabbitmqctl against the node (-n NAME) with the node's
// environment, so that it reads the same Erlang cookie, and returns its
// combined output.
func (n *Node) Ctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, n.bin("rabbitmqctl"), append([]string{"-n", n.Name}, args...)...)
	cmd.Dir = n.Dir
	cmd.Env = n.environ()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("rabbitmqctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// StopApp stops the RabbitMQ application (rabbitmqctl stop_app) while the
// Erlang node keeps running: every listener closes and every client
// connection drops, as in a broker outage.
func (n *Node) StopApp() error {
	_, err := n.Ctl("stop_app")
	return err
}

// StartApp starts the RabbitMQ application again (rabbitmqctl start_app)
// and waits until STOMP answers a CONNECT again.
func (n *Node) StartApp() error {
	if _, err := n.Ctl("start_app"); err != nil {
		return err
	}
	if err := n.waitReady(StartTimeout); err != nil {
		return fmt.Errorf("rabbittest: node %s after start_app: %w", n.Name, err)
	}
	return nil
}

// Stop stops the node with rabbitmqctl stop and waits for its process to
// exit. If that fails, it kills the beam process named in the pid file and
// the node's process group. Stop is idempotent.
func (n *Node) Stop() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return nil
	}
	n.stopped = true
	if n.hasExited() {
		return nil
	}
	_, ctlErr := n.Ctl("stop")
	select {
	case <-n.exited:
		return nil
	case <-time.After(30 * time.Second):
	}
	n.kill()
	if !n.hasExited() {
		return fmt.Errorf("rabbittest: node %s (pid %d) would not die", n.Name, n.cmd.Process.Pid)
	}
	return errors.Join(errors.New("rabbittest: node had to be killed"), ctlErr)
}

func (n *Node) hasExited() bool {
	select {
	case <-n.exited:
		return true
	default:
		return false
	}
}

// kill SIGKILLs the beam process from the pid file and the process group,
// then waits up to 10 s for the process to be reaped.
func (n *Node) kill() {
	if pid, err := testkit.ReadPid(n.pidFile()); err == nil && pid > 1 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if n.cmd != nil && n.cmd.Process != nil {
		_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
	}
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
	}
}

// logTail returns the end of the startup output and of the node log, for
// error messages.
func (n *Node) logTail() string {
	var b strings.Builder
	for _, f := range []string{n.StartupLog(), n.LogFile()} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if len(data) > 3000 {
			data = data[len(data)-3000:]
		}
		fmt.Fprintf(&b, "---- tail of %s ----\n%s\n", f, data)
	}
	return b.String()
}
