package bench

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/servertest"
)

// testAPIKey is the API key of startChatrelay's replica (rooms at scale
// and the push API take it; the other runs create rooms without it).
const testAPIKey = "bench-test-key"

// startChatrelay runs an embedded-broker chatrelay replica on a loopback
// port until the test ends and returns its WebSocket URL (a
// servertest replica with the load tool's settings and testAPIKey).
func startChatrelay(t *testing.T) string {
	t.Helper()
	return startChatrelayWith(t, nil)
}

// startChatrelayWith is startChatrelay with change applied to the
// replica's configuration last.
func startChatrelayWith(t *testing.T, change func(*config.Config)) string {
	t.Helper()
	cfg := config.Defaults()
	cfg.Limits.SendRate = 0             // the load is paced by the tool
	cfg.Rooms.Presence.Messages = false // no ENTER/LEAVE among the load
	cfg.HTTP.APIKey = testAPIKey
	if change != nil {
		change(&cfg)
	}
	var log *slog.Logger
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return servertest.Start(t, cfg, log, 15*time.Second).URL()
}

// smallLoad is the integration tests' load: 20 clients in 2 rooms, two
// rate steps on the same connections.
func smallLoad(mode Mode, url string) Config {
	return Config{
		Mode:     mode,
		URLs:     []string{url},
		Clients:  20,
		Rooms:    2,
		Senders:  4,
		Rates:    []float64{20, 40},
		Warmup:   200 * time.Millisecond,
		Duration: time.Second,
		Drain:    10 * time.Second,
		Settle:   0,
		Pids:     []int{os.Getpid()},
		// chatrelay reports refused SENDs here; any would fail the test
		WatchErrors: true,
	}
}

// checkLoad runs cfg and checks that every measured message reached every
// member of its room exactly once, with no error of any kind.
func checkLoad(t *testing.T, cfg Config) {
	t.Helper()
	rep := runReport(t, cfg)
	if rep.Connect.Connected != 20 || len(rep.Steps) != 2 || !rep.OK {
		t.Fatalf("run not OK: connected %d, steps %d, errors %+v, drops %d", rep.Connect.Connected, len(rep.Steps), rep.Errors, rep.Drops)
	}
	for i, s := range rep.Steps {
		// each room has 10 members, the sender among them
		if s.Sent == 0 || s.Expected != s.Sent*10 || s.Delivered != s.Expected || s.Duplicates != 0 || s.Latency.Count != uint64(s.Delivered) {
			t.Errorf("step %d: %+v", i, s)
		}
	}
	if rep.Warmup.Sent == 0 || rep.Warmup.Delivered != rep.Warmup.Sent*10 {
		t.Errorf("warm-up: %+v", rep.Warmup)
	}
	if rep.OtherMessages != 0 || len(rep.RSS) != 1 || rep.RSS[0].BeforeKB <= 0 {
		t.Errorf("other messages %d, rss %+v", rep.OtherMessages, rep.RSS)
	}
}

// runReport runs cfg (within a minute) and returns its report, which it
// prints with -v.
func runReport(t *testing.T, cfg Config) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		_ = rep.WriteTable(os.Stderr)
	}
	return rep
}

func TestChatrelayLoad(t *testing.T) {
	checkLoad(t, smallLoad(ModeChatrelay, startChatrelay(t)))
}

func TestBaselineLoad(t *testing.T) {
	b, err := StartBaseline("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
		if n := b.SlowConsumers(); n != 0 {
			t.Errorf("%d slow consumers", n)
		}
	}()
	checkLoad(t, smallLoad(ModeBaseline, b.URL()))
}

// triggerWriter calls fire once, when a progress line contains match.
type triggerWriter struct {
	match string
	fire  func()
	once  sync.Once
}

func (w *triggerWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.match) {
		w.once.Do(w.fire)
	}
	return len(p), nil
}

// A server that goes away mid-step is reported, never hidden: every client
// counts as dropped, the step is not sustained and the run is not OK.
func TestDropsAreReported(t *testing.T) {
	b, err := StartBaseline("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cfg := Config{
		Mode: ModeBaseline, URLs: []string{b.URL()}, Clients: 10, Rooms: 1, Senders: 2,
		Rates: []float64{50}, Duration: time.Second, Drain: time.Second,
		// the measured phase has begun: the server goes away
		Progress: &triggerWriter{match: "step 0: 50 msgs/s for", fire: func() { _ = b.Close() }},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.Drops != 10 || rep.Errors.SocketErrors != 10 || rep.Reconnects != 0 || len(rep.Steps) != 1 || rep.Steps[0].Sustained || rep.Steps[0].Errors == 0 {
		var buf strings.Builder
		_ = rep.WriteTable(&buf)
		t.Fatalf("a vanished server was not reported:\n%s", buf.String())
	}
}
