package testkit

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWaitForMet(t *testing.T) {
	n := 0
	if err := WaitFor(time.Minute, func() (bool, error) { n++; return n >= 3, nil }); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("cond evaluated %d times, want 3", n)
	}
}

func TestWaitForTimeoutKeepsLastError(t *testing.T) {
	boom := errors.New("boom")
	err := WaitFor(30*time.Millisecond, func() (bool, error) { return false, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want it to wrap %v", err, boom)
	}
}

func TestWaitForTimeoutNoError(t *testing.T) {
	start := time.Now()
	err := WaitFor(30*time.Millisecond, func() (bool, error) { return false, nil })
	if err == nil || !strings.Contains(err.Error(), "30ms") {
		t.Fatalf("err = %v, want a timeout naming 30ms", err)
	}
	if time.Since(start) < 30*time.Millisecond {
		t.Fatal("returned before the deadline")
	}
}

func TestFreeAddr(t *testing.T) {
	addr := FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("FreeAddr = %q", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	l.Close()
}

func TestRepoRoot(t *testing.T) {
	root := RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "testkit", "doc.go")); err != nil {
		t.Fatalf("RepoRoot = %s is not this repository: %v", root, err)
	}
}

func TestRequired(t *testing.T) {
	tool := Tool{Name: "x", Env: "CHATRELAY_TEST_REQUIRE_TESTKIT_X"}
	t.Setenv(tool.Env, "1")
	if !tool.Required() {
		t.Fatal("Required() = false with the variable 1")
	}
	t.Setenv(tool.Env, "yes")
	if tool.Required() {
		t.Fatal("Required() = true with the variable not 1")
	}
}

// TestRequireSkips: a missing, not-required tool skips; a usable one
// runs on, except under -short.
func TestRequireSkips(t *testing.T) {
	tool := Tool{Name: "x", Env: "CHATRELAY_TEST_REQUIRE_TESTKIT_X"}
	t.Setenv(tool.Env, "")
	t.Run("missing", func(t *testing.T) {
		defer func() {
			if !t.Skipped() {
				t.Error("a missing tool did not skip")
			}
		}()
		Require(t, tool, errors.New("not installed"))
	})
	t.Run("usable", func(t *testing.T) {
		defer func() {
			if t.Skipped() != testing.Short() {
				t.Errorf("skipped = %v under -short = %v", t.Skipped(), testing.Short())
			}
		}()
		Require(t, tool, nil)
	})
}

func TestSkipSlow(t *testing.T) {
	t.Run("slow", func(t *testing.T) {
		defer func() {
			if t.Skipped() != testing.Short() {
				t.Errorf("skipped = %v under -short = %v", t.Skipped(), testing.Short())
			}
		}()
		SkipSlow(t, "test")
	})
}

func TestWaitOK(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ok" {
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	if err := WaitOK(srv.URL+"/ok", time.Second, nil); err != nil {
		t.Fatalf("/ok: %v", err)
	}
	if err := WaitOK(srv.URL+"/missing", 50*time.Millisecond, nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("/missing: %v, want a timeout naming the 404", err)
	}
	gone := errors.New("exited")
	if err := WaitOK(srv.URL+"/missing", time.Minute, func() error { return gone }); err != gone {
		t.Fatalf("dead process: %v, want %v", err, gone)
	}
}
