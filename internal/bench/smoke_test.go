package bench

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// smokeTimeout bounds one run of bench/run.sh in smoke mode (it takes
// about 20 s on the 2-core machine, builds included when cached).
const smokeTimeout = 4 * time.Minute

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// runScript runs bench/run.sh with SMOKE=1 and env on top, and returns
// its combined output and error (nil: exit status 0).
func runScript(t *testing.T, env ...string) (string, error) {
	t.Helper()
	if testing.Short() {
		t.Skip("bench/run.sh builds and runs every scenario: not under -short")
	}
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("bench/run.sh needs %s: %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), smokeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "..", "bench", "run.sh"))
	cmd.Env = append(os.Environ(), "SMOKE=1", "OUT="+t.TempDir(),
		"BASE_PORT="+strconv.Itoa(freePort(t)), "BASELINE_PORT="+strconv.Itoa(freePort(t)))
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("bench/run.sh took more than %v:\n%s", smokeTimeout, out)
	}
	return string(out), err
}

// CI's smoke test of the load tool: bench/run.sh runs every scenario's
// code path (a, b, c, d, e, j and r, tiny and short, chatrelay with its
// embedded broker) and exits 0 only when every chatbench run was OK.
func TestRunScriptSmoke(t *testing.T) {
	out, err := runScript(t)
	if err != nil {
		t.Fatalf("bench/run.sh SMOKE=1: %v\n%s", err, out)
	}
	for _, label := range []string{"a-chatrelay", "b-chatrelay", "b-baseline", "c-chatrelay", "d-chatrelay", "e-chatrelay", "j-chatrelay", "r-plain", "r-reads"} {
		if !strings.Contains(out, "| "+label+" |") {
			t.Errorf("no %s row in the results:\n%s", label, out)
		}
	}
}

// A run the load tool reports NOT OK (here: no room creation can meet a
// 1 ns p99) makes the smoke test exit non-zero, naming the run.
func TestRunScriptSmokeFails(t *testing.T) {
	out, err := runScript(t, "SCENARIOS=d", "D_CREATE_P99=1ns")
	if err == nil || !strings.Contains(out, "SMOKE=1: failed or NOT OK: d-chatrelay (exit 3)") {
		t.Fatalf("a NOT OK run passed the smoke test: %v\n%s", err, out)
	}
}
