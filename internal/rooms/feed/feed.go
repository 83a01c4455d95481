// Package feed is the follower core shared by the room stores: per room and
// per replica, ONE upstream consumer of the room's log (its Source), a ring
// of the newest messages, and any number of followers that each get the
// messages from their start (rooms.Start) on, then live, with no gap, no
// duplicate and the log's one order.
//
// A message is decoded and JSON-encoded once per replica, with its offset
// filled in; the same []byte goes to every follower. Catch-up older than
// the ring uses the Source's range read. A feed knows where the log ends
// once its Source says it is Synced (the RabbitMQ source reads back a marker
// it published itself); followers wait, bounded, until then.
//
// Feeds live in a Set: they start on first need and stop after their last
// user leaves plus an idle delay.
package feed

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"chatrelay/internal/rooms"
)

// Record is one entry of a room's log as a Source read it.
type Record struct {
	// Offset is the entry's position in the log: increasing, not
	// necessarily contiguous.
	Offset int64
	// Body is the published message (a chat message in JSON).
	Body []byte
	// Marker, when not empty, makes the record a marker: it takes an
	// offset but is no message and is never delivered.
	Marker string
}

// Sink receives one feed's tail. A Source calls its methods one at a
// time, in log order, and never after the tail's stop returned.
type Sink interface {
	// Record applies the next record of the log. Records at or below an
	// offset already applied (a consumer re-sent them) are ignored.
	Record(r Record)
	// Synced says that every record that was in the log when the tail
	// started has been passed to Record: the feed knows the log's end.
	Synced()
	// Failed says the tail has stopped for good; the feed ends and the
	// next user starts a new one.
	Failed(err error)
}

// Source is the broker side of one room's log.
type Source interface {
	// Tail starts the feed's single upstream consumer, which calls sink
	// for every record from where it starts (at most the newest few
	// records of the log, or nothing), then live, until stop is called.
	// Tail does not block on the broker.
	Tail(sink Sink) (stop func(), err error)
	// ReadRange calls fn, in log order, for every record the log still
	// holds with from <= offset < to, and returns once it reached an
	// offset >= to. The caller guarantees that a record at or after to
	// exists, so the read never waits for offsets that may not exist.
	ReadRange(ctx context.Context, from, to int64, fn func(Record)) error
}

// Defaults for the zero fields of Config.
const (
	// DefaultBuffer is how many of the newest messages a feed keeps.
	DefaultBuffer = 1000
	// DefaultIdle is how long a feed without users lives on.
	DefaultIdle = 30 * time.Second
	// DefaultSyncTimeout bounds how long a user waits for a feed to
	// learn where its log ends.
	DefaultSyncTimeout = 10 * time.Second
)

// Config configures the feeds of a Set. Zero fields take the defaults.
type Config struct {
	// Buffer is the ring size: how many of the newest messages a feed
	// keeps, and the most messages a Follow with Start.Last replays.
	Buffer int
	// Idle is how long a feed lives on after its last user left;
	// negative: feeds never stop by themselves.
	Idle time.Duration
	// SyncTimeout bounds how long a user waits for a new feed to learn
	// where its log ends.
	SyncTimeout time.Duration
	// EditWindow is how far (in offsets) above a message its EDIT and
	// DELETE messages count (rooms.DefaultEditWindow by default).
	EditWindow int64
	// Logger receives feed events. Default: discard.
	Logger *slog.Logger
}

// withDefaults returns cfg with its zero fields filled in.
func (cfg Config) withDefaults() Config {
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.Idle == 0 {
		cfg.Idle = DefaultIdle
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = DefaultSyncTimeout
	}
	if cfg.EditWindow <= 0 {
		cfg.EditWindow = rooms.DefaultEditWindow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// Set holds one store's feeds, at most one per room. A feed starts on
// first need and ends after its last user left plus Config.Idle, when its
// room is dropped, or when its tail fails.
type Set struct {
	cfg  Config
	open func(roomID string) Source

	mu     sync.Mutex
	feeds  map[string]*roomFeed
	gone   map[string]struct{} // dropped rooms: never started again
	closed bool
}

// NewSet returns a Set whose feeds read the Source open returns for their
// room.
func NewSet(cfg Config, open func(roomID string) Source) *Set {
	return &Set{cfg: cfg.withDefaults(), open: open, feeds: make(map[string]*roomFeed), gone: make(map[string]struct{})}
}

// acquire returns roomID's feed, started if need be, with one more user;
// the caller must release it. The Set's mutex is never held while a
// feed's is taken: a feed busy with a user does not hold up the other
// rooms' users.
func (s *Set) acquire(roomID string) (*roomFeed, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		if _, ok := s.gone[roomID]; ok {
			s.mu.Unlock()
			return nil, rooms.ErrNotFound
		}
		f := s.feeds[roomID]
		if f == nil {
			// not shared yet: counting the user in takes no wait
			f = newRoomFeed(s, roomID, s.open(roomID))
			f.users = 1
			s.feeds[roomID] = f
			s.mu.Unlock()
			f.start()
			return f, nil
		}
		s.mu.Unlock()
		if f.acquire() {
			return f, nil
		}
		// f has ended: make way for a new feed unless its end already
		// did (forget) or another user already started one
		s.forget(f)
	}
}

// forget removes f if it is still roomID's feed.
func (s *Set) forget(f *roomFeed) {
	s.mu.Lock()
	if s.feeds[f.room] == f {
		delete(s.feeds, f.room)
	}
	s.mu.Unlock()
}

// Start starts roomID's feed if it is not running, and waits until it
// knows where its log ends. With Config.Idle < 0 the feed then runs until
// Drop or Close.
func (s *Set) Start(ctx context.Context, roomID string) error {
	f, err := s.acquire(roomID)
	if err != nil {
		return err
	}
	defer f.release()
	return f.waitSynced(ctx)
}

// Follow attaches deliver to roomID's feed from start on; see
// rooms.Store.Follow. deliver is called one message at a time, never
// concurrently: the replay on Follow's goroutine without the feed's lock,
// then the live messages with it held. It must not block and must not
// call into the Set, except for the returned stop, which may be called
// from anywhere, deliver included. After stop returns, deliver is not
// called again unless a call had already begun on another goroutine.
func (s *Set) Follow(ctx context.Context, roomID string, start rooms.Start, deliver func(rooms.Message, []byte)) (stop func(), err error) {
	f, err := s.acquire(roomID)
	if err != nil {
		return nil, err
	}
	stop, err = f.follow(ctx, start, deliver)
	if err != nil {
		f.release()
		return nil, err
	}
	return stop, nil
}

// History returns up to limit (at most MaxHistory; none for limit <= 0)
// messages of roomID with offsets below before (before < 0: the newest),
// newest first; see rooms.Store.History.
func (s *Set) History(ctx context.Context, roomID string, before int64, limit int) ([]rooms.Message, error) {
	f, err := s.acquire(roomID)
	if err != nil {
		return nil, err
	}
	defer f.release()
	if err := f.waitSynced(ctx); err != nil {
		return nil, err
	}
	return f.history(ctx, before, limit)
}

// Revisable returns roomID's message at offset in its current version
// when a revision of it would count; see rooms.Revisable.
func (s *Set) Revisable(ctx context.Context, roomID string, offset int64) (rooms.Message, error) {
	f, err := s.acquire(roomID)
	if err != nil {
		return rooms.Message{}, err
	}
	defer f.release()
	if err := f.waitSynced(ctx); err != nil {
		return rooms.Message{}, err
	}
	return f.revisable(ctx, offset)
}

// Drop ends roomID's feed, if any: its followers get nothing more, and
// the room gets no feed again (rooms.ErrNotFound). Use it when the room is
// deleted.
func (s *Set) Drop(roomID string) {
	s.mu.Lock()
	s.gone[roomID] = struct{}{}
	f := s.feeds[roomID]
	s.mu.Unlock()
	if f != nil {
		f.end(ErrClosed)
	}
}

// Revive lets roomID have a feed again after Drop: a room was created
// with the id of one deleted before (a direct room's id is its users').
func (s *Set) Revive(roomID string) {
	s.mu.Lock()
	delete(s.gone, roomID)
	s.mu.Unlock()
}

// Running reports whether roomID has a feed.
func (s *Set) Running(roomID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.feeds[roomID] != nil
}

// Close ends every feed; later calls fail with ErrClosed.
func (s *Set) Close() {
	s.mu.Lock()
	s.closed = true
	feeds := make([]*roomFeed, 0, len(s.feeds))
	for _, f := range s.feeds {
		feeds = append(feeds, f)
	}
	s.mu.Unlock()
	for _, f := range feeds {
		f.end(ErrClosed)
	}
}
