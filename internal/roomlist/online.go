package roomlist

import (
	"encoding/json"
	"sync"
	"time"

	"chatrelay/internal/rooms"
)

// OnlineEvent is the /topic/rooms event that carries online counts:
// {"event":"online","online":{"ROOM_ID":N,...}}, the rooms whose count
// changed since the replica's previous event, public rooms only.
type OnlineEvent struct {
	Event  string         `json:"event"`
	Online map[string]int `json:"online"`
}

// Defaults of OnlineOptions.
const (
	DefaultOnlineInterval = time.Second
	DefaultOnlinePerEvent = 200
)

// OnlineOptions configure an OnlineAnnouncer. Zero values take defaults.
type OnlineOptions struct {
	// Rooms lists the rooms (a rooms.Store is one); private ones are
	// never announced.
	Rooms Pager
	// Online returns how many users are online in a room.
	Online func(id string) int
	// Publish sends one event body to /topic/rooms.
	Publish func(body []byte)
	// Interval is how often counts are compared (DefaultOnlineInterval).
	Interval time.Duration
	// PerEvent bounds the rooms of one event (DefaultOnlinePerEvent); more
	// changes make more events.
	PerEvent int
}

// OnlineAnnouncer publishes, every Interval, the online counts of the
// public rooms whose count changed, so that pages keep every listed
// room's count live without polling. Each replica runs one and counts
// through presence, which sees every replica: replicas may announce the
// same change, and a page keeps the latest count it got.
type OnlineAnnouncer struct {
	opts OnlineOptions
	last map[string]int // room id → count last announced; under mu
	mu   sync.Mutex     // serializes Tick
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// NewOnlineAnnouncer returns an OnlineAnnouncer; Start runs it.
func NewOnlineAnnouncer(opts OnlineOptions) *OnlineAnnouncer {
	if opts.Interval <= 0 {
		opts.Interval = DefaultOnlineInterval
	}
	if opts.PerEvent <= 0 {
		opts.PerEvent = DefaultOnlinePerEvent
	}
	return &OnlineAnnouncer{opts: opts, last: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
}

// Tick compares every public room's count with the one last announced and
// returns the events to publish (none when nothing changed). A room seen
// for the first time counts as changed unless nobody is online in it (the
// room list already says 0); a room gone is forgotten.
func (a *OnlineAnnouncer) Tick() [][]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := make(map[string]bool, len(a.last))
	changed := map[string]int{}
	var after int64
	for {
		list, more := a.opts.Rooms.Page(after, MaxLimit, func(r rooms.Room) bool { return !r.Private })
		for _, r := range list {
			seen[r.ID] = true
			n := a.opts.Online(r.ID)
			old, known := a.last[r.ID]
			if old != n || (!known && n != 0) {
				changed[r.ID] = n
			}
			a.last[r.ID] = n
			after = r.Seq
		}
		if !more || len(list) == 0 {
			break
		}
	}
	for id := range a.last {
		if !seen[id] {
			delete(a.last, id)
		}
	}
	var out [][]byte
	ev := OnlineEvent{Event: "online", Online: map[string]int{}}
	flush := func() {
		b, _ := json.Marshal(ev) // plain data: cannot fail
		out = append(out, b)
		ev.Online = map[string]int{}
	}
	for id, n := range changed {
		ev.Online[id] = n
		if len(ev.Online) == a.opts.PerEvent {
			flush()
		}
	}
	if len(ev.Online) > 0 {
		flush()
	}
	return out
}

// Start starts the goroutine that ticks and publishes until Close.
func (a *OnlineAnnouncer) Start() {
	// this goroutine owns the ticker; Tick's state is under a.mu
	go func() {
		defer close(a.done)
		t := time.NewTicker(a.opts.Interval)
		defer t.Stop()
		for {
			select {
			case <-a.stop:
				return
			case <-t.C:
				for _, b := range a.Tick() {
					a.opts.Publish(b)
				}
			}
		}
	}()
}

// Close stops the goroutine Start started and waits for it; it is
// idempotent and must only be called after Start.
func (a *OnlineAnnouncer) Close() {
	a.once.Do(func() { close(a.stop) })
	<-a.done
}
