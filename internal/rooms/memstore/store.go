// Package memstore is the rooms.Store of embedded mode: one node, nothing
// persisted. The registry lives in memory; a room's messages are its topic
// followed through the relay from the room's creation on, numbered 0, 1,
// 2, ... in arrival order, and kept in a bounded log (the room's feed
// ring, Options.Buffer messages). Following and history behave as with
// RabbitMQ, over that shorter log.
package memstore

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"chatrelay/internal/relay"
	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/feed"
)

// Options configure a Store.
type Options struct {
	// Relay carries the rooms' topics; it must be started.
	Relay *relay.Relay
	// Buffer is how many of its newest messages a room keeps (default
	// feed.DefaultBuffer).
	Buffer int
	// Logger receives store events. Default: discard.
	Logger *slog.Logger
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// Store is a rooms.Store kept in memory.
type Store struct {
	opts  Options
	feeds *feed.Set

	mu      sync.Mutex
	rooms   map[string]rooms.Room
	order   []string                // room ids, oldest first
	seq     int64                   // Seq of the newest room
	sources map[string]*topicSource // by room id, while the room exists
}

var (
	_ rooms.Store     = (*Store)(nil)
	_ rooms.Moderated = (*Store)(nil)
	_ rooms.Revisable = (*Store)(nil)
)

// New returns an empty Store.
func New(opts Options) (*Store, error) {
	if opts.Relay == nil {
		return nil, fmt.Errorf("memstore: no relay")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{opts: opts, rooms: make(map[string]rooms.Room), sources: make(map[string]*topicSource)}
	s.feeds = feed.NewSet(feed.Config{Buffer: opts.Buffer, Idle: -1, Logger: opts.Logger}, s.source)
	return s, nil
}

// source returns the room's log source, made on first use.
func (s *Store) source(roomID string) feed.Source {
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.sources[roomID]
	if src == nil {
		src = &topicSource{r: s.opts.Relay, room: roomID}
		s.sources[roomID] = src
	}
	return src
}

// Create adds a room and starts recording its topic before it returns.
func (s *Store) Create(ctx context.Context, spec rooms.Spec) (rooms.Room, error) {
	room, ok := rooms.NewRoom(spec)
	if !ok {
		return rooms.Room{}, rooms.ErrInvalid
	}
	room.CreatedAt = s.opts.Now().UTC()
	s.mu.Lock()
	if _, taken := s.rooms[room.ID]; taken {
		s.mu.Unlock()
		return rooms.Room{}, rooms.ErrDuplicateID
	}
	if !room.Direct && s.hasName(room.Name) {
		s.mu.Unlock()
		return rooms.Room{}, rooms.ErrDuplicateName
	}
	// reserve the name while the topic subscription is made
	s.rooms[room.ID] = room
	s.mu.Unlock()
	s.feeds.Revive(room.ID) // an id deleted before may be used again
	if err := s.feeds.Start(ctx, room.ID); err != nil {
		s.mu.Lock()
		delete(s.rooms, room.ID)
		delete(s.sources, room.ID)
		s.mu.Unlock()
		s.feeds.Drop(room.ID)
		return rooms.Room{}, fmt.Errorf("memstore: create room: %w", err)
	}
	s.mu.Lock()
	s.seq++
	room.Seq = s.seq
	s.rooms[room.ID] = room
	s.order = append(s.order, room.ID)
	s.mu.Unlock()
	return room, nil
}

// hasName reports whether a room's name has the same rooms.NameKey as
// name. Caller holds s.mu.
func (s *Store) hasName(name string) bool {
	key := rooms.NameKey(name)
	for _, r := range s.rooms {
		if rooms.NameKey(r.Name) == key {
			return true
		}
	}
	return false
}

// Delete removes a room and forgets its messages.
func (s *Store) Delete(ctx context.Context, id string) error {
	s.mu.Lock()
	_, ok := s.rooms[id]
	if ok && s.listed(id) {
		delete(s.rooms, id)
		delete(s.sources, id)
		for i, x := range s.order {
			if x == id {
				s.order = append(s.order[:i:i], s.order[i+1:]...)
				break
			}
		}
	} else {
		ok = false
	}
	s.mu.Unlock()
	if !ok {
		return rooms.ErrNotFound
	}
	s.feeds.Drop(id)
	return nil
}

// listed reports whether id's creation is complete. Caller holds s.mu.
func (s *Store) listed(id string) bool {
	for _, x := range s.order {
		if x == id {
			return true
		}
	}
	return false
}

// SetMembers replaces a private room's member list.
func (s *Store) SetMembers(ctx context.Context, id string, members []string) (rooms.Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rooms[id]
	if !ok || !s.listed(id) {
		return rooms.Room{}, rooms.ErrNotFound
	}
	if !r.Private || r.Direct {
		return rooms.Room{}, rooms.ErrInvalid
	}
	if r.Members, ok = rooms.CleanMembers(r.Owner(), members); !ok {
		return rooms.Room{}, rooms.ErrInvalid
	}
	s.rooms[id] = r
	return r, nil
}

// Moderate applies a change of the room's roles or sanctions (see
// rooms.Moderated).
func (s *Store) Moderate(ctx context.Context, id string, ch rooms.Change) (rooms.Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rooms[id]
	if !ok || !s.listed(id) {
		return rooms.Room{}, rooms.ErrNotFound
	}
	r, err := r.Apply(ch)
	if err != nil {
		return rooms.Room{}, err
	}
	s.rooms[id] = r
	return r, nil
}

// Get returns a room.
func (s *Store) Get(id string) (rooms.Room, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rooms[id]
	return r, ok && s.listed(id)
}

// Open returns nil for a room that exists: the embedded broker's topic
// needs nothing declared.
func (s *Store) Open(_ context.Context, id string) error {
	if _, ok := s.Get(id); !ok {
		return rooms.ErrNotFound
	}
	return nil
}

// List returns every room, oldest first.
func (s *Store) List() []rooms.Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]rooms.Room, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.rooms[id])
	}
	return out
}

// CountRooms counts the rooms but the direct ones, those user owns and
// those created from origin (see roomlimit.Counter).
func (s *Store) CountRooms(user, origin string) (total, byUser, byOrigin int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.order {
		r := s.rooms[id]
		if r.Direct {
			continue // direct rooms have limits of their own
		}
		total++
		if user != "" && r.CreatedBy == user {
			byUser++
		}
		if origin != "" && r.Origin == origin {
			byOrigin++
		}
	}
	return total, byUser, byOrigin
}

// CountDirect counts the direct rooms, those user started and those
// started from origin.
func (s *Store) CountDirect(user, origin string) (total, byUser, byOrigin int) {
	return rooms.CountDirect(s.List(), user, origin)
}

// Page returns a page of rooms, oldest first (see rooms.Store).
func (s *Store) Page(after int64, limit int, keep func(rooms.Room) bool) ([]rooms.Room, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return rooms.PageOf(len(s.order), func(i int) rooms.Room { return s.rooms[s.order[i]] }, after, limit, keep)
}

// History returns up to limit messages below before, newest first.
func (s *Store) History(ctx context.Context, roomID string, before int64, limit int) ([]rooms.Message, error) {
	if _, ok := s.Get(roomID); !ok {
		return nil, rooms.ErrNotFound
	}
	return s.feeds.History(ctx, roomID, before, limit)
}

// Revisable returns a message that may be edited or deleted (see
// rooms.Revisable).
func (s *Store) Revisable(ctx context.Context, roomID string, offset int64) (rooms.Message, error) {
	if _, ok := s.Get(roomID); !ok {
		return rooms.Message{}, rooms.ErrNotFound
	}
	return s.feeds.Revisable(ctx, roomID, offset)
}

// Follow delivers the room's messages from start on, then live.
func (s *Store) Follow(ctx context.Context, roomID string, start rooms.Start, deliver func(rooms.Message, []byte)) (func(), error) {
	if _, ok := s.Get(roomID); !ok {
		return nil, rooms.ErrNotFound
	}
	return s.feeds.Follow(ctx, roomID, start, deliver)
}

// Close stops recording every room; the relay stays open.
func (s *Store) Close() error {
	s.feeds.Close()
	return nil
}
