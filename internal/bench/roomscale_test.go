package bench

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHasHistory(t *testing.T) {
	count := func(n int, f float64) (k int) {
		for i := 0; i < n; i++ {
			if HasHistory(i, f) {
				k++
			}
		}
		return k
	}
	for _, c := range []struct {
		f    float64
		n    int
		want int
	}{{0.5, 1000, 500}, {0.5, 7, 3}, {0.1, 1000, 100}, {0, 100, 0}, {1, 100, 100}, {-1, 10, 0}, {2, 10, 10}, {0.333, 3000, 999}} {
		if got := count(c.n, c.f); got != c.want {
			t.Errorf("fraction %v of %d rooms: %d with history, want %d", c.f, c.n, got, c.want)
		}
	}
	if HasHistory(0, 0.5) || !HasHistory(1, 0.5) || HasHistory(2, 0.5) {
		t.Error("fraction 0.5: want every second room from room 1")
	}
}

func TestActiveRooms(t *testing.T) {
	if got := ActiveRooms(10, 5); !reflect.DeepEqual(got, []int{0, 2, 4, 6, 8}) {
		t.Errorf("ActiveRooms(10, 5) = %v", got)
	}
	if got := ActiveRooms(3, 5); !reflect.DeepEqual(got, []int{0, 1, 2}) {
		t.Errorf("ActiveRooms(3, 5) = %v, want every room once", got)
	}
	got := ActiveRooms(100000, 2000)
	if len(got) != 2000 || got[1] != 50 || got[1999] != 99950 {
		t.Errorf("ActiveRooms(100000, 2000): %d rooms, second %d, last %d", len(got), got[1], got[len(got)-1])
	}
}

func TestDefaultCheckpoints(t *testing.T) {
	for n, want := range map[int][]int{100000: {1000, 10000, 100000}, 1000: {1000}, 30: {30}, 25000: {1000, 10000, 25000}} {
		if got := DefaultCheckpoints(n); !reflect.DeepEqual(got, want) {
			t.Errorf("DefaultCheckpoints(%d) = %v, want %v", n, got, want)
		}
	}
}

// scaleConfig is a valid rooms-at-scale configuration.
func scaleConfig() Config {
	return Config{Mode: ModeChatrelay, URLs: []string{"ws://x/ws"}, Clients: 20, Rooms: 10, Duration: time.Second,
		RoomsScale: 1000, HistoryFraction: 0.5, HistoryMessages: 3}
}

func TestScaleDefaults(t *testing.T) {
	c := scaleConfig()
	c.Checkpoints = []int{10, 100}
	c.Defaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Checkpoints, []int{10, 100, 1000}) || c.CreateConcurrency != roomsInFlight || c.CreateP99 != 5*time.Millisecond {
		t.Errorf("defaults: checkpoints %v, concurrency %d, p99 %v", c.Checkpoints, c.CreateConcurrency, c.CreateP99)
	}
	if c.ArchiveWait != 0 || c.ArchiveMaxStreams != 0 {
		t.Errorf("no archive wait asked for: wait %v, bound %d", c.ArchiveWait, c.ArchiveMaxStreams)
	}
	// an archive wait's default bound: the active rooms and ArchiveSlack
	c = scaleConfig()
	c.ArchiveWait, c.Mgmt = time.Minute, "http://m"
	c.Defaults()
	if err := c.Validate(); err != nil || c.ArchiveMaxStreams != c.Rooms+ArchiveSlack {
		t.Errorf("archive wait: bound %d, want %d; %v", c.ArchiveMaxStreams, c.Rooms+ArchiveSlack, err)
	}
	c = scaleConfig()
	c.ArchiveWait, c.ArchiveMaxStreams, c.Mgmt = time.Minute, 7, "http://m"
	if c.Defaults(); c.ArchiveMaxStreams != 7 {
		t.Errorf("archive bound given 7, now %d", c.ArchiveMaxStreams)
	}
}

// Every bound of a rooms-at-scale run is refused past its limit.
func TestScaleLimits(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"mode":              func(c *Config) { c.Mode = ModeWebSTOMP },
		"too many rooms":    func(c *Config) { c.RoomsScale = MaxScaleRooms + 1 },
		"more active":       func(c *Config) { c.RoomsScale, c.Checkpoints = 5, []int{5} },
		"history messages":  func(c *Config) { c.HistoryMessages = MaxHistoryMessages + 1 },
		"negative messages": func(c *Config) { c.HistoryMessages = -1 },
		"fraction":          func(c *Config) { c.HistoryFraction = 1.5 },
		"descending":        func(c *Config) { c.Checkpoints = []int{100, 10, 1000} },
		"beyond total":      func(c *Config) { c.Checkpoints = []int{10, 2000} },
		"zero checkpoint":   func(c *Config) { c.Checkpoints = []int{0, 1000} },
		"join storm too":    func(c *Config) { c.JoinStorm = true },
		"negative wait":     func(c *Config) { c.ArchiveWait, c.Mgmt = -time.Second, "http://m" },
		"negative bound":    func(c *Config) { c.ArchiveWait, c.ArchiveMaxStreams, c.Mgmt = time.Second, -1, "http://m" },
		"wait without mgmt": func(c *Config) { c.ArchiveWait = time.Second },
		"bound, no wait":    func(c *Config) { c.ArchiveMaxStreams, c.Mgmt = 10, "http://m" },
		"checkpoints": func(c *Config) {
			c.Checkpoints = nil
			for i := 1; i <= MaxCheckpoints+1; i++ {
				c.Checkpoints = append(c.Checkpoints, i)
			}
		},
	} {
		c := scaleConfig()
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted %+v", name, c)
		}
	}
	c := scaleConfig()
	c.RoomsScale, c.Checkpoints = MaxScaleRooms, []int{MaxScaleRooms}
	c.HistoryMessages, c.HistoryFraction = MaxHistoryMessages, 1
	if err := c.Validate(); err != nil {
		t.Errorf("the largest run refused: %v", err)
	}
}

func TestGrowthPerRoom(t *testing.T) {
	base := BrokerSnapshot{Rooms: 0, MemUsed: 100e6, Erlang: 50e6, ProcUsed: 400, FDUsed: 40, RSSKB: 1000, Queues: 2}
	s := BrokerSnapshot{Rooms: 1000, MemUsed: 101e6, Erlang: -1, ProcUsed: 2400, FDUsed: 40, RSSKB: 2000, Queues: 1002}
	g := s.GrowthPerRoom(base)
	if !g.HasMem || g.MemUsedBytes != 1000 || g.HasErlang || g.Procs != 2 || g.FDs != 0 || g.RSSBytes != 1024 || g.Queues != 1 {
		t.Errorf("growth %+v", g)
	}
	if got, want := g.String(), "mem_used 1.0 KB, rss 1.0 KB, 2.00 processes, 0.00 fds, 1.00 queues"; got != want {
		t.Errorf("growth prints %q, want %q", got, want)
	}
	if g := base.GrowthPerRoom(base); g.HasMem || g.String() != "-" {
		t.Errorf("growth over no rooms %+v", g)
	}
	if got := (BrokerSnapshot{MemUsed: -1, Erlang: -1, ProcUsed: -1, FDUsed: -1, RSSKB: -1, Queues: -1, RoomStreams: -1}).line(); !strings.Contains(got, "no figures") {
		t.Errorf("empty snapshot prints %q", got)
	}
}

func TestRoomsScaleJudge(t *testing.T) {
	ok := RoomsScaleReport{Rooms: 10, Created: 10, Checkpoints: []BrokerSnapshot{{Rooms: 10}}, CreateP99LimitMs: 5, Create: Latency{P99: 4}}
	for name, mutate := range map[string]func(*RoomsScaleReport){
		"create error": func(r *RoomsScaleReport) { r.CreateErrors, r.Created = 1, 9 },
		"push error":   func(r *RoomsScaleReport) { r.PostErrors = 1 },
		"slow create":  func(r *RoomsScaleReport) { r.Create.P99 = 6 },
		"no reading":   func(r *RoomsScaleReport) { r.Checkpoints = nil },
	} {
		r := ok
		mutate(&r)
		if r.judge(0); r.OK {
			t.Errorf("%s: judged OK", name)
		}
	}
	r := ok
	if r.judge(1); r.OK || r.ProbeErrors != 1 {
		t.Error("a failed broker reading: judged OK")
	}
	r = ok
	if r.judge(0); !r.OK || r.ArchiveMet {
		t.Errorf("a good run without an archive wait: OK %v, archive met %v", r.OK, r.ArchiveMet)
	}
	// with an archive wait every checkpoint's bound must be met
	met := &ArchiveCatchUp{MaxStreams: 60, Streams: 12, Seconds: 3, Polls: 4, Met: true}
	unmet := &ArchiveCatchUp{MaxStreams: 60, Streams: 900, Seconds: 60, Polls: 61}
	for name, c := range map[string]struct {
		archives []*ArchiveCatchUp
		ok       bool
	}{
		"all met":        {[]*ArchiveCatchUp{met, met}, true},
		"one not met":    {[]*ArchiveCatchUp{met, unmet}, false},
		"one not waited": {[]*ArchiveCatchUp{met, nil}, false},
	} {
		r := ok
		r.ArchiveWaitSeconds, r.ArchiveMaxStreams, r.Checkpoints = 60, 60, nil
		for i, a := range c.archives {
			r.Checkpoints = append(r.Checkpoints, BrokerSnapshot{Rooms: 5 * (i + 1), Archive: a})
		}
		if r.judge(0); r.OK != c.ok || r.ArchiveMet != c.ok {
			t.Errorf("%s: OK %v, archive met %v; want %v", name, r.OK, r.ArchiveMet, c.ok)
		}
	}
}

func TestArchivePoll(t *testing.T) {
	for limit, want := range map[time.Duration]time.Duration{
		time.Minute: time.Second, 10 * time.Second: time.Second, 2 * time.Second: 200 * time.Millisecond,
		100 * time.Millisecond: 50 * time.Millisecond,
	} {
		if got := archivePoll(limit); got != want {
			t.Errorf("archivePoll(%v) = %v, want %v", limit, got, want)
		}
	}
}

// The archive wait's outcome at each checkpoint is in the table, the
// markdown and the JSON; a bound not met says NOT met everywhere.
func TestRoomsScaleArchiveReport(t *testing.T) {
	snap := func(rooms int, streams int64, a *ArchiveCatchUp) BrokerSnapshot {
		return BrokerSnapshot{Rooms: rooms, MemUsed: 1e8, Erlang: -1, ProcUsed: 500, FDUsed: 50, RSSKB: -1, FDs: -1, Queues: streams + 2,
			RoomStreams: streams, Archive: a}
	}
	rs := &RoomsScaleReport{Rooms: 2000, Active: 10, Created: 2000, CreateP99LimitMs: 5, ArchiveWaitSeconds: 30, ArchiveMaxStreams: 60,
		Baseline: snap(0, 0, nil),
		Checkpoints: []BrokerSnapshot{
			snap(1000, 41, &ArchiveCatchUp{MaxStreams: 60, Streams: 41, Seconds: 3.2, Polls: 4, Met: true}),
			snap(2000, 700, &ArchiveCatchUp{MaxStreams: 60, Streams: 700, Seconds: 30, Polls: 31}),
		}}
	rs.judge(0)
	if rs.OK || rs.ArchiveMet {
		t.Fatalf("a bound not met judged OK %v, archive met %v", rs.OK, rs.ArchiveMet)
	}
	var table strings.Builder
	if err := rs.writeTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"room streams", "up to 30.0s for <= 60 room streams: NOT met",
		"1000 rooms: met: 41 room streams <= 60 after 3.2s",
		"2000 rooms: NOT met: 700 room streams, bound 60, after 30.0s", "rooms    NOT OK",
	} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var md strings.Builder
	writeRoomsScale(&md, []*Report{{Label: "d", RoomsScale: rs}})
	for _, want := range []string{"| room streams | archive wait |", "| 41 | met in 3.2 s |", "| 700 | **NOT met** in 30.0 s (bound 60) |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	b, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	var back RoomsScaleReport
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(&back, rs) {
		t.Errorf("JSON round trip: %v\n%s", err, b)
	}
	for _, want := range []string{`"archive_wait_seconds":30`, `"archive_max_streams":60`, `"archive_met":false`, `"room_streams":700`,
		`"archive":{"max_streams":60,"streams":700,"seconds":30,"polls":31,"met":false}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s: %s", want, b)
		}
	}
	// a snapshot without a wait carries no archive object
	if b, _ := json.Marshal(rs.Baseline); strings.Contains(string(b), `"archive"`) {
		t.Errorf("baseline JSON %s", b)
	}
}

// TestForEachRoomPaced: paced calls are due 1/rate apart whatever the
// calls take, none starts before it is due, a call waiting for a slot
// keeps its due time, and no more than n run at once.
func TestForEachRoomPaced(t *testing.T) {
	const n, rate = 2, 400.0 // 2.5 ms apart
	rooms := make([]*room, 12)
	for i := range rooms {
		rooms[i] = &room{index: i}
	}
	var mu sync.Mutex
	dues := make([]time.Time, len(rooms))
	started := make([]time.Time, len(rooms))
	running, most := 0, 0
	forEachRoomPaced(context.Background(), rooms, n, rate, func(rm *room, due time.Time) {
		mu.Lock()
		dues[rm.index], started[rm.index] = due, time.Now()
		running++
		most = max(most, running)
		mu.Unlock()
		time.Sleep(10 * time.Millisecond) // longer than 1/rate: calls queue for the 2 slots
		mu.Lock()
		running--
		mu.Unlock()
	})
	if most > n {
		t.Fatalf("%d calls ran at once, want at most %d", most, n)
	}
	step := time.Duration(float64(time.Second) / rate)
	for k := range rooms {
		if got := dues[k].Sub(dues[0]); got != time.Duration(k)*step {
			t.Errorf("call %d due %v after the first, want %v", k, got, time.Duration(k)*step)
		}
		if started[k].Before(dues[k]) {
			t.Errorf("call %d started %v before it was due", k, dues[k].Sub(started[k]))
		}
	}
	// the slots were the bottleneck, so the last calls started late: their
	// time counts from when they were due, not from when they started
	if last := len(rooms) - 1; !started[last].After(dues[last]) {
		t.Errorf("the last call started at its due time although both slots were busy")
	}

	// closed loop: due is when the call starts
	var closed []time.Duration
	forEachRoomPaced(context.Background(), rooms[:3], 1, 0, func(rm *room, due time.Time) {
		mu.Lock()
		closed = append(closed, time.Since(due))
		mu.Unlock()
	})
	for _, d := range closed {
		if d < 0 || d > time.Second {
			t.Errorf("closed-loop call due %v before it ran, want about 0", d)
		}
	}

	// a cancelled context starts nothing more
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	forEachRoomPaced(ctx, rooms, n, 1, func(*room, time.Time) { calls++ })
	if calls > 1 {
		t.Errorf("%d calls after the context ended, want at most the first (due at once)", calls)
	}
}
