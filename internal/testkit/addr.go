package testkit

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago.
// Another process may take it before the caller listens on it; tests use
// it only where the address must be known before the listener exists (a
// child process's configuration).
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// RepoRoot returns the repository root: the nearest directory at or above
// the working directory (a package's directory under go test) that holds
// go.mod. It fails the test when there is none.
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// ModuleRoot walks up from the working directory to the directory holding
// go.mod, for callers without a testing.TB.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testkit: no go.mod at or above the working directory")
		}
		dir = parent
	}
}
