package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// browserScript is a Node script that drives Chromium (browser.mjs,
// korean.mjs): it takes its configuration as one JSON argument, writes
// one JSON line per event on stdout, and reads answers to its questions
// as JSON lines on stdin.
type browserScript struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  *bufio.Scanner // stdout, one event per line
	stderr *lockedBuffer
	waited bool
}

// startBrowserScript starts node on script with cfg. Everything Chromium
// writes (profile, crash database, caches) goes under dir, whose path, in
// every Chromium process's arguments, finds them: Node and every Chromium
// process are gone when the test ends.
func startBrowserScript(t *testing.T, ctx context.Context, script, dir string, cfg map[string]any) *browserScript {
	t.Helper()
	arg, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "node", script, string(arg))
	cmd.Dir = filepath.Dir(script)
	cmd.Env = append(os.Environ(),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_CACHE_HOME="+filepath.Join(dir, "cache"),
	)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) } // playwright closes the browser
	cmd.WaitDelay = 10 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &browserScript{cmd: cmd, stderr: &lockedBuffer{}}
	cmd.Stderr = p.stderr
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !p.waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		// Chromium leads a process group of its own, and its crash
		// handlers are re-parented: find them by their arguments
		if pids := killByArgument(dir); len(pids) > 0 {
			t.Logf("killed %d leftover Chromium processes %v", len(pids), pids)
		}
	})
	p.lines = bufio.NewScanner(stdout)
	p.lines.Buffer(make([]byte, 64<<10), 16<<20)
	return p
}

// answer writes v to the script as one JSON line.
func (p *browserScript) answer(v any) {
	b, _ := json.Marshal(v)
	_, _ = p.stdin.Write(append(b, '\n'))
}

// wait closes the script's stdin and waits for it to end.
func (p *browserScript) wait() error {
	_ = p.stdin.Close()
	err := p.cmd.Wait()
	p.waited = true
	return err
}
