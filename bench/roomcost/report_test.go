package main

import (
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted
	}
	for _, tc := range []struct {
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(3, 1, 2), 50, 2 * time.Millisecond},
		{ms(hundred...), 50, 50 * time.Millisecond},
		{ms(hundred...), 99, 99 * time.Millisecond},
		{ms(hundred...), 100, 100 * time.Millisecond},
		{ms(hundred...), 0.1, 1 * time.Millisecond},
	} {
		if got := percentile(tc.ds, tc.p); got != tc.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tc.ds, tc.p, got, tc.want)
		}
	}
	in := ms(3, 1, 2)
	percentile(in, 50)
	if in[0] != 3*time.Millisecond {
		t.Errorf("percentile sorted its argument: %v", in)
	}
}

func TestGrowth(t *testing.T) {
	before := map[string]int64{"mnesia": 100, "binary": 500, "queue_procs": 0, "reserved_unallocated": 0}
	after := map[string]int64{"mnesia": 2100, "binary": 400, "queue_procs": 5000, "other_ets": 2000, "reserved_unallocated": 1e9}
	got := strings.Join(growth(before, after, 2), "; ")
	if want := "queue_procs +5.0 KB; mnesia +2.0 KB"; got != want {
		t.Errorf("growth = %q, want %q", got, want)
	}
	if got := growth(after, map[string]int64{"mnesia": 1}, 3); len(got) != 0 {
		t.Errorf("growth of a shrink = %v, want none", got)
	}
}

func TestRow(t *testing.T) {
	r := Result{
		Candidate: "stream per room", Rooms: 1000, Objects: 1000,
		Before:    Snapshot{MemUsed: 100e6, Erlang: 70e6, Procs: 400, FDs: 40},
		After:     Snapshot{MemUsed: 270e6, Erlang: 170e6, Procs: 1400, FDs: 2040, Breakdown: map[string]int64{"stream_queue_procs": 9e7}},
		Latencies: []time.Duration{2 * time.Millisecond, 4 * time.Millisecond},
		Took:      3 * time.Second,
	}
	row := r.Row()
	for _, want := range []string{"| stream per room | 1000 | 1000 | 0 |", "| 170.0 MB | 170.0 KB |", "| 100.0 MB | 100.0 KB |",
		"| +1000 | +2000 |", "| 2.00 | 4.00 |", "stream_queue_procs +90.0 MB"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
	if got, want := strings.Count(row, "|"), strings.Count(strings.SplitN(tableHeader, "\n", 2)[0], "|"); got != want {
		t.Errorf("row has %d cells' bars, header %d", got, want)
	}
	r.Err = "time limit"
	if !strings.Contains(r.Row(), "(stopped: time limit)") {
		t.Errorf("row of a stopped run does not say so: %s", r.Row())
	}
}

func TestRoomOfSpreads(t *testing.T) {
	counts := make([]int, partitions)
	for i := 0; i < 16000; i++ {
		p := roomOf(roomID(i), partitions)
		if p != roomOf(roomID(i), partitions) {
			t.Fatal("roomOf is not deterministic")
		}
		counts[p]++
	}
	for p, c := range counts {
		if c < 800 || c > 1200 {
			t.Errorf("partition %d holds %d of 16000 rooms; want about 1000: %v", p, c, counts)
		}
	}
}

func TestSelected(t *testing.T) {
	for _, tc := range []struct {
		name, only string
		want       bool
	}{
		{"quorum queue, idle", "", true},
		{"quorum queue, idle", "quorum", true},
		{"quorum queue, idle", "stream+classic", false},
		{"classic v2 queue, empty", "stream+v2 queue, empty", true},
		{"classic v2 queue, 5 msgs", "stream+v2 queue, empty", false},
		{"classic v2 queue, empty", "none", false},
	} {
		if got := selected(tc.name, tc.only); got != tc.want {
			t.Errorf("selected(%q, %q) = %v", tc.name, tc.only, got)
		}
	}
}
