package bench

import (
	"strings"
	"testing"
	"time"
)

func TestRoomOffset(t *testing.T) {
	body := AppendChatMessage(nil, "m1", "r1", "bench-1", []byte(`say "offset":7`), time.Now(), 41)
	if off, ok := RoomOffset(body); !ok || off != 41 {
		t.Fatalf("offset %d %v, want 41 (the message's own, not its text's)", off, ok)
	}
	for _, bad := range []string{`{"id":"x"}`, `{"offset":}`, `{"offset":-3}`} {
		if off, ok := RoomOffset([]byte(bad)); ok {
			t.Errorf("%s: offset %d", bad, off)
		}
	}
	st := newReadState("bench-3", false)
	event := []byte(`{"type":"READ","roomId":"r","positions":{"bench-30":90,"bench-3": 12}}`)
	if v, ok := jsonIntAfter(event, st.key); !ok || v != 12 {
		t.Fatalf("own position %d %v, want 12 (not bench-30's)", v, ok)
	}
	if _, ok := jsonIntAfter([]byte(`{"positions":{"bench-30":90}}`), st.key); ok {
		t.Fatal("bench-30's position taken for bench-3's")
	}
}

// Exactly floor(n·fraction) of n members type, spread over the ranks.
func TestIsTyper(t *testing.T) {
	for _, c := range []struct {
		n        int
		fraction float64
		want     int
	}{{100, 0.1, 10}, {10, 0.1, 1}, {9, 0.1, 0}, {10, 0.2, 2}, {7, 1, 7}, {50, 0, 0}} {
		got, last := 0, -1
		for k := 0; k < c.n; k++ {
			if IsTyper(k, c.fraction) {
				if last >= 0 && c.fraction < 1 && k-last < int(1/c.fraction)-1 {
					t.Errorf("n %d fraction %v: typers %d and %d bunched", c.n, c.fraction, last, k)
				}
				got, last = got+1, k
			}
		}
		if got != c.want {
			t.Errorf("n %d fraction %v: %d typers, want %d", c.n, c.fraction, got, c.want)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	line := "4242 (chat relay) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 12 0 100 0 0\n"
	d, err := parseStatCPU([]byte(line))
	if err != nil || d != 3*time.Second {
		t.Fatalf("cpu %v, %v: want 3s (300 ticks)", d, err)
	}
	if _, err := parseStatCPU([]byte("4242 (x) S 1 2")); err == nil {
		t.Fatal("a short stat line parsed")
	}
	a := cpuSample{at: time.Unix(100, 0), server: time.Second, broker: 2 * time.Second, tool: time.Second, ok: true}
	b := cpuSample{at: time.Unix(102, 0), server: 2 * time.Second, broker: 5 * time.Second, tool: 3 * time.Second, ok: true}
	if s, br, tl := cores(a, b); s != 0.5 || br != 1.5 || tl != 1 {
		t.Fatalf("cores %v %v %v, want 0.5 1.5 1", s, br, tl)
	}
	if s, br, tl := cores(a, cpuSample{at: b.at}); s != 0 || br != 0 || tl != 0 {
		t.Fatalf("cores of an unread sample %v %v %v", s, br, tl)
	}
}

// The cost table sets a plain run and a reads run side by side, step by
// step, and the two chatrelay runs of one scenario get no ratio row.
func TestCostsTable(t *testing.T) {
	step := StepReport{Rate: 100, DeliveredPerSec: 9990, Sustained: true, ServerCPU: 0.4, BrokerCPU: 0.2, ToolCPU: 0.7,
		Latency: Latency{P50: 2, P99: 40}}
	plain := &Report{Label: "r-plain", Mode: ModeChatrelay, Rooms: 10, Rates: []float64{100}, Steps: []StepReport{step}, OK: true}
	plain.Connect.Connected = 1000
	withReads := *plain
	withReads.Label = "r-reads"
	s2 := step
	s2.Activity = &StepActivity{ReadSendsPerSec: 900, ReadEventsPerSec: 2000, TypingSendsPerSec: 100, TypingEventsPerSec: 5000}
	withReads.Steps = []StepReport{s2}
	withReads.Reads = &ReadsReport{Readers: 1000, LastReadSeen: 1000, OK: true}
	var md strings.Builder
	if err := WriteMarkdown(&md, []*Report{plain, &withReads}); err != nil {
		t.Fatal(err)
	}
	out := md.String()
	for _, want := range []string{
		"| r-plain | 1000 | 10 | 100 | 9990 | 2.0 | 40.0 | 0.40 | 0.20 | 0.70 | - | - | - | - | - | yes |",
		"| r-reads | 1000 | 10 | 100 | 9990 | 2.0 | 40.0 | 0.40 | 0.20 | 0.70 | 900 | 2000 | 100 | 5000 | 1000/1000 | yes |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no row %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "chatrelay ÷ it") {
		t.Errorf("a ratio of two chatrelay runs:\n%s", out)
	}
}
