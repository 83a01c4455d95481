// Package proctest helps tests that run chatrelay as a child process: the
// cmd/chatrelay binary built once per test process; Launch, which runs it
// as a replica on a free loopback port configured by its environment, and
// Start, which also waits until it is ready (server.go); and a buffer that
// collects a process's output. It imports no server code, so every test
// package, internal/server's included, can use it. (The in-process
// replica is internal/servertest's.)
package proctest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"chatrelay/internal/jsclient"
)

// buildOnce builds cmd/chatrelay once per test process.
var buildOnce = sync.OnceValues(func() (string, error) {
	root, err := jsclient.ModuleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "chatrelay-bin-*")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "chatrelay")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/chatrelay")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/chatrelay: %v\n%s", err, out)
	}
	return bin, nil
})

// Binary returns the path of cmd/chatrelay built for this test process
// (once; the file is left in the system's temporary directory).
func Binary(t testing.TB) string {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// LockedBuffer collects a child process's output for several writers and
// the test that reads it.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
