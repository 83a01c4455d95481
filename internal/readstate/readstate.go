// Package readstate keeps read positions: for each user and room, the
// offset of the last message the user has read there. Every replica holds
// all of them in memory and agrees on them through one log in the broker
// (on RabbitMQ the stream chatrelay.reads), which is what keeps them
// across restarts of every replica.
//
// A position only moves forward. Set changes the replica's map at once
// and queues the change; a flush (Options.Flush) appends every change
// queued since the last one as one record, so the log takes at most one
// record per flush per replica whatever the number of readers, and a user
// who reads ten messages in a second costs one position. The writer reads
// its record back before it calls Options.Stored (a broker's receipt is
// no proof of storage); a record not read back in time is appended again
// with whatever changed meanwhile. Every replica's tail applies every
// record, taking the greater offset, so the order of records never
// matters.
//
// The log is bounded by snapshots: records holding every position a
// replica knows, taken every Options.SnapshotEvery. A replica that starts
// reads the log from a while before its start (twice the snapshot
// interval) and keeps what it read when a complete snapshot there covers
// everything older; otherwise it reads the whole log. So the log may lose
// old records to retention once newer snapshots hold them.
//
// Positions are kept per room creation (rooms.Room.Seq): a room deleted
// and created again with the same id (direct rooms are) starts unread.
package readstate

import (
	"encoding/json"
	"errors"
	"sync"
	"time"

	"chatrelay/internal/rooms/feed"
)

// Defaults of Options.
const (
	DefaultFlush          = 500 * time.Millisecond
	DefaultConfirmTimeout = 5 * time.Second
	DefaultSnapshotEvery  = 10 * time.Minute
	DefaultSnapshotPart   = 2000
	DefaultMaxPositions   = 1_000_000
	DefaultStartTimeout   = 30 * time.Second
)

// ErrFull refuses a position for a new user and room once the replica
// holds Options.MaxPositions.
var ErrFull = errors.New("readstate: too many read positions")

// ErrInvalid refuses a negative offset or an empty user or room.
var ErrInvalid = errors.New("readstate: invalid read position")

// Position is one user's read position in one room: Seq names the room's
// creation (rooms.Room.Seq), Offset the last message read.
type Position struct {
	Room   string `json:"r"`
	Seq    int64  `json:"s"`
	User   string `json:"u"`
	Offset int64  `json:"o"`
}

// record is one entry of the log: a batch of positions one replica
// flushed (ID, which it reads back), or one part of a snapshot (Snapshot,
// Part of Parts) holding every position its writer had applied from the
// log up to Through.
type record struct {
	ID        string     `json:"id,omitempty"`
	Snapshot  string     `json:"snapshot,omitempty"`
	Part      int        `json:"part,omitempty"`
	Parts     int        `json:"parts,omitempty"`
	Through   int64      `json:"through,omitempty"`
	Positions []Position `json:"p"`
}

// Log is the broker side: one append-only log that every replica reads
// whole, in one order (rabbitstore.ReadLog, or MemLog in embedded mode).
type Log interface {
	// Append adds body to the log. Its success proves nothing: the
	// Service reads its records back.
	Append(body []byte) error
	// Follow passes the log's records to sink, in order, from the
	// first record above after (after >= 0), or else from about since
	// (records older than since may come too), or else (since zero)
	// from the first record; then Synced once every record in the log
	// when Follow was called has been passed; then live, until stop.
	// A record's Marker, when set, makes it no record of the Service.
	Follow(after int64, since time.Time, sink feed.Sink) (stop func(), err error)
}

// Stored says which positions a flush stored: the server tells the rooms'
// and users' sessions (topics). It runs on the Service's goroutine.
type Stored func(positions []Position)

// Options configure a Service. Zero values take defaults.
type Options struct {
	// Log is the broker's log of positions (required).
	Log Log
	// Stored is told of every position this replica stored (optional).
	Stored Stored
	// Current reports a room's current creation (rooms.Room.Seq) and
	// whether the room exists; snapshots leave out the positions of
	// rooms that no longer exist (required).
	Current func(room string) (seq int64, ok bool)
	// Flush is the time between two appends of queued changes.
	Flush time.Duration
	// ConfirmTimeout is how long a flush waits to read its record back
	// before it appends its positions again.
	ConfirmTimeout time.Duration
	// SnapshotEvery is the time between two snapshots of a replica.
	SnapshotEvery time.Duration
	// SnapshotPart bounds the positions in one snapshot record.
	SnapshotPart int
	// MaxPositions bounds the positions a replica admits from its
	// clients (the log's records are applied whatever their number).
	MaxPositions int
	// StartTimeout bounds Start's wait for the log.
	StartTimeout time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
}

// withDefaults fills unset options.
func (o Options) withDefaults() Options {
	if o.Flush <= 0 {
		o.Flush = DefaultFlush
	}
	if o.ConfirmTimeout <= 0 {
		o.ConfirmTimeout = DefaultConfirmTimeout
	}
	if o.SnapshotEvery <= 0 {
		o.SnapshotEvery = DefaultSnapshotEvery
	}
	if o.SnapshotPart <= 0 {
		o.SnapshotPart = DefaultSnapshotPart
	}
	if o.MaxPositions <= 0 {
		o.MaxPositions = DefaultMaxPositions
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// roomKey names one creation of a room in the maps.
type roomKey struct {
	room string
	seq  int64
}

// userKey names one user's position in one creation of a room.
type userKey struct {
	roomKey
	user string
}

// Service holds the replica's read positions and keeps them in the log.
type Service struct {
	opts Options

	mu    sync.Mutex
	rooms map[roomKey]map[string]int64 // every position applied or set
	count int                          // positions in rooms
	// pending holds the positions set here and not yet flushed
	pending map[userKey]int64
	// applied is the offset of the last log record applied (-1: none)
	applied int64
	// waiting is the id of the flushed record not yet read back, and
	// confirmed is signalled when it is
	waiting   string
	confirmed chan struct{}
	// lastSnapshot is when a complete snapshot was last applied or written
	lastSnapshot time.Time
	// snapshots collects the parts of each snapshot seen while starting
	snapshots map[string]*snapshotSeen
	// firstApplied is the offset of the first record applied (-1: none)
	firstApplied int64

	tailFailed chan error
	// restarted is signalled when the log was made anew
	restarted chan struct{}
	stop      chan struct{}
	done      chan struct{}
	stopTail  func()
	started   bool
}

// snapshotSeen is what Start saw of one snapshot.
type snapshotSeen struct {
	parts   map[int]bool
	of      int
	through int64
}

// New returns a Service; Start loads the positions from the log.
func New(opts Options) *Service {
	return &Service{
		opts:         opts.withDefaults(),
		rooms:        make(map[roomKey]map[string]int64),
		pending:      make(map[userKey]int64),
		applied:      -1,
		firstApplied: -1,
		confirmed:    make(chan struct{}, 1),
		snapshots:    make(map[string]*snapshotSeen),
		tailFailed:   make(chan error, 1),
		restarted:    make(chan struct{}, 1),
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
		stopTail:     func() {},
	}
}

// Set moves user's position in the room (id, creation seq) to offset, if
// that is forward. It reports whether it moved; ErrFull when the user had
// no position there and the replica holds Options.MaxPositions.
func (s *Service) Set(room string, seq int64, user string, offset int64) (bool, error) {
	if room == "" || user == "" || offset < 0 {
		return false, ErrInvalid
	}
	k := roomKey{room, seq}
	s.mu.Lock()
	defer s.mu.Unlock()
	users := s.rooms[k]
	cur, had := users[user]
	if had && cur >= offset {
		return false, nil
	}
	if !had && s.count >= s.opts.MaxPositions {
		return false, ErrFull
	}
	s.setLocked(k, user, offset)
	s.pending[userKey{k, user}] = offset
	return true, nil
}

// setLocked raises a position (the caller checked it is higher).
func (s *Service) setLocked(k roomKey, user string, offset int64) {
	users := s.rooms[k]
	if users == nil {
		users = make(map[string]int64)
		s.rooms[k] = users
	}
	if _, had := users[user]; !had {
		s.count++
	}
	users[user] = offset
}

// Position returns user's position in the room's creation seq; ok is
// false when the user has read nothing there.
func (s *Service) Position(room string, seq int64, user string) (offset int64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	offset, ok = s.rooms[roomKey{room, seq}][user]
	return offset, ok
}

// Positions returns a copy of every user's position in the room's
// creation seq.
func (s *Service) Positions(room string, seq int64) map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	users := s.rooms[roomKey{room, seq}]
	out := make(map[string]int64, len(users))
	for u, o := range users {
		out[u] = o
	}
	return out
}

// Count returns the number of positions the replica holds.
func (s *Service) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Record applies one record of the log (feed.Sink); it runs on the log's
// goroutine.
func (s *Service) Record(r feed.Record) {
	if r.Marker != "" {
		return
	}
	var rec record
	if err := json.Unmarshal(r.Body, &rec); err != nil {
		return // not ours: a log record nobody can use
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Offset <= s.applied {
		return
	}
	s.applied = r.Offset
	if s.firstApplied < 0 {
		s.firstApplied = r.Offset
	}
	for _, p := range rec.Positions {
		if p.Room == "" || p.User == "" || p.Offset < 0 {
			continue
		}
		k := roomKey{p.Room, p.Seq}
		if cur, had := s.rooms[k][p.User]; !had || cur < p.Offset {
			s.setLocked(k, p.User, p.Offset)
		}
	}
	switch {
	case rec.ID != "" && rec.ID == s.waiting:
		s.waiting = ""
		select {
		case s.confirmed <- struct{}{}:
		default:
		}
	case rec.Snapshot != "" && rec.Parts > 0:
		seen := s.snapshots[rec.Snapshot]
		if seen == nil {
			if len(s.snapshots) >= maxSnapshotsSeen {
				clear(s.snapshots)
			}
			seen = &snapshotSeen{parts: make(map[int]bool), of: rec.Parts, through: rec.Through}
			s.snapshots[rec.Snapshot] = seen
		}
		seen.parts[rec.Part] = true
		if len(seen.parts) == seen.of {
			s.lastSnapshot = s.opts.Now()
		}
	}
}

// maxSnapshotsSeen bounds the snapshots Record keeps track of.
const maxSnapshotsSeen = 64

// Synced is the log's feed.Sink: Start waits on it (see loop.go).
func (s *Service) Synced() {}

// Failed is the log's feed.Sink: the tail ended; the Service's goroutine
// follows the log again.
func (s *Service) Failed(err error) {
	select {
	case s.tailFailed <- err:
	default:
	}
}

// covered reports whether a complete snapshot seen covers every record
// below the first one applied.
func (s *Service) covered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.firstApplied == 0:
		return true // read from the log's very start
	case s.firstApplied < 0:
		return false // nothing in the window: older records may be there
	}
	for _, seen := range s.snapshots {
		if len(seen.parts) == seen.of && seen.through >= s.firstApplied-1 {
			return true
		}
	}
	return false
}
