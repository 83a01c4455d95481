package rabbitstore

import (
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"

	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/feed"
)

// RegistryStream is the stream of room events every replica replays.
const RegistryStream = "chatrelay.rooms"

// Event kinds of the registry stream.
const (
	eventCreated = "created"
	eventDeleted = "deleted"
	// eventMembers replaces a private room's member list; the rest of
	// its Room is ignored.
	eventMembers = "members"
)

// event is one record of the registry stream.
type event struct {
	Event string     `json:"event"`
	Room  rooms.Room `json:"room"`
	At    time.Time  `json:"at"`
	// ID is unique per event: its publisher waits for it.
	ID string `json:"id"`
	// Origin is the created room's Origin (rooms.Room does not encode
	// it: its JSON is what clients see).
	Origin string `json:"origin,omitempty"`
}

// registry is this replica's view of the rooms: the registry stream
// applied in stream order, the same order on every replica, so every
// replica takes the same decisions (the first "created" of a name wins).
// It is the feed.Sink of the registry stream's tail.
type registry struct {
	log       *slog.Logger
	onDeleted func(roomID string) // runs on the tail's goroutine

	mu      sync.Mutex
	last    int64 // highest offset applied
	rooms   map[string]rooms.Room
	names   map[string]string       // folded name → room id
	order   []string                // room ids, in creation order
	waiters map[string]chan<- error // by event id
	synced  chan struct{}           // closed once the replay reached our start marker
	failed  error
}

func newRegistry(log *slog.Logger, onDeleted func(string)) *registry {
	return &registry{
		log:       log,
		onDeleted: onDeleted,
		last:      -1,
		rooms:     make(map[string]rooms.Room),
		names:     make(map[string]string),
		waiters:   make(map[string]chan<- error),
		synced:    make(chan struct{}),
	}
}

// Record applies one registry record.
func (g *registry) Record(r feed.Record) {
	g.mu.Lock()
	if r.Offset <= g.last || r.Marker != "" {
		g.last = max(g.last, r.Offset)
		g.mu.Unlock()
		return
	}
	g.last = r.Offset
	var ev event
	if err := json.Unmarshal(r.Body, &ev); err != nil {
		g.mu.Unlock()
		g.log.Warn("rooms: skipping an unreadable registry event", "offset", r.Offset, "err", err)
		return
	}
	result := g.apply(ev, r.Offset)
	if ch := g.waiters[ev.ID]; ch != nil && ev.ID != "" {
		delete(g.waiters, ev.ID)
		ch <- result
	}
	g.mu.Unlock()
	if ev.Event == eventDeleted && result == nil {
		g.onDeleted(ev.Room.ID)
	}
}

// apply changes the view for ev, found at offset, and returns what its
// publisher is told. A created room's Seq is its offset + 1 (never 0).
// Caller holds g.mu.
func (g *registry) apply(ev event, offset int64) error {
	id := ev.Room.ID
	switch ev.Event {
	case eventCreated:
		if !rooms.ValidID(id) {
			return rooms.ErrInvalid
		}
		if _, ok := g.rooms[id]; ok || g.nameTaken(ev.Room.Name) {
			return rooms.ErrDuplicateName
		}
		room := ev.Room
		room.Seq, room.Origin = offset+1, ev.Origin
		g.rooms[id] = room
		g.names[foldName(room.Name)] = id
		g.order = append(g.order, id)
		return nil
	case eventMembers:
		r, ok := g.rooms[id]
		if !ok {
			return rooms.ErrNotFound
		}
		if !r.Private {
			return rooms.ErrInvalid
		}
		members, ok := rooms.CleanMembers(r.Owner(), ev.Room.Members)
		if !ok {
			return rooms.ErrInvalid
		}
		r.Members = members
		g.rooms[id] = r
		return nil
	case eventDeleted:
		r, ok := g.rooms[id]
		if !ok {
			return rooms.ErrNotFound
		}
		delete(g.rooms, id)
		delete(g.names, foldName(r.Name))
		for i, x := range g.order {
			if x == id {
				g.order = append(g.order[:i:i], g.order[i+1:]...)
				break
			}
		}
		return nil
	}
	g.log.Warn("rooms: skipping a registry event of unknown kind", "event", ev.Event)
	return rooms.ErrInvalid
}

// nameTaken reports whether a room is named name, ignoring case. Caller
// holds g.mu.
func (g *registry) nameTaken(name string) bool {
	_, ok := g.names[foldName(name)]
	return ok
}

// foldName is the form of a room name that duplicates share.
func foldName(name string) string { return strings.ToLower(name) }

// Synced marks the replay complete.
func (g *registry) Synced() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.synced:
	default:
		close(g.synced)
	}
}

// Failed records that the registry tail stopped; the view freezes.
func (g *registry) Failed(err error) {
	g.log.Error("rooms: the registry stream consumer failed; the room list no longer follows other replicas", "err", err)
	g.mu.Lock()
	g.failed = err
	for id, ch := range g.waiters {
		delete(g.waiters, id)
		ch <- err
	}
	g.mu.Unlock()
}

// wait registers a waiter for the event with id; cancel forgets it.
func (g *registry) wait(id string) (result <-chan error, cancel func()) {
	ch := make(chan error, 1)
	g.mu.Lock()
	if g.failed != nil {
		ch <- g.failed
	} else {
		g.waiters[id] = ch
	}
	g.mu.Unlock()
	return ch, func() {
		g.mu.Lock()
		delete(g.waiters, id)
		g.mu.Unlock()
	}
}

// get returns a room.
func (g *registry) get(id string) (rooms.Room, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.rooms[id]
	return r, ok
}

// has reports whether a room is named name, ignoring case.
func (g *registry) has(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.nameTaken(name)
}

// page returns a page of rooms in creation order (see rooms.Store).
func (g *registry) page(after int64, limit int, keep func(rooms.Room) bool) ([]rooms.Room, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return rooms.PageOf(len(g.order), func(i int) rooms.Room { return g.rooms[g.order[i]] }, after, limit, keep)
}

// list returns every room in creation order.
func (g *registry) list() []rooms.Room {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]rooms.Room, 0, len(g.order))
	for _, id := range g.order {
		out = append(out, g.rooms[id])
	}
	return out
}
