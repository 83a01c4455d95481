package feed

import (
	"bytes"
	"encoding/json"

	"chatrelay/internal/rooms"
)

// entry is one message of the ring: decoded, and encoded once.
type entry struct {
	msg  rooms.Message
	data []byte
}

// decode turns a record into a room message of roomID with the record's
// offset, and its JSON encoding. Markers and bodies that are not a JSON
// object fail.
func decode(roomID string, r Record) (entry, bool) {
	if r.Marker != "" {
		return entry{}, false
	}
	body := bytes.TrimSpace(r.Body)
	if len(body) == 0 || body[0] != '{' {
		return entry{}, false
	}
	var m rooms.Message
	if err := json.Unmarshal(body, &m); err != nil {
		return entry{}, false
	}
	m.RoomID = roomID
	m.Offset = r.Offset
	m.SentAt = m.SentAt.UTC()
	data, err := json.Marshal(m)
	if err != nil {
		return entry{}, false
	}
	return entry{msg: m, data: data}, true
}

// ring is a bounded double-ended queue of the newest messages of a feed,
// oldest first. Pushing at the back evicts the oldest entry when full;
// pushing at the front (older messages read back from the log) only fills
// free space. Guarded by its feed's mutex.
type ring struct {
	buf   []entry
	head  int // index of the oldest entry
	count int
}

// newRing returns an empty ring holding at most size entries.
func newRing(size int) ring {
	return ring{buf: make([]entry, size)}
}

// len returns the number of entries.
func (r *ring) len() int { return r.count }

// free returns how many entries fit before pushBack starts evicting.
func (r *ring) free() int { return len(r.buf) - r.count }

// at returns the i-th oldest entry, 0 <= i < len.
func (r *ring) at(i int) *entry {
	return &r.buf[(r.head+i)%len(r.buf)]
}

// pushBack appends the newest entry. When the ring was full it evicts the
// oldest one and returns it with true.
func (r *ring) pushBack(e entry) (evicted entry, ok bool) {
	if r.count == len(r.buf) {
		evicted = r.buf[r.head]
		r.buf[r.head] = e
		r.head = (r.head + 1) % len(r.buf)
		return evicted, true
	}
	r.buf[(r.head+r.count)%len(r.buf)] = e
	r.count++
	return entry{}, false
}

// pushFront prepends an entry older than every entry held; it reports
// false (and keeps nothing) when the ring is full.
func (r *ring) pushFront(e entry) bool {
	if r.count == len(r.buf) {
		return false
	}
	r.head = (r.head - 1 + len(r.buf)) % len(r.buf)
	r.buf[r.head] = e
	r.count++
	return true
}

// firstAfter returns the index of the oldest entry with an offset greater
// than off (len when there is none).
func (r *ring) firstAfter(off int64) int {
	lo, hi := 0, r.count
	for lo < hi {
		mid := (lo + hi) / 2
		if r.at(mid).msg.Offset > off {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// firstAtOrAfter returns the index of the oldest entry with an offset of
// at least off (len when there is none).
func (r *ring) firstAtOrAfter(off int64) int {
	return r.firstAfter(off - 1)
}
