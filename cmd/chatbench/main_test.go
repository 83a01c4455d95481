package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/bench"
)

func TestFlags(t *testing.T) {
	o, err := parseFlags([]string{"-mode", "webstomp", "-urls", "ws://a/ws, ws://b/ws", "-rates", "20,50.5", "-pid", "1,2", "-broker-pid", "3",
		"-source-addrs", "127.0.0.2-127.0.0.3,127.0.0.9"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.Mode != bench.ModeWebSTOMP || len(c.URLs) != 2 || c.URLs[1] != "ws://b/ws" || len(c.Rates) != 2 || c.Rates[1] != 50.5 ||
		c.Login != "guest" || c.Passcode != "guest" || len(c.Pids) != 2 || c.BrokerPids[0] != 3 || c.Senders != -1 ||
		bench.FormatSourceAddrs(c.SourceAddrs) != "127.0.0.2,127.0.0.3,127.0.0.9" {
		t.Fatalf("parsed %+v", c)
	}
	o, err = parseFlags([]string{"-join-storm", "-clients", "2000", "-history", "40", "-join-window", "1.5s", "-join-p99", "3s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := o.cfg; !c.JoinStorm || c.History != 40 || c.Seed != 0 || c.JoinWindow != 1500*time.Millisecond || c.JoinP99 != 3*time.Second {
		t.Fatalf("join storm flags %+v", c)
	}
	o, err = parseFlags([]string{"-rooms-scale", "100000", "-checkpoints", "1000,10_000,100000", "-history-fraction", "0.25",
		"-history-messages", "5", "-create-concurrency", "4", "-create-p99", "7ms", "-broker-ctl", "/x/ctl", "-rooms", "2000"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := o.cfg; c.RoomsScale != 100000 || len(c.Checkpoints) != 3 || c.Checkpoints[1] != 10000 || c.HistoryFraction != 0.25 ||
		c.HistoryMessages != 5 || c.CreateConcurrency != 4 || c.CreateP99 != 7*time.Millisecond || c.BrokerCtl != "/x/ctl" || c.Rooms != 2000 {
		t.Fatalf("rooms-scale flags %+v", c)
	}
	if c := o.cfg; c.ArchiveWait != 0 || c.ArchiveMaxStreams != 0 {
		t.Fatalf("archive wait by default: %v, bound %d", c.ArchiveWait, c.ArchiveMaxStreams)
	}
	o, err = parseFlags([]string{"-rooms-scale", "1000", "-archive-wait", "90s", "-archive-max-streams", "120", "-mgmt", "http://m"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := o.cfg; c.ArchiveWait != 90*time.Second || c.ArchiveMaxStreams != 120 {
		t.Fatalf("archive flags: wait %v, bound %d", c.ArchiveWait, c.ArchiveMaxStreams)
	}
	for _, bad := range [][]string{{"-pid", "x"}, {"-rates", "1,b"}, {"-checkpoints", "1000,x"}, {"-archive-wait", "5"}, {"-archive-max-streams", "x"}, {"-source-addrs", "127.0.0.3-127.0.0.2"}, {"extra"}} {
		if _, err := parseFlags(bad, &strings.Builder{}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// An archive wait that cannot be run is refused before anything starts
// (exit 1): without -mgmt there is nothing to count room streams with.
func TestArchiveWaitNeedsMgmt(t *testing.T) {
	var out, errs strings.Builder
	code, err := run([]string{"-rooms-scale", "10", "-rooms", "1", "-clients", "1", "-urls", "ws://127.0.0.1:1/ws", "-archive-wait", "5s"}, &out, &errs)
	if code != 1 || err == nil || !strings.Contains(err.Error(), "-mgmt") {
		t.Fatalf("exit %d, %v\n%s", code, err, errs.String())
	}
}

// The run's time bound leaves room for every checkpoint's archive wait.
func TestEstimateArchiveWait(t *testing.T) {
	c := bench.Config{RoomsScale: 1000, Checkpoints: []int{100, 500}, Rates: []float64{10}}
	without := estimate(c)
	c.ArchiveWait = time.Minute
	if got := estimate(c) - without; got != 3*time.Minute {
		t.Errorf("3 checkpoints (100, 500 and the total) of 1m: %v more", got)
	}
}

func TestPrintSourceAddrs(t *testing.T) {
	var out strings.Builder
	code, err := run([]string{"-source-addrs", "127.0.0.2-127.0.0.4", "-print-source-addrs"}, &out, &strings.Builder{})
	if err != nil || code != 0 || out.String() != "127.0.0.2,127.0.0.3,127.0.0.4\n" {
		t.Fatalf("exit %d, %v, printed %q", code, err, out.String())
	}
}

// The whole command against its in-process baseline, then -summarize on
// the report it wrote.
func TestRunBaselineAndSummarize(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "r.json")
	var out, errs strings.Builder
	code, err := run([]string{"-mode", "baseline", "-clients", "10", "-rooms", "2", "-rate", "20", "-duration", "500ms",
		"-warmup", "0", "-settle", "0", "-label", "t-baseline", "-json", report}, &out, &errs)
	if err != nil || code != 0 || !strings.Contains(out.String(), "result     OK") {
		t.Fatalf("exit %d, %v\n%s\n%s", code, err, out.String(), errs.String())
	}
	rep, err := bench.ReadReport(report)
	if err != nil || rep.Steps[0].Delivered != rep.Steps[0].Sent*5 || rep.Steps[0].Sent != 10 {
		t.Fatalf("report %v %+v", err, rep)
	}
	out.Reset()
	all := filepath.Join(dir, "all.json")
	if code, err := run([]string{"-summarize", report, "-json", all}, &out, &errs); err != nil || code != 0 ||
		!strings.Contains(out.String(), "| t-baseline | baseline | 10 | 2 | 20 | 10 | 50 | 50 | 0 | 0 |") {
		t.Fatalf("summary %d %v:\n%s", code, err, out.String())
	}
}

// -reads and -typing-fraction reach the run, whose time bound leaves room
// for every member's last read; a reads run the tool cannot make is
// refused before anything starts (exit 1).
func TestReadsFlags(t *testing.T) {
	o, err := parseFlags([]string{"-reads", "-typing-fraction", "0.25", "-clients", "1000", "-rooms", "10"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := o.cfg; !c.Reads || c.TypingFraction != 0.25 {
		t.Fatalf("reads flags %+v", c)
	}
	if o, _ := parseFlags(nil, nil); o.cfg.Reads || o.cfg.TypingFraction != 0.1 {
		t.Fatalf("defaults: reads %v, typing fraction %v", o.cfg.Reads, o.cfg.TypingFraction)
	}
	c := o.cfg
	without := estimate(c)
	c.Reads = false
	if got := without - estimate(c); got != bench.ReadDelayMax+c.Drain {
		t.Errorf("reads add %v to the time bound, want %v", got, bench.ReadDelayMax+c.Drain)
	}
	var out, errs strings.Builder
	code, err := run([]string{"-reads", "-mode", "baseline", "-clients", "2", "-rooms", "1", "-urls", "ws://127.0.0.1:1/ws"}, &out, &errs)
	if code != 1 || err == nil || !strings.Contains(err.Error(), "reads and typing need") {
		t.Fatalf("exit %d, %v\n%s", code, err, errs.String())
	}
}
