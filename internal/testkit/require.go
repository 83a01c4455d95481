package testkit

import (
	"os"
	"testing"
)

// Tool is an external program some tests need, with the environment
// variable that, set to "1", turns its absence from a loud skip into a
// test failure. CI sets all of them (.ci/run).
type Tool struct {
	Name string // what the messages call it
	Env  string // CHATRELAY_TEST_REQUIRE_*
}

// The tools the tests start.
var (
	RabbitMQ = Tool{Name: "RabbitMQ", Env: "CHATRELAY_TEST_REQUIRE_RABBITMQ"}
	Node     = Tool{Name: "node", Env: "CHATRELAY_TEST_REQUIRE_NODE"}
	Nginx    = Tool{Name: "nginx", Env: "CHATRELAY_TEST_REQUIRE_NGINX"}
	Browser  = Tool{Name: "chromium", Env: "CHATRELAY_TEST_REQUIRE_BROWSER"}
	Promtool = Tool{Name: "promtool", Env: "CHATRELAY_TEST_REQUIRE_PROMTOOL"}
)

// Required reports whether tool's variable is "1": its tests must run.
func (tool Tool) Required() bool { return os.Getenv(tool.Env) == "1" }

// Require ends the test unless tool is usable and the run is not -short;
// err is why it is not usable (nil when it is). Under `go test -short` it
// skips whatever err and the variable say: -short starts no external
// process, and CI never passes it. Otherwise a non-nil err is a t.Fatal
// when tool.Required(), else a loud t.Skip naming the variable.
func Require(t testing.TB, tool Tool, err error) {
	t.Helper()
	SkipShort(t, tool)
	if err == nil {
		return
	}
	if tool.Required() {
		t.Fatalf("%s is required (%s=1) but unusable: %v", tool.Name, tool.Env, err)
	}
	t.Skipf("SKIPPING: %s unusable: %v (set %s=1 to fail instead)", tool.Name, err, tool.Env)
}

// SkipShort skips the test under `go test -short`, saying that it needs
// tool.
func SkipShort(t testing.TB, tool Tool) {
	t.Helper()
	if testing.Short() {
		t.Skipf("SKIPPING under -short: needs %s", tool.Name)
	}
}

// SkipSlow skips, under `go test -short`, a test that spends seconds of
// wall clock waiting on timers (why says on what), so that the -short lane
// stays quick; `make test` runs it.
func SkipSlow(t testing.TB, why string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("SKIPPING under -short: slow (%s)", why)
	}
}
