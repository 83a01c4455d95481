package rabbitstore

import (
	"crypto/sha256"
	"encoding/json"
	"log/slog"
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
	// eventModerated applies the event's Change to a room's roles and
	// sanctions (rooms.Room.Apply); only the Room's ID counts.
	eventModerated = "moderated"
	// eventOpened says that a lazy room's stream now exists (declared
	// and bound before the event was published); only the Room's ID
	// counts, and the event's Stream must be the room's.
	eventOpened = "opened"
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
	// Stream is the created room's stream; events written before
	// stream names carried the room's name have none (the room's
	// stream is then rooms.StreamName).
	Stream string `json:"stream,omitempty"`
	// Lazy marks a created room whose stream is not declared yet: its
	// first Open declares it and publishes an opened event (lazy.go).
	// Rooms created by versions before lazy streams have none: their
	// stream exists.
	Lazy bool `json:"lazy,omitempty"`
	// Epoch is the stream epoch an opened, closing, aborted or
	// archived event is about (epoch.go); 0 is the room's first stream.
	Epoch int `json:"epoch,omitempty"`
	// Closer is the ID of the closing event an aborted or archived
	// event ends.
	Closer string `json:"closer,omitempty"`
	// Base is, in an archived event, the room offset the next epoch's
	// stream starts at.
	Base int64 `json:"base,omitempty"`
	// Records are an archived event's messages, oldest first.
	Records []archivedRecord `json:"records,omitempty"`
	// Message and Body are a posted event's message id and message
	// (resident.go); Max and MaxBytes the bounds its room must stay
	// within, and From the posting store (Store.self).
	Message  string          `json:"message,omitempty"`
	Body     json.RawMessage `json:"body,omitempty"`
	Max      int             `json:"max,omitempty"`
	MaxBytes int             `json:"maxBytes,omitempty"`
	From     string          `json:"from,omitempty"`
	// Change is a moderated event's change.
	Change *rooms.Change `json:"change,omitempty"`
}

// registry is this replica's view of the rooms: the registry stream
// applied in stream order, the same order on every replica, so every
// replica takes the same decisions (the first "created" of a name wins).
// The registry tail (regtail.go) feeds it; a record at or below the
// highest offset applied is skipped, so a tail restarted from an earlier
// offset applies nothing twice; an event whose id was applied among the
// last recentEvents (a publisher's republish) is skipped too.
type registry struct {
	log       *slog.Logger
	onDeleted func(roomID string) // runs on the tail's goroutine
	// onCreated, when set, runs on the tail's goroutine for each created
	// event the served view applied (a room id may be used again)
	onCreated func(roomID string)
	// onClosing, when set, runs on the tail's goroutine for each closing
	// event the served view applied
	onClosing func(roomID string)
	// self and onFilled: when set, onFilled runs on the tail's goroutine
	// for each posted event from self that the served view applied and
	// that filled its room (resident.go)
	self     string
	onFilled func(roomID string)

	mu sync.Mutex
	// changes holds a channel per room someone waits on, closed when
	// the room's stream lifecycle changes (an opened, closing, aborted,
	// archived or deleted event) in the served view, or when a replay's
	// view is served; waiters look again at the room's state
	changes map[string]chan struct{}
	cur     *view // what the replica serves
	// next is the view a replay builds (nil: none); it replaces cur
	// once the replay is synced
	next *view
	// waiters holds, by event id or marker nonce, the channel that gets
	// what applying the event decided (nil for a marker read by the
	// served view: syncRegistry)
	waiters map[string]chan<- error
	synced  chan struct{} // closed once the replay reached our start marker
}

// view is the registry stream applied up to an offset.
type view struct {
	last      int64       // highest offset applied
	lastPrint recordPrint // of the record at last
	events    int         // events taken (markers and skipped records not counted)
	rooms     map[string]rooms.Room
	// unopened holds the lazy rooms whose opened event has not been
	// applied: they have no stream yet
	unopened map[string]struct{}
	// lives holds the lifecycle of rooms closed at least once
	// (epoch.go); a room without one is on its first stream
	lives map[string]*life
	names map[string]string // folded name → room id
	// owners and origins count the rooms by CreatedBy and by Origin
	// (not ""), for the creation limiter (Store.CountRooms)
	owners, origins map[string]int
	// directs counts the direct rooms, directOwners them by CreatedBy
	// (owners and origins count the other rooms only)
	directs                     int
	directOwners, directOrigins map[string]int
	order                       []string // room ids, in creation order
	// recent holds the ids of the last recentEvents events applied,
	// oldest first in recentOrder
	recent      map[string]struct{}
	recentOrder []string
}

// recentEvents is how many event ids a view remembers to skip a
// republished event: far more than are published while one publisher
// waits, and the same on every replica, so all skip the same records.
const recentEvents = 4096

// repeated reports whether an event with id was applied before, and
// remembers id otherwise. Caller holds g.mu.
func (v *view) repeated(id string) bool {
	if id == "" {
		return false
	}
	if _, ok := v.recent[id]; ok {
		return true
	}
	if len(v.recentOrder) == recentEvents {
		delete(v.recent, v.recentOrder[0])
		v.recentOrder = v.recentOrder[1:]
	}
	v.recent[id] = struct{}{}
	v.recentOrder = append(v.recentOrder, id)
	return false
}

func newView() *view {
	return &view{last: -1, rooms: make(map[string]rooms.Room), unopened: make(map[string]struct{}),
		lives: make(map[string]*life), names: make(map[string]string), recent: make(map[string]struct{}),
		owners: make(map[string]int), origins: make(map[string]int), directOwners: make(map[string]int), directOrigins: make(map[string]int)}
}

func newRegistry(log *slog.Logger, onDeleted func(string)) *registry {
	return &registry{
		log:       log,
		onDeleted: onDeleted,
		changes:   make(map[string]chan struct{}),
		cur:       newView(),
		waiters:   make(map[string]chan<- error),
		synced:    make(chan struct{}),
	}
}

// fed is the view records go to. Caller holds g.mu.
func (g *registry) fed() *view {
	if g.next != nil {
		return g.next
	}
	return g.cur
}

// Record applies one registry record.
func (g *registry) Record(r feed.Record) {
	g.mu.Lock()
	v := g.fed()
	if r.Offset <= v.last {
		g.mu.Unlock()
		return
	}
	v.last, v.lastPrint = r.Offset, printOf(r)
	if r.Marker != "" {
		if ch := g.waiters[r.Marker]; ch != nil && v == g.cur {
			delete(g.waiters, r.Marker)
			ch <- nil
		}
		g.mu.Unlock()
		return
	}
	var ev event
	if err := json.Unmarshal(r.Body, &ev); err != nil {
		v.events++
		g.mu.Unlock()
		g.log.Warn("rooms: skipping an unreadable registry event", "offset", r.Offset, "err", err)
		return
	}
	if v.repeated(ev.ID) {
		g.mu.Unlock()
		g.log.Debug("rooms: skipping a registry event applied before", "offset", r.Offset, "id", ev.ID)
		return
	}
	v.events++
	result := v.apply(ev, r.Offset, g.log)
	filled := ev.Event == eventPosted && result == nil && g.onFilled != nil && ev.From == g.self && v.fullAfter(ev)
	// waiters follow the served view: one being built by a replay may
	// still delete the room (Synced wakes every waiter when served)
	if ev.Event != eventCreated && ev.Event != eventMembers && ev.Event != eventModerated && result == nil && v == g.cur {
		if ch := g.changes[ev.Room.ID]; ch != nil {
			delete(g.changes, ev.Room.ID)
			close(ch)
		}
	}
	if ch := g.waiters[ev.ID]; ch != nil && ev.ID != "" {
		delete(g.waiters, ev.ID)
		ch <- result
	}
	served := v == g.cur
	g.mu.Unlock()
	if ev.Event == eventDeleted && result == nil && served {
		g.onDeleted(ev.Room.ID)
	}
	if ev.Event == eventCreated && result == nil && served && g.onCreated != nil {
		g.onCreated(ev.Room.ID)
	}
	if ev.Event == eventClosing && result == nil && served && g.onClosing != nil {
		g.onClosing(ev.Room.ID)
	}
	if filled && served {
		g.onFilled(ev.Room.ID)
	}
}

// apply changes the view for ev, found at offset, and returns what its
// publisher is told. A created room's Seq is its offset + 1 (never 0).
func (v *view) apply(ev event, offset int64, log *slog.Logger) error {
	id := ev.Room.ID
	switch ev.Event {
	case eventCreated:
		if !rooms.ValidID(id) || ev.Stream != "" && !validStream(id, ev.Stream) {
			return rooms.ErrInvalid
		}
		if _, ok := v.rooms[id]; ok {
			return rooms.ErrDuplicateID
		}
		switch {
		case ev.Room.Direct && !ev.Room.ValidDirect(), !ev.Room.Direct && rooms.IsDirectID(id):
			return rooms.ErrInvalid
		case !ev.Room.Direct && v.nameTaken(ev.Room.Name):
			return rooms.ErrDuplicateName
		}
		room := ev.Room
		room.Seq, room.Origin = offset+1, ev.Origin
		room.Stream = streamOf(rooms.Room{ID: id, Stream: ev.Stream})
		v.rooms[id] = room
		v.order = append(v.order, id)
		if room.Direct {
			// direct rooms have no name to reserve and limits of their own
			v.directs++
			v.directOwners[room.CreatedBy]++
			if room.Origin != "" {
				v.directOrigins[room.Origin]++
			}
		} else {
			v.names[rooms.NameKey(room.Name)] = id
			v.owners[room.CreatedBy]++
			if room.Origin != "" {
				v.origins[room.Origin]++
			}
		}
		if ev.Lazy {
			v.unopened[id] = struct{}{}
		}
		return nil
	case eventOpened:
		return v.applyOpened(ev)
	case eventPosted:
		return v.applyPosted(ev)
	case eventClosing:
		return v.applyClosing(ev)
	case eventAborted, eventArchived:
		return v.applyClosed(ev)
	case eventMembers:
		r, ok := v.rooms[id]
		if !ok {
			return rooms.ErrNotFound
		}
		if !r.Private || r.Direct {
			return rooms.ErrInvalid
		}
		members, ok := rooms.CleanMembers(r.Owner(), ev.Room.Members)
		if !ok {
			return rooms.ErrInvalid
		}
		r.Members = members
		v.rooms[id] = r
		return nil
	case eventModerated:
		r, ok := v.rooms[id]
		if !ok {
			return rooms.ErrNotFound
		}
		if ev.Change == nil {
			return rooms.ErrInvalid
		}
		r, err := r.Apply(*ev.Change)
		if err != nil {
			return err
		}
		v.rooms[id] = r
		return nil
	case eventDeleted:
		r, ok := v.rooms[id]
		if !ok {
			return rooms.ErrNotFound
		}
		delete(v.rooms, id)
		delete(v.unopened, id)
		delete(v.lives, id)
		if r.Direct {
			v.directs--
			uncount(v.directOwners, r.CreatedBy)
			if r.Origin != "" {
				uncount(v.directOrigins, r.Origin)
			}
		} else {
			uncount(v.owners, r.CreatedBy)
			if r.Origin != "" {
				uncount(v.origins, r.Origin)
			}
			delete(v.names, rooms.NameKey(r.Name))
		}
		for i, x := range v.order {
			if x == id {
				v.order = append(v.order[:i:i], v.order[i+1:]...)
				break
			}
		}
		return nil
	}
	log.Warn("rooms: skipping a registry event of unknown kind", "event", ev.Event)
	return rooms.ErrInvalid
}

// uncount counts one less for key, forgetting it at zero.
func uncount(m map[string]int, key string) {
	if m[key] <= 1 {
		delete(m, key)
		return
	}
	m[key]--
}

// count returns the served view's room count and the counts by owner and
// origin ("" counts none).
func (g *registry) count(user, origin string) (total, byUser, byOrigin int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	v := g.cur
	if user != "" {
		byUser = v.owners[user]
	}
	if origin != "" {
		byOrigin = v.origins[origin]
	}
	return len(v.order) - v.directs, byUser, byOrigin
}

// countDirect returns the served view's direct room count and the counts
// of those user started and of those started from origin.
func (g *registry) countDirect(user, origin string) (total, byUser, byOrigin int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	v := g.cur
	if user != "" {
		byUser = v.directOwners[user]
	}
	if origin != "" {
		byOrigin = v.directOrigins[origin]
	}
	return v.directs, byUser, byOrigin
}

// nameTaken reports whether a room's name has the same rooms.NameKey as
// name.
func (v *view) nameTaken(name string) bool {
	_, ok := v.names[rooms.NameKey(name)]
	return ok
}

// Synced marks the replay complete. A replay that was building a new
// view (beginReplay) is, too: the new view is served from now on, and the
// rooms it no longer has are deleted.
func (g *registry) Synced() {
	g.mu.Lock()
	select {
	case <-g.synced:
	default:
		close(g.synced)
	}
	var gone []string
	if g.next != nil {
		for _, id := range g.cur.order {
			if _, ok := g.next.rooms[id]; !ok {
				gone = append(gone, id)
			}
		}
		g.cur, g.next = g.next, nil
		// what the replay changed was not told while the old view was
		// served: every waiter looks again now (a room the replay no
		// longer has is gone; its feed is dropped below)
		for id, ch := range g.changes {
			delete(g.changes, id)
			close(ch)
		}
	}
	g.mu.Unlock()
	for _, id := range gone {
		g.onDeleted(id)
	}
}

// lastRecord returns the highest offset applied to the view records go
// to (-1: none) and the print of the record there.
func (g *registry) lastRecord() (int64, recordPrint) {
	g.mu.Lock()
	defer g.mu.Unlock()
	v := g.fed()
	return v.last, v.lastPrint
}

// taken returns how many events the served view took: one per event in
// the stream, when none was missed or taken twice.
func (g *registry) taken() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cur.events
}

// beginReplay starts building a new view from the registry stream's first
// offset; the current one is served until it is synced. Waiters keep
// waiting: their events may be in the stream replayed.
func (g *registry) beginReplay() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.next = newView()
}

// recordPrint tells apart two records found at one offset.
type recordPrint [sha256.Size]byte

// printOf returns r's print: of its marker and body.
func printOf(r feed.Record) recordPrint {
	h := sha256.New()
	h.Write([]byte(r.Marker))
	h.Write([]byte{0})
	h.Write(r.Body)
	var p recordPrint
	h.Sum(p[:0])
	return p
}

// wait registers a waiter for the event with id, or for the marker with
// that nonce; cancel forgets it.
func (g *registry) wait(id string) (result <-chan error, cancel func()) {
	ch := make(chan error, 1)
	g.mu.Lock()
	g.waiters[id] = ch
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
	r, ok := g.cur.rooms[id]
	return r, ok
}

// state returns the room's state in the served view; with wait set, also
// a channel closed at the room's next lifecycle change (or when a
// replay's view is served), after which the caller looks again.
func (g *registry) state(id string, wait bool) (roomState, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.cur.state(id)
	if !wait || !st.exists {
		return st, nil
	}
	return st, g.changed(id)
}

// changed returns the channel closed at the room's next lifecycle change.
// Caller holds g.mu.
func (g *registry) changed(id string) <-chan struct{} {
	ch := g.changes[id]
	if ch == nil {
		ch = make(chan struct{})
		g.changes[id] = ch
	}
	return ch
}

// opening returns the room's state for Open, and for a closing room a
// channel closed at its next change: as state, except that while a replay
// builds a new view (beginReplay), a room that view has, or has an open
// stream in, counts too, so that rooms created or opened during the
// replay take messages.
func (g *registry) opening(id string) (roomState, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.cur.state(id)
	if g.next != nil {
		if n := g.next.state(id); n.exists && (!st.exists || st.stream == "" && n.stream != "" && !n.closing) {
			st = n
		}
	}
	if !st.closing {
		return st, nil // no waiter: a channel per open room would stay until its next change
	}
	return st, g.changed(id)
}

// has reports whether a room is named name, ignoring case.
func (g *registry) has(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cur.nameTaken(name)
}

// page returns a page of rooms in creation order (see rooms.Store).
func (g *registry) page(after int64, limit int, keep func(rooms.Room) bool) ([]rooms.Room, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	v := g.cur
	return rooms.PageOf(len(v.order), func(i int) rooms.Room { return v.rooms[v.order[i]] }, after, limit, keep)
}

// list returns every room in creation order.
func (g *registry) list() []rooms.Room {
	g.mu.Lock()
	defer g.mu.Unlock()
	v := g.cur
	out := make([]rooms.Room, 0, len(v.order))
	for _, id := range v.order {
		out = append(out, v.rooms[id])
	}
	return out
}
