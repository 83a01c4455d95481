package rabbittest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The script another process runs reaches the node as Ctl does: it
// reads the node's status (a wrong cookie or name would fail).
func TestCtlScript(t *testing.T) {
	n := Require(t, node)
	path := filepath.Join(t.TempDir(), "ctl")
	if err := n.WriteCtlScript(path); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(path, "status", "--formatter", "json").CombinedOutput()
	if err != nil {
		t.Fatalf("%s status: %v: %s", path, err, out)
	}
	if !strings.Contains(string(out), `"processes"`) || !strings.Contains(string(out), `"memory"`) {
		t.Errorf("status output without memory and processes: %.500s", out)
	}
	if got := shellQuote("a'b c"); got != `'a'\''b c'` {
		t.Errorf("shellQuote = %s", got)
	}
}
