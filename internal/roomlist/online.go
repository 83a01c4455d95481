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
	// Rooms finds rooms by id (a rooms.Store is one); private rooms and
	// rooms it does not know are never announced.
	Rooms rooms.Getter
	// Occupied returns the rooms someone is online in, with how many
	// (presence's Occupied): a room missing from it has nobody online.
	Occupied func() map[string]int
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
// same change, and a page keeps the latest count it got. A tick costs
// in proportion to the rooms with someone online (now or at the previous
// tick), never to all rooms: a registry of 100,000 mostly idle rooms
// costs it nothing.
type OnlineAnnouncer struct {
	opts OnlineOptions
	last map[string]int // room id → count last announced, rooms announced non-zero only; under mu
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

// Tick compares the count of every public room someone is online in, or
// was at the last announcement, with the one last announced, and returns
// the events to publish (none when nothing changed). A room nobody was
// announced in needs no event while nobody is online in it (the room
// list already says 0); a room that went private or is gone is forgotten
// without one.
func (a *OnlineAnnouncer) Tick() [][]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.opts.Occupied()
	changed := map[string]int{}
	check := func(id string) {
		if r, ok := a.opts.Rooms.Get(id); !ok || r.Private {
			delete(a.last, id)
			return
		}
		n := now[id]
		if old, known := a.last[id]; old != n || (!known && n != 0) {
			changed[id] = n
		}
		if n == 0 {
			delete(a.last, id)
		} else {
			a.last[id] = n
		}
	}
	for id := range now {
		check(id)
	}
	for id := range a.last {
		if _, seen := now[id]; !seen {
			check(id)
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
