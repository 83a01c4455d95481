package rabbittest

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/testkit"
)

// DefaultClusterSize is the size of a SharedCluster whose Size is 0, and of
// the cluster RequireCluster hands out: the smallest cluster in which a
// stream survives the loss of one node with a majority left.
const DefaultClusterSize = 3

// SharedCluster is a cluster that the tests of one package share. It starts
// on the first Require, once per test binary, and stops (every node, its
// directory) when the package's TestMain, which must be Main, MainWith or
// MainCluster, returns. A package whose tests do not ask for it never pays
// for it.
//
// Tests that stop or kill nodes must not run in parallel with other tests
// of the same cluster; Require starts any node a test left down.
type SharedCluster struct {
	// Size is the number of nodes; 0 means DefaultClusterSize.
	Size int
	// Options apply to every node, as in StartWith.
	Options Options

	once    sync.Once
	mu      sync.Mutex // serialises Heal
	cluster *Cluster
	err     error
}

// defaultCluster is the cluster RequireCluster hands out.
var defaultCluster = &SharedCluster{}

// RequireCluster returns the package's shared cluster of
// DefaultClusterSize nodes with default options, starting it on first use
// (see SharedCluster.Require).
func RequireCluster(t testing.TB) *Cluster {
	t.Helper()
	return defaultCluster.Require(t)
}

// shared tracks the package's TestMain and the shared clusters started
// under it, for Main to stop.
var shared struct {
	sync.Mutex
	mainRunning bool
	started     []*SharedCluster
}

// Require returns the running cluster with every node up, starting it
// first if this is the first call. When RabbitMQ is missing or the cluster
// did not start it ends the test: a loud t.Skip normally, t.Fatal when
// CHATRELAY_TEST_REQUIRE_RABBITMQ=1. A failed start is not retried.
func (s *SharedCluster) Require(t testing.TB) *Cluster {
	t.Helper()
	testkit.SkipShort(t, testkit.RabbitMQ)
	shared.Lock()
	running := shared.mainRunning
	shared.Unlock()
	if !running {
		t.Fatal("rabbittest: a shared cluster needs the package's TestMain to call rabbittest.Main, MainWith or MainCluster, which stop it at the end")
	}
	s.once.Do(s.start)
	if s.err != nil {
		testkit.Require(t, testkit.RabbitMQ, fmt.Errorf("no test cluster: %w", s.err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if down := len(s.cluster.nodes) - len(s.cluster.Running()); down > 0 {
		t.Logf("rabbittest: starting %d cluster node(s) an earlier test left down", down)
	}
	if err := s.cluster.Heal(); err != nil {
		t.Fatalf("rabbittest: cluster nodes would not start again: %v", err)
	}
	return s.cluster
}

// start starts the cluster in a fresh temporary directory and registers
// it with the running Main.
func (s *SharedCluster) start() {
	if _, err := FindServer(); err != nil {
		s.err = err
		return
	}
	size := s.Size
	if size == 0 {
		size = DefaultClusterSize
	}
	dir, err := os.MkdirTemp("", tempPattern)
	if err != nil {
		s.err = err
		return
	}
	c, err := StartCluster(dir, size, s.Options)
	if err != nil {
		_ = os.RemoveAll(dir)
		s.err = fmt.Errorf("the cluster did not start: %w", err)
		return
	}
	fmt.Fprintf(os.Stderr, "rabbittest: cluster of %d started in %v (nodes up in %v, joined in %v): stomp %s, amqp %s, in %s\n",
		size, c.Started.Round(time.Millisecond), c.Booted.Round(time.Millisecond), (c.Started - c.Booted).Round(time.Millisecond),
		strings.Join(c.STOMPAddrs(), ","), strings.Join(c.AMQPAddrs(), ","), dir)
	s.cluster = c
	shared.Lock()
	shared.started = append(shared.started, s)
	shared.Unlock()
}

// MainCluster is the body of a TestMain for packages that need only
// shared clusters (RequireCluster, SharedCluster.Require), not a single
// node: it runs the tests, then stops every shared cluster they started and
// removes its directory. It returns the exit code for os.Exit.
func MainCluster(m *testing.M) int {
	defer beginShared()()
	if short() {
		return m.Run()
	}
	if _, err := FindServer(); err != nil && required() {
		banner("FAIL: RabbitMQ is required (" + RequireEnv + "=1) but unusable: " + err.Error())
		return 1
	}
	reapStale()
	return reportFailure(m.Run())
}

// beginShared marks the package's Main as running and returns the function
// that stops the shared clusters started meanwhile.
func beginShared() (end func()) {
	shared.Lock()
	shared.mainRunning = true
	shared.Unlock()
	return func() {
		shared.Lock()
		started := shared.started
		shared.started = nil
		shared.mainRunning = false
		shared.Unlock()
		for _, s := range started {
			begin := time.Now()
			if err := s.cluster.Close(); err != nil {
				fmt.Fprintf(os.Stderr, "rabbittest: stop cluster: %v\n", err)
			}
			fmt.Fprintf(os.Stderr, "rabbittest: cluster stopped in %v\n", time.Since(begin).Round(time.Millisecond))
		}
	}
}

// reportFailure prints the logs of the shared clusters' nodes when the
// tests failed, and returns code.
func reportFailure(code int) int {
	if code == 0 {
		return code
	}
	shared.Lock()
	defer shared.Unlock()
	for _, s := range shared.started {
		for _, n := range s.cluster.nodes {
			fmt.Fprintf(os.Stderr, "rabbittest: tests failed; logs of cluster node %s follow\n%s", n.Name, n.logTail())
		}
	}
	return code
}
