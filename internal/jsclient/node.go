package jsclient

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"chatrelay/internal/testkit"
)

// ModuleRoot is testkit.ModuleRoot: the directory holding go.mod, found
// walking up from the working directory.
func ModuleRoot() (string, error) { return testkit.ModuleRoot() }

// ScriptPath is the absolute path of test/js/stompclient.mjs.
func ScriptPath() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "test", "js", "stompclient.mjs"), nil
}

// Available reports why the client cannot run here (no node in PATH, no
// script, packages not installed), or nil.
func Available() error {
	if _, err := exec.LookPath("node"); err != nil {
		return fmt.Errorf("node not found in PATH: %w", err)
	}
	script, err := ScriptPath()
	if err != nil {
		return err
	}
	if _, err := os.Stat(script); err != nil {
		return err
	}
	modules := filepath.Join(filepath.Dir(script), "node_modules")
	for _, pkg := range []string{"@stomp/stompjs", "ws", "sockjs-client"} {
		if _, err := os.Stat(filepath.Join(modules, pkg, "package.json")); err != nil {
			return fmt.Errorf("package %s is not installed in %s (run `npm ci --prefix test/js`)", pkg, modules)
		}
	}
	return nil
}

// requireAvailable skips the test (what names it) when the client cannot
// run here, or fails it when CHATRELAY_TEST_REQUIRE_NODE=1; it always
// skips under -short (testkit.Require).
func requireAvailable(t testing.TB, what string) {
	t.Helper()
	if err := Available(); err != nil {
		testkit.Require(t, testkit.Node, fmt.Errorf("%s: %w", what, err))
	}
	testkit.SkipShort(t, testkit.Node)
}

// startScript starts node on the script name (a file beside
// stompclient.mjs) with args, its stderr kept in stderr and its stdin and
// stdout returned; node dies with the test process.
func startScript(name string, stderr io.Writer, args ...string) (*exec.Cmd, io.WriteCloser, io.Reader, error) {
	script, err := ScriptPath()
	if err != nil {
		return nil, nil, nil, err
	}
	dir := filepath.Dir(script)
	cmd := exec.Command("node", append([]string{filepath.Join(dir, name)}, args...)...)
	cmd.Dir = dir
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, fmt.Errorf("jsclient: start node %s: %w", name, err)
	}
	return cmd, stdin, stdout, nil
}
