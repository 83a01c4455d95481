package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/chat"
)

func TestHistogramPercentiles(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram is not all zero")
	}
	// 1 ms .. 1000 ms, once each, recorded from several goroutines
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1 + g; i <= 1000; i += 4 {
				h.Record(time.Duration(i) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if h.Count() != 1000 {
		t.Fatalf("count %d, want 1000", h.Count())
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.9, 900 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.Quantile(c.q)
		if got < c.want || float64(got-c.want) > float64(c.want)/float64(subCount) {
			t.Errorf("q%.2f = %v, want %v within 1/%d above", c.q, got, c.want, subCount)
		}
	}
	if h.Max() != time.Second {
		t.Errorf("max %v, want exactly 1s", h.Max())
	}
	if m := h.Mean(); m < 500*time.Millisecond || m > 501*time.Millisecond {
		t.Errorf("mean %v, want 500.5ms", m)
	}
	s := h.Summary()
	if s.P50 < 500 || s.P50 > 508 || s.Max != 1000 || s.Count != 1000 {
		t.Errorf("summary %+v", s)
	}
	h.Record(-time.Second) // clock skew counts as zero
	if h.Quantile(0) != 0 {
		t.Errorf("negative duration not recorded as zero")
	}
}

func TestHistogramBuckets(t *testing.T) {
	for _, v := range []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 123456789, 1 << 40, math.MaxInt64} {
		i := bucketOf(v)
		lo, hi := bucketBounds(i)
		if v < lo || v > hi || i >= numBuckets {
			t.Errorf("value %d in bucket %d [%d,%d]", v, i, lo, hi)
		}
		if v >= subCount && float64(hi-lo) > float64(lo)/subCount {
			t.Errorf("bucket of %d too wide: [%d,%d]", v, lo, hi)
		}
	}
}

func TestSchedule(t *testing.T) {
	start := time.Unix(1000, 0)
	if n := Count(20, 10*time.Second, -1); n != 200 {
		t.Errorf("Count(20/s, 10s) = %d", n)
	}
	if n := Count(20, 10*time.Second, 150); n != 150 {
		t.Errorf("Count capped = %d", n)
	}
	if n := Count(0.5, time.Second, -1); n != 1 {
		t.Errorf("Count(0.5/s, 1s) = %d, want at least 1", n)
	}
	for _, rate := range []float64{1, 3, 7.5, 100, 333.3, 20000} {
		s := Schedule{Start: start, Rate: rate, Limit: -1}
		if s.DueBy(start.Add(-time.Nanosecond)) != 0 {
			t.Fatalf("rate %v: items due before start", rate)
		}
		for k := int64(0); k < 2000; k += 7 {
			due := s.Due(k)
			if got := s.DueBy(due); got != k+1 {
				t.Fatalf("rate %v: DueBy(Due(%d)) = %d, want %d", rate, k, got, k+1)
			}
			if got := s.DueBy(due.Add(-time.Nanosecond)); got != k {
				t.Fatalf("rate %v: just before Due(%d): %d due, want %d", rate, k, got, k)
			}
		}
	}
	s := Schedule{Start: start, Rate: 10, Limit: 5}
	if got := s.DueBy(start.Add(time.Hour)); got != 5 {
		t.Errorf("limit not applied: %d", got)
	}
	if got := (Schedule{Start: start, Limit: 9}).DueBy(start); got != 9 {
		t.Errorf("rate 0 releases %d at once, want all 9", got)
	}
}

func TestScheduleRun(t *testing.T) {
	s := Schedule{Start: time.Now(), Rate: 2000, Limit: 40}
	var ks []int64
	n := s.Run(context.Background(), func(k int64, due time.Time) {
		if time.Now().Before(due) {
			t.Errorf("item %d emitted before it was due", k)
		}
		ks = append(ks, k)
	})
	if n != 40 || len(ks) != 40 || ks[0] != 0 || ks[39] != 39 {
		t.Fatalf("emitted %d: %v", n, ks)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n := (Schedule{Start: time.Now(), Rate: 1, Limit: 10}).Run(ctx, func(int64, time.Time) {}); n != 1 {
		t.Errorf("cancelled run emitted %d, want only the item due at start", n)
	}
}

func TestMarkerRoundTrip(t *testing.T) {
	m := Marker{Step: 3, Measured: true, Sender: 17, Seq: 42, SentNanos: time.Now().UnixNano()}
	text := m.AppendText(nil, 100)
	if len(text) != 100 {
		t.Fatalf("text length %d, want 100", len(text))
	}
	got, ok := ParseMarker(text)
	if !ok || got != m {
		t.Fatalf("parsed %+v %v, want %+v", got, ok, m)
	}
	w := Marker{Step: 0, Sender: 1, Seq: 0, SentNanos: 5}
	if got, ok := ParseMarker(w.AppendText(nil, 0)); !ok || got != w {
		t.Fatalf("warm-up marker: %+v %v", got, ok)
	}

	// the marker survives every body shape a mode delivers
	send := AppendSendBody(nil, "room-1", text)
	var req struct{ RoomID, Type, Message string }
	if err := json.Unmarshal(send, &req); err != nil || req.RoomID != "room-1" || req.Type != "TALK" || req.Message != string(text) {
		t.Fatalf("send body %s: %v %+v", send, err, req)
	}
	relayed, _ := json.Marshal(chat.ChatMessage{ID: "x", RoomID: "room-1", Type: chat.Talk, Sender: "ann", Message: req.Message, SentAt: time.Now()})
	if got, ok := ParseMarker(relayed); !ok || got != m {
		t.Fatalf("marker lost in chatrelay's ChatMessage %s", relayed)
	}
	direct := AppendChatMessage(nil, "id\"1", "room-1", "ann\\", text, time.Unix(0, 1).UTC(), 7)
	var cm map[string]any
	if err := json.Unmarshal(direct, &cm); err != nil {
		t.Fatalf("direct body %s: %v", direct, err)
	}
	if cm["id"] != "id\"1" || cm["sender"] != "ann\\" || cm["type"] != "TALK" || cm["offset"] != 7.0 || cm["sentAt"] != "1970-01-01T00:00:00.000000001Z" {
		t.Fatalf("direct body fields %v", cm)
	}
	if got, ok := ParseMarker(direct); !ok || got != m {
		t.Fatalf("marker lost in direct body")
	}
	if s := string(appendJSONString(nil, "a\x01\xffé")); s != `"a\u0001\ufffdé"` {
		t.Errorf("JSON escaping: %s", s)
	}

	for _, bad := range []string{"", "hello", "CB1|", "CB1|1|m|2|3|", "CB1|1|q|2|3|4|", "CB1|x|m|2|3|4|", "CB1|-1|m|2|3|4|"} {
		if _, ok := ParseMarker([]byte(bad)); ok {
			t.Errorf("ParseMarker(%q) accepted", bad)
		}
	}
}

func TestSeqState(t *testing.T) {
	s := &seqState{last: -1}
	type obs struct{ fresh, reordered bool }
	steps := []struct {
		seq  int64
		want obs
	}{
		{0, obs{true, false}}, {1, obs{true, false}}, {1, obs{false, false}}, // duplicate
		{4, obs{true, false}},  // 2, 3 missing
		{3, obs{true, true}},   // late, fills a gap
		{3, obs{false, false}}, // and again: duplicate
		{0, obs{false, false}}, {2, obs{true, true}}, {5, obs{true, false}},
	}
	for i, st := range steps {
		fresh, reordered := s.observe(st.seq)
		if (obs{fresh, reordered}) != st.want {
			t.Fatalf("step %d seq %d: got fresh=%v reordered=%v, want %+v", i, st.seq, fresh, reordered, st.want)
		}
	}
	if len(s.missing) != 0 {
		t.Errorf("gaps left: %v", s.missing)
	}
}

func TestReportJSON(t *testing.T) {
	cfg := Config{Mode: ModeChatrelay, URLs: []string{"ws://127.0.0.1:1/ws"}, Clients: 10, Rooms: 2, Duration: time.Second, Label: "small"}
	cfg.Defaults()
	r := &runner{cfg: cfg, steps: []*stepStats{{rate: 10}}, ran: 1}
	s := r.steps[0]
	s.start = time.Now().Add(-time.Second)
	s.end = time.Now()
	s.sent.Store(10)
	s.expected.Store(50)
	s.delivered.Store(50)
	for i := 0; i < 50; i++ {
		s.hist.Record(time.Duration(i+1) * time.Millisecond)
	}
	rep := newReport(&r.cfg)
	rep.Connect = ConnectReport{Connected: 10}
	rss := newRSSProbe([]int{1}, nil)
	rss.kb[0] = [3]int64{1000, 1100, 1100}
	rep.finish(r, rss, map[string]int64{"connections": 2, "queues": 5}, map[string]int64{"connections": 2, "queues": 7})
	if !rep.OK || rep.MaxSustainedRate != 10 || rep.RSSPerConnBytes != 100*1024/10 || rep.Broker.Delta["queues"] != 2 {
		t.Fatalf("report %+v", rep)
	}
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	step := raw["steps"].([]any)[0].(map[string]any)
	lat := step["latency"].(map[string]any)
	if step["delivered"] != 50.0 || step["expected"] != 50.0 || step["lost"] != 0.0 || lat["p50_ms"] == nil || lat["max_ms"] != 50.0 ||
		raw["ok"] != true || raw["mode"] != "chatrelay" || raw["rss_per_conn_bytes"] == nil {
		t.Fatalf("JSON fields: %s", buf.Bytes())
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back.Steps[0].Latency.P99 != rep.Steps[0].Latency.P99 {
		t.Fatalf("round trip: %v %+v", err, back.Steps)
	}
	var table, md strings.Builder
	if err := rep.WriteTable(&table); err != nil || !strings.Contains(table.String(), "result     OK") {
		t.Fatalf("table:\n%s", table.String())
	}
	if err := WriteMarkdown(&md, []*Report{rep, {Mode: ModeWebSTOMP, Idle: true, Label: "idle"}}); err != nil ||
		!strings.Contains(md.String(), "| small | chatrelay | 10 | 2 | 10 | 10 | 50 | 50 | 0 | 0 |") || !strings.Contains(md.String(), "| idle | webstomp |") {
		t.Fatalf("markdown:\n%s", md.String())
	}

	// one lost delivery makes the run not OK
	s.delivered.Store(49)
	rep = newReport(&r.cfg)
	rep.Connect = ConnectReport{Connected: 10}
	rep.finish(r, newRSSProbe(nil, nil), nil, nil)
	if rep.OK || rep.Steps[0].Lost != 1 || rep.Steps[0].Sustained || rep.MaxSustainedRate != 0 {
		t.Fatalf("lossy step reported as %+v", rep.Steps[0])
	}
}

func TestReadRSS(t *testing.T) {
	rss, hwm, err := ReadRSS(1)
	if err != nil || rss <= 0 || hwm < rss {
		t.Fatalf("ReadRSS(1) = %d, %d, %v", rss, hwm, err)
	}
	if HTTPBase("ws://127.0.0.1:8080/ws") != "http://127.0.0.1:8080" || HTTPBase("wss://h/ws") != "https://h" {
		t.Error("HTTPBase")
	}
}
