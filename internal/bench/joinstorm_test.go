package bench

import (
	"strings"
	"testing"
	"time"
)

func TestJoinSchedule(t *testing.T) {
	start := time.Unix(1000, 0)
	s := JoinSchedule(start, 2000, time.Second)
	if s.Limit != 2000 || !s.Due(0).Equal(start) || s.Due(1000) != start.Add(500*time.Millisecond) {
		t.Fatalf("schedule %+v: due(1000) %v", s, s.Due(1000).Sub(start))
	}
	if last := s.Due(1999).Sub(start); last >= time.Second || last < 999*time.Millisecond {
		t.Errorf("last SUBSCRIBE due at %v, want just under the window", last)
	}
	if n := s.DueBy(start.Add(250 * time.Millisecond)); n != 501 {
		t.Errorf("%d due after a quarter of the window, want 501", n)
	}
	for _, s := range []Schedule{JoinSchedule(start, 10, 0), JoinSchedule(start, 10, -time.Second)} {
		if s.Rate != 0 || s.DueBy(start) != 10 {
			t.Errorf("no window: %+v releases %d at once, want all 10", s, s.DueBy(start))
		}
	}
	if s := JoinSchedule(start, 0, time.Second); s.Limit != 0 || s.Rate != 0 {
		t.Errorf("no clients: %+v", s)
	}
}

func TestWantedSeeds(t *testing.T) {
	if got := wantedSeeds(10, 3); len(got) != 3 || got[0] != 7 || got[2] != 9 {
		t.Errorf("last 3 of 10: %v", got)
	}
	if got := wantedSeeds(2, 5); len(got) != 2 || got[0] != 0 {
		t.Errorf("last 5 of 2: %v", got)
	}
}

// entries builds a replay from sequence numbers, offset 10 × seq + 1.
func entries(seqs ...int64) []histEntry {
	var out []histEntry
	for _, s := range seqs {
		out = append(out, histEntry{seq: s, offset: 10*s + 1})
	}
	return out
}

func TestCheckHistory(t *testing.T) {
	want := wantedSeeds(10, 4) // 6, 7, 8, 9
	for _, tc := range []struct {
		name string
		got  []histEntry
		want HistoryCheck
	}{
		{"exact", entries(6, 7, 8, 9), HistoryCheck{Got: 4}},
		{"lost", entries(6, 8, 9), HistoryCheck{Got: 3, Missing: 1}},
		{"none", nil, HistoryCheck{Missing: 4}},
		{"duplicate", entries(6, 7, 7, 8, 9), HistoryCheck{Got: 5, Duplicates: 1}},
		{"swapped", entries(6, 8, 7, 9), HistoryCheck{Got: 4, OutOfOrder: 1}},
		{"oldest first missing, one too old", entries(5, 7, 8, 9), HistoryCheck{Got: 4, Missing: 1, Foreign: 1}},
		{"no marker", append(entries(6, 7, 8, 9), histEntry{seq: -1, offset: 200}), HistoryCheck{Got: 5, Foreign: 1}},
		{"offsets backwards", []histEntry{{6, 61}, {7, 71}, {8, 50}, {9, 91}}, HistoryCheck{Got: 4, OutOfOrder: 1}},
		{"no offsets", []histEntry{{6, -1}, {7, -1}, {8, -1}, {9, -1}}, HistoryCheck{Got: 4}},
	} {
		got := checkHistory(tc.got, want)
		if got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
		if got.Exact() != (tc.name == "exact" || tc.name == "no offsets") {
			t.Errorf("%s: exact %v", tc.name, got.Exact())
		}
	}
}

// a join storm of 3 clients as the report shows it
func stormReport(p99 float64) *Report {
	js := &JoinStormReport{History: 5, Seeded: 10, WindowSeconds: 1, Subscribed: 3, Receipts: 3, Complete: 3, Exact: 3,
		Receipt:    Latency{Count: 3, P50: 10, P90: 20, P99: p99, Max: p99},
		NthHistory: Latency{Count: 3, P50: 9, P90: 19, P99: p99 - 1, Max: p99 - 1},
		P99LimitMs: 2000}
	js.judge(3)
	return &Report{Mode: ModeChatrelay, Label: "e-chatrelay", Clients: 3, Rooms: 1, JoinStorm: js, OK: js.OK,
		Connect: ConnectReport{Connected: 3}}
}

func TestJoinStormJudge(t *testing.T) {
	if !stormReport(30).JoinStorm.OK {
		t.Error("a storm within the bound is not OK")
	}
	if stormReport(2500).JoinStorm.OK {
		t.Error("a p99 over the bound is OK")
	}
	js := stormReport(30).JoinStorm
	js.Exact, js.Wrong = 2, 1
	if js.judge(3); js.OK {
		t.Error("a wrong history is OK")
	}
	js = stormReport(30).JoinStorm
	if js.judge(4); js.OK {
		t.Error("a client that never subscribed is OK")
	}
}

func TestJoinStormOutput(t *testing.T) {
	rep := stormReport(30)
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3 SUBSCRIBEs with x-history 5 (room seeded with 10)", "3 exact, 0 wrong",
		"RECEIPT", "history message 5", "join storm OK", "result  OK"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if strings.Contains(table.String(), "sustained") {
		t.Errorf("a join storm reports a sustained rate:\n%s", table.String())
	}
	if strings.Contains(table.String(), "warning") {
		t.Errorf("a storm on schedule is flagged:\n%s", table.String())
	}
	rep.JoinStorm.SubscribeSeconds = 2.4
	table.Reset()
	if err := rep.WriteTable(&table); err != nil || !strings.Contains(table.String(), "the SUBSCRIBEs took 2.40s for a 1.00s window") {
		t.Errorf("a storm behind schedule is not flagged (%v):\n%s", err, table.String())
	}
	var md strings.Builder
	if err := WriteMarkdown(&md, []*Report{rep}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| e-chatrelay | 3 | 5 | 1.00 (2.40) | 3 | 3 | 3 | 0 | 0 | 0 | 0 | 10.0 / 30.0 / 30.0 | 9.0 / 29.0 / 29.0 | 0 | yes |") ||
		strings.Contains(md.String(), "| run | mode |") {
		t.Errorf("markdown:\n%s", md.String())
	}
}
