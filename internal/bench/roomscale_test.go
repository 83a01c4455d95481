package bench

import (
	"reflect"
	"strings"
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
	if got := (BrokerSnapshot{MemUsed: -1, Erlang: -1, ProcUsed: -1, FDUsed: -1, RSSKB: -1, Queues: -1}).line(); !strings.Contains(got, "no figures") {
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
	if r.judge(0); !r.OK {
		t.Error("a good run judged not OK")
	}
}
