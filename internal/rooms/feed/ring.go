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
// free space. Its storage grows with what it holds, up to size entries, so
// a quiet room costs little however large the bound. Guarded by its feed's
// mutex.
type ring struct {
	buf   []entry // storage: len(buf) <= size, the oldest at head
	size  int     // how many entries the ring holds at most
	head  int     // index of the oldest entry
	count int
}

// minRingStorage is the storage a ring first allocates.
const minRingStorage = 16

// newRing returns an empty ring holding at most size entries.
func newRing(size int) ring {
	return ring{size: size}
}

// len returns the number of entries.
func (r *ring) len() int { return r.count }

// free returns how many entries fit before pushBack starts evicting.
func (r *ring) free() int { return r.size - r.count }

// at returns the i-th oldest entry, 0 <= i < len.
func (r *ring) at(i int) *entry {
	return &r.buf[(r.head+i)%len(r.buf)]
}

// grow makes room for one more entry when the storage is full but the
// ring is not: the entries move, oldest first, to storage twice as large
// (at most size).
func (r *ring) grow() {
	if r.count < len(r.buf) || len(r.buf) == r.size {
		return
	}
	buf := make([]entry, min(max(2*len(r.buf), minRingStorage), r.size))
	for i := 0; i < r.count; i++ {
		buf[i] = *r.at(i)
	}
	r.buf, r.head = buf, 0
}

// pushBack appends the newest entry. When the ring was full it evicts the
// oldest one and returns it with true.
func (r *ring) pushBack(e entry) (evicted entry, ok bool) {
	if r.size <= 0 {
		return e, true
	}
	r.grow()
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
	if r.count >= r.size {
		return false
	}
	r.grow()
	r.head = (r.head - 1 + len(r.buf)) % len(r.buf)
	r.buf[r.head] = e
	r.count++
	return true
}

// copyFrom appends to dst copies of up to n entries from the i-th oldest
// on, oldest first, and returns it.
func (r *ring) copyFrom(i int, dst []entry, n int) []entry {
	for ; i < r.count && n > 0; i, n = i+1, n-1 {
		dst = append(dst, *r.at(i))
	}
	return dst
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
