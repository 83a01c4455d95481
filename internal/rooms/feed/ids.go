package feed

import "time"

// Duplicates. A room message is published at least once: a sender that
// sees no proof of storage publishes the same message (same id) again,
// and the relay sends an unreceipted SEND again after a reconnect. The
// log may therefore hold one message twice. A feed delivers each message
// id once: the first record of an id it sees wins, later ones are skipped
// in live delivery, in the ring, in catch-up and in history.
//
// Memory is bounded: a feed remembers the ids of its ring plus as many
// ids evicted from it (recentIDs), and beyond that every id evicted less
// than recentKeep ago, up to maxRecentIDs: a republish follows its
// original within the confirmation timeout, however many messages a
// burst puts between them. Two records of one id further apart than that
// are both delivered; a read of the log below what the feed remembers
// (old history) drops the later of two records it reads itself.

// minRecentIDs is the least number of evicted ids a feed remembers.
const minRecentIDs = 256

// recentKeep is how long a feed remembers an id evicted from its ring
// even past recentIDs: three times rooms.confirm.timeout's default, after
// which a sender no longer publishes a copy.
const recentKeep = 30 * time.Second

// maxRecentIDs bounds the evicted ids a feed remembers in all: a burst of
// more than this within recentKeep forgets the oldest early.
const maxRecentIDs = 1 << 14

// recentIDs is how many ids evicted from a ring of size buffer a feed
// remembers: as many as the ring holds, at least minRecentIDs.
func recentIDs(buffer int) int { return max(buffer, minRecentIDs) }

// idIndex maps the message ids a feed delivers to the offset of the
// record it delivers for each: every id in the ring, plus the newest ids
// evicted from it. Guarded by its feed's mutex.
type idIndex struct {
	ring   map[string]int64 // ids of the ring's entries
	recent idWindow         // ids evicted from the ring
}

// newIDIndex returns an empty index remembering recent evicted ids: the
// newest recent of them, and those evicted less than recentKeep ago.
func newIDIndex(recent int) idIndex {
	w := newIDWindow(recent)
	w.keep, w.limit, w.now = recentKeep, max(recent, maxRecentIDs), time.Now
	return idIndex{ring: make(map[string]int64), recent: w}
}

// lookup returns the offset the feed delivers id at.
func (x *idIndex) lookup(id string) (int64, bool) {
	if off, ok := x.ring[id]; ok {
		return off, true
	}
	return x.recent.get(id)
}

// other reports whether the record of id at off is not the one the feed
// delivers: the feed knows id at another offset.
func (x *idIndex) other(id string, off int64) bool {
	if id == "" {
		return false
	}
	known, ok := x.lookup(id)
	return ok && known != off
}

// known reports whether the feed delivers id at some offset.
func (x *idIndex) known(id string) bool {
	if id == "" {
		return false
	}
	_, ok := x.lookup(id)
	return ok
}

// added records that e entered the ring.
func (x *idIndex) added(e *entry) {
	if e.msg.ID != "" {
		x.ring[e.msg.ID] = e.msg.Offset
	}
}

// evicted records that e left the ring: its id stays known among the
// recent ones.
func (x *idIndex) evicted(e *entry) {
	if e.msg.ID == "" {
		return
	}
	if off, ok := x.ring[e.msg.ID]; ok && off == e.msg.Offset {
		delete(x.ring, e.msg.ID)
	}
	x.recent.add(e.msg.ID, e.msg.Offset)
}

// idWindow is a set of the newest ids added to it, each with an offset:
// size of them, and with keep set, also those added less than keep ago,
// limit in all; the oldest added leaves first.
type idWindow struct {
	size  int
	keep  time.Duration    // 0: size alone bounds the window
	limit int              // with keep: the most ids, however young
	now   func() time.Time // with keep: the clock
	at    map[string]int64
	order []idAt // oldest first from head
	head  int
}

// idAt is one id of an idWindow with its offset and when it was added.
type idAt struct {
	id    string
	off   int64
	added time.Time
}

// newIDWindow returns an empty window of size ids (size >= 1).
func newIDWindow(size int) idWindow {
	size = max(size, 1)
	return idWindow{size: size, limit: size, at: make(map[string]int64)}
}

// get returns id's offset.
func (w *idWindow) get(id string) (int64, bool) {
	off, ok := w.at[id]
	return off, ok
}

// has reports whether id is in the window.
func (w *idWindow) has(id string) bool {
	_, ok := w.at[id]
	return ok
}

// add puts id at off into the window, dropping the oldest id when full.
// An id already in the window keeps its first offset.
func (w *idWindow) add(id string, off int64) {
	if _, ok := w.at[id]; ok {
		return
	}
	var now time.Time
	if w.keep > 0 {
		now = w.now()
	}
	w.at[id] = off
	w.order = append(w.order, idAt{id, off, now})
	for n := len(w.order) - w.head; n > w.limit || n > w.size && (w.keep == 0 || now.Sub(w.order[w.head].added) > w.keep); n-- {
		old := w.order[w.head]
		w.order[w.head] = idAt{}
		w.head++
		delete(w.at, old.id)
	}
	if w.head > 64 && w.head > len(w.order)/2 {
		w.order = append(make([]idAt, 0, len(w.order)-w.head+w.size/4), w.order[w.head:]...)
		w.head = 0
	}
}

// catchupIDs bounds the ids one catch-up or history read remembers to
// drop duplicates among the records it reads from the log itself.
const catchupIDs = 4096
