package rabbitstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/feed"
)

// A room's stream lifecycle, as the registry orders it. A lazy room has
// no stream until its first opened event (lazy.go). An open room may be
// archived once quiet (archive.go): a closing event fences it, an
// archived event stores its messages in the registry and ends its stream,
// and the next opened event starts a new stream, its next epoch. Every
// lifecycle event names the epoch it is about and is applied only in the
// state it expects (a compare-and-set in registry order), so a stale,
// racing or republished event changes nothing on any replica.
//
// Offsets stay one increasing sequence per room: epoch e's stream offset
// o is room offset base_e + o, and base_{e+1} is past every offset epoch
// e took (markers included), so a follower's cursor and x-resume-after
// mean the same record across epochs. Messages below the current base
// are the archived snapshot's, kept in every replica's registry view.

// More lifecycle event kinds of the registry stream (see eventOpened).
const (
	// eventClosing fences an open room's epoch for archiving: Opens
	// wait until it is archived or aborted. Its ID is the closer that
	// the archived or aborted event must name.
	eventClosing = "closing"
	// eventAborted ends a closing without archiving: the epoch's
	// stream is open again.
	eventAborted = "aborted"
	// eventArchived ends a closing epoch: its stream's messages are in
	// the event's Records, and the next epoch's offsets start at Base.
	eventArchived = "archived"
)

// errStale refuses a lifecycle event whose epoch or state is not the
// room's: another replica's event came first.
var errStale = errors.New("rabbitstore: room lifecycle changed meanwhile")

// lifeState is where a room that has a life entry is in its lifecycle.
type lifeState int

const (
	lifeOpen lifeState = iota
	lifeClosing
	lifeArchived
)

// life is a room's lifecycle beyond its first stream: kept in a view only
// for rooms that have been closed at least once.
type life struct {
	epoch int
	state lifeState
	// base is the room offset of the current epoch's stream offset 0;
	// while archived, the next epoch's
	base int64
	// closer and closingAt are the closing event's ID and time
	closer    string
	closingAt time.Time
	// abortedCloser and abortedAt are the last aborted closing's closer
	// and the aborted event's time: every replica binds the stream once
	// more after an abort (Open), and no archiver tries the room again
	// within ArchiveAfter of it
	abortedCloser string
	abortedAt     time.Time
	// snapshot holds the room's archived messages, oldest first, with
	// their room offsets (all below base)
	snapshot []archivedRecord
}

// archivedRecord is one archived message as the archived event carries
// it: the record's room offset and its body (a chat message).
type archivedRecord struct {
	Offset int64           `json:"offset"`
	Body   json.RawMessage `json:"body"`
	// ID is the message's id, for a message posted to the registry
	// (resident.go); records archived from a stream have none
	ID string `json:"id,omitempty"`
}

// epochStream returns the stream of a room's epoch: the room's first
// stream for epoch 0, room.<slug>.<id>.e<N> after it.
func epochStream(room rooms.Room, epoch int) string {
	if epoch == 0 {
		return streamOf(room)
	}
	return streamOf(room) + ".e" + strconv.Itoa(epoch)
}

// roomState is what a replica knows of a room's stream.
type roomState struct {
	room   rooms.Room
	exists bool
	// stream is the current epoch's stream; "" while there is none (a
	// lazy room not opened yet, or an archived one)
	stream  string
	epoch   int
	base    int64
	closing bool
	// closer and closingAt are the closing event's, while closing
	closer    string
	closingAt time.Time
	// abortedCloser and abortedAt are the last aborted closing's
	abortedCloser string
	abortedAt     time.Time
	// snapshot is the room's archived messages, all below base
	snapshot []archivedRecord
}

// state returns the room's state in v.
func (v *view) state(id string) roomState {
	room, ok := v.rooms[id]
	if !ok {
		return roomState{room: rooms.Room{ID: id}}
	}
	st := roomState{room: room, exists: true}
	if _, lazy := v.unopened[id]; lazy {
		return st
	}
	l := v.lives[id]
	if l == nil {
		st.stream = streamOf(room)
		return st
	}
	st.epoch, st.base, st.snapshot = l.epoch, l.base, l.snapshot
	st.abortedCloser, st.abortedAt = l.abortedCloser, l.abortedAt
	switch l.state {
	case lifeArchived:
		// the next epoch's number is the one an Open declares
		st.epoch++
	case lifeClosing:
		st.closing, st.closer, st.closingAt = true, l.closer, l.closingAt
		fallthrough
	default:
		st.stream = epochStream(room, l.epoch)
	}
	return st
}

// applyOpened applies an opened event: the first stream of a lazy room
// (epoch 0), or the next epoch of an archived one. An opener that lost
// the race to another replica's opened event of the same epoch succeeds
// too (both declared the same stream).
func (v *view) applyOpened(ev event) error {
	id := ev.Room.ID
	r, ok := v.rooms[id]
	if !ok {
		return rooms.ErrNotFound
	}
	if ev.Stream != epochStream(r, ev.Epoch) {
		return rooms.ErrInvalid
	}
	l := v.lives[id]
	if _, lazy := v.unopened[id]; lazy {
		if ev.Epoch != 0 {
			return errStale
		}
		delete(v.unopened, id)
		return nil
	}
	switch {
	case l == nil && ev.Epoch == 0, l != nil && l.epoch == ev.Epoch && l.state != lifeArchived:
		return nil // opened already
	case l != nil && l.state == lifeArchived && ev.Epoch == l.epoch+1:
		l.epoch, l.state = ev.Epoch, lifeOpen
		return nil
	}
	return errStale
}

// applyClosing fences an open room's epoch.
func (v *view) applyClosing(ev event) error {
	id := ev.Room.ID
	if _, ok := v.rooms[id]; !ok {
		return rooms.ErrNotFound
	}
	if _, lazy := v.unopened[id]; lazy {
		return errStale
	}
	l := v.lives[id]
	if l == nil {
		l = &life{}
	}
	if l.epoch != ev.Epoch || l.state != lifeOpen {
		return errStale
	}
	l.state, l.closer, l.closingAt = lifeClosing, ev.ID, ev.At
	v.lives[id] = l
	return nil
}

// applyClosed applies an aborted or an archived event: both end the
// closing their Closer names.
func (v *view) applyClosed(ev event) error {
	id := ev.Room.ID
	if _, ok := v.rooms[id]; !ok {
		return rooms.ErrNotFound
	}
	l := v.lives[id]
	if l == nil || l.state != lifeClosing || l.epoch != ev.Epoch || l.closer != ev.Closer {
		return errStale
	}
	if ev.Event == eventArchived && ev.Base <= l.base {
		return rooms.ErrInvalid // the next epoch must start past this one
	}
	if ev.Event == eventAborted {
		l.state, l.abortedCloser, l.abortedAt = lifeOpen, l.closer, ev.At
		l.closer, l.closingAt = "", time.Time{}
		return nil
	}
	l.closer, l.closingAt = "", time.Time{}
	l.state, l.base, l.snapshot = lifeArchived, ev.Base, ev.Records
	return nil
}

// snapshotRecords returns the snapshot's records with from <= offset <
// to whose messages are younger than maxAge (0: any age), as feed records.
func snapshotRecords(snap []archivedRecord, from, to int64, maxAge time.Duration, now time.Time) []feed.Record {
	var out []feed.Record
	for _, r := range snap {
		if r.Offset < from || r.Offset >= to {
			continue
		}
		if maxAge > 0 && expired(r.Body, now.Add(-maxAge)) {
			continue
		}
		out = append(out, feed.Record{Offset: r.Offset, Body: r.Body})
	}
	return out
}

// expired reports whether a chat message body was sent before cutoff; a
// body without a readable sentAt is kept.
func expired(body []byte, cutoff time.Time) bool {
	at := sentAt(body)
	return !at.IsZero() && at.Before(cutoff)
}

// sentAt returns a chat message body's sentAt (the zero time when it has
// none readable).
func sentAt(body []byte) time.Time {
	var m struct {
		SentAt time.Time `json:"sentAt"`
	}
	if json.Unmarshal(body, &m) != nil {
		return time.Time{}
	}
	return m.SentAt
}

// openRooms returns the state of every room of the served view that has
// an open stream (not closing), for the archiver.
func (g *registry) openRooms() []roomState {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []roomState
	for _, id := range g.cur.order {
		if st := g.cur.state(id); st.stream != "" && !st.closing {
			out = append(out, st)
		}
	}
	return out
}

// parseMaxAge reads a stream's x-max-age ("7D", "24h", "3600s"; Y is 365
// days, M 30) as a duration; "" is 0 (no limit).
func parseMaxAge(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("max age %q: want digits and one of Y, M, D, h, m, s", s)
	}
	unit := map[byte]time.Duration{'Y': 365 * 24 * time.Hour, 'M': 30 * 24 * time.Hour, 'D': 24 * time.Hour,
		'h': time.Hour, 'm': time.Minute, 's': time.Second}[s[len(s)-1]]
	if unit == 0 {
		return 0, fmt.Errorf("max age %q: want digits and one of Y, M, D, h, m, s", s)
	}
	return time.Duration(n) * unit, nil
}
