package rabbittest

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatrelay/internal/testkit"
)

// RequireEnv names the environment variable that, set to "1", turns a
// missing or broken RabbitMQ from a loud skip into a test failure. CI sets it.
const RequireEnv = "CHATRELAY_TEST_REQUIRE_RABBITMQ" // testkit.RabbitMQ.Env

// tempPattern names the directories Main creates in os.TempDir().
const tempPattern = "chatrelay-rabbitmq-*"

// required reports whether RabbitMQ tests must run rather than skip.
func required() bool { return testkit.RabbitMQ.Required() }

// short parses the test flags (TestMain may) and reports whether this is a
// `go test -short` run, which starts no RabbitMQ node.
func short() bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	return testing.Short()
}

// Main is the body of a TestMain for packages that need RabbitMQ. It starts
// one private node in a fresh temporary directory, stores it in *node, runs
// the tests, stops the node and removes the directory; it returns the exit
// code for os.Exit.
//
// Without rabbitmq-server, or when the node does not start, it prints a loud
// banner and runs the tests with *node == nil (tests call Require to skip),
// unless CHATRELAY_TEST_REQUIRE_RABBITMQ=1, in which case it fails with exit
// code 1 without running them. Under `go test -short` it starts no node
// and the tests skip.
func Main(m *testing.M, node **Node) int { return runMain(m, node, Options{}) }

// runMain is Main and MainWith.
func runMain(m *testing.M, node **Node, opts Options) int {
	defer beginShared()()
	*node = nil
	if short() {
		return m.Run()
	}
	if _, err := FindServer(); err != nil {
		if required() {
			banner("FAIL: RabbitMQ is required (" + RequireEnv + "=1) but unusable: " + err.Error())
			return 1
		}
		banner("SKIPPING RabbitMQ tests: " + err.Error() + " (set " + RequireEnv + "=1 to make this fatal)")
		return m.Run()
	}
	reapStale()
	dir, err := os.MkdirTemp("", tempPattern)
	if err != nil {
		banner("FAIL: rabbittest: " + err.Error())
		return 1
	}
	defer os.RemoveAll(dir)
	n, err := StartWith(dir, opts)
	if err != nil {
		if required() {
			banner("FAIL: RabbitMQ is required (" + RequireEnv + "=1) but the test node did not start: " + err.Error())
			return 1
		}
		banner("SKIPPING RabbitMQ tests: the test node did not start: " + err.Error())
		return m.Run()
	}
	fmt.Fprintf(os.Stderr, "rabbittest: node %s started in %v (amqp %d, stomp %d, web-stomp %d, mgmt %d) in %s\n",
		n.Name, n.Started.Round(time.Millisecond), n.AMQPPort, n.STOMPPort, n.WebSTOMPPort, n.MgmtPort, dir)
	*node = n
	code := reportFailure(m.Run())
	if code != 0 {
		fmt.Fprintf(os.Stderr, "rabbittest: tests failed; node logs follow\n%s", n.logTail())
	}
	if err := n.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "rabbittest: stop %s: %v\n", n.Name, err)
	}
	*node = nil
	return code
}

// Require returns n, or ends the test when n is nil: a loud t.Skip
// normally, t.Fatal when CHATRELAY_TEST_REQUIRE_RABBITMQ=1, and always a
// skip under -short (testkit.Require).
func Require(t testing.TB, n *Node) *Node {
	t.Helper()
	var err error
	if n == nil {
		err = errors.New("no test node is running (rabbitmq-server missing or failed to start; see the TestMain output)")
	}
	testkit.Require(t, testkit.RabbitMQ, err)
	return n
}

func banner(msg string) {
	line := strings.Repeat("*", 78)
	fmt.Fprintf(os.Stderr, "%s\n*** %s\n%s\n", line, msg, line)
}

// reapStale cleans up after test binaries that died without stopping their
// nodes (a SIGKILLed go test, a power cut): for every Main or shared-cluster
// directory in os.TempDir() whose owner process is gone, it kills the beam
// process of each node in it, if it is still one of ours, and removes the
// directory. Nodes normally die with their test binary (Pdeathsig), and
// unique node names and fresh ports mean a leftover never blocks a new node
// anyway.
func reapStale() {
	for _, dir := range testkit.StaleDirs(tempPattern) {
		// A single node keeps its pid file at the top, a cluster's nodes
		// one directory down (node1, node2, ...).
		pidFiles, _ := filepath.Glob(filepath.Join(dir, "*", "rabbitmq.pid"))
		for _, f := range append([]string{filepath.Join(dir, "rabbitmq.pid")}, pidFiles...) {
			if pid, err := testkit.ReadPid(f); err == nil && pid > 1 {
				cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				if strings.Contains(string(cmdline), "rabbit") && strings.Contains(string(cmdline), filepath.Dir(f)) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		_ = os.RemoveAll(dir)
	}
}
