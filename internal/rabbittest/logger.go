package rabbittest

import (
	"log/slog"
	"os"
	"sync"
	"testing"
)

// Logger returns a logger that writes to t until the test ends; lines
// logged later (by goroutines of brokers or relays that outlive the test)
// go nowhere. CHATRELAY_TEST_LOG=debug shows debug lines.
func Logger(t testing.TB) *slog.Logger {
	return LoggerAt(t, slog.LevelInfo)
}

// LoggerAt is Logger showing lines from level up (debug ones with
// CHATRELAY_TEST_LOG=debug): a test whose replicas log much at info
// level keeps its failure output to their warnings and errors.
func LoggerAt(t testing.TB, level slog.Level) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop)
	if os.Getenv("CHATRELAY_TEST_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// testWriter forwards log lines to a test while it runs.
type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

// Write implements io.Writer.
func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done && len(p) > 0 {
		w.t.Log(string(p[:len(p)-1]))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}
