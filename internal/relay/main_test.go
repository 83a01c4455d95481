package relay

import (
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"

	"chatrelay/internal/rabbittest"
)

// node is the package's private RabbitMQ node (nil without RabbitMQ).
var node *rabbittest.Node

func TestMain(m *testing.M) { os.Exit(rabbittest.Main(m, &node)) }

// testLogger logs to t until the test ends; later lines (from goroutines of
// brokers that outlive Close) go nowhere. CHATRELAY_TEST_LOG=debug shows
// debug lines.
func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop)
	level := slog.LevelInfo
	if os.Getenv("CHATRELAY_TEST_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

var _ io.Writer = (*testWriter)(nil)

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(p[:len(p)-1]))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}
