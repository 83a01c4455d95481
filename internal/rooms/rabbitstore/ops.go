package rabbitstore

import (
	"context"
	"fmt"
	"time"

	"chatrelay/internal/rooms"
)

// Create publishes the room's created event and returns once this replica
// applied it. The event names the room's stream but marks it lazy: the
// stream is declared by the room's first Open (lazy.go). A name or id
// taken in the local view fails at once; a name or id another replica
// took first in stream order fails when the event is applied.
func (s *Store) Create(ctx context.Context, spec rooms.Spec) (rooms.Room, error) {
	room, ok := rooms.NewRoom(spec)
	if !ok {
		return rooms.Room{}, rooms.ErrInvalid
	}
	if _, ok := s.reg.get(room.ID); ok {
		return rooms.Room{}, rooms.ErrDuplicateID
	}
	if !room.Direct && s.reg.has(room.Name) {
		return rooms.Room{}, rooms.ErrDuplicateName
	}
	now := s.opts.Now().UTC()
	room.CreatedAt = now
	queue := rooms.StreamName(room.ID)
	if !s.opts.IDStreamNames {
		queue = streamFor(room)
	}
	ev := event{Event: eventCreated, Room: room, At: now, ID: newNonce(), Origin: room.Origin, Stream: queue, Lazy: true}
	if err := s.record(ctx, ev); err != nil {
		return rooms.Room{}, err
	}
	if applied, ok := s.reg.get(room.ID); ok {
		return applied, nil // with its Seq
	}
	return room, nil
}

// Delete publishes the room's deleted event, waits until this replica
// applied it (which ends the room's feed here, and on every replica as it
// applies it), waits Options.DeleteGrace for the other replicas, and
// deletes the stream. A lazy or archived room has none: deleting a queue
// that does not exist is no error. The next epoch's stream is deleted
// too, in case an Open racing with the delete declared it (an Open whose
// opened event comes after the deleted one cleans up after itself, see
// lazy.go), and the previous one, in case its archiver died before
// deleting it.
func (s *Store) Delete(ctx context.Context, id string) error {
	st, _ := s.reg.state(id, false)
	if !st.exists {
		return rooms.ErrNotFound
	}
	now := s.opts.Now().UTC()
	if err := s.record(ctx, event{Event: eventDeleted, Room: st.room, At: now, ID: newNonce()}); err != nil {
		return err
	}
	s.feeds.Drop(id)
	// A replica still subscribed when the stream goes gets "Server
	// cancelled subscription" on a shared relay connection.
	t := time.NewTimer(s.opts.DeleteGrace)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	for _, epoch := range []int{st.epoch - 1, st.epoch, st.epoch + 1} {
		if epoch < 0 {
			continue
		}
		if err := s.amqp.deleteStream(epochStream(st.room, epoch)); err != nil {
			return fmt.Errorf("rabbitstore: room deleted, but not its stream: %w", err)
		}
	}
	return nil
}

// SetMembers publishes the room's members event with the new list and
// returns once this replica applied it; every replica applies it in
// registry order.
func (s *Store) SetMembers(ctx context.Context, id string, members []string) (rooms.Room, error) {
	room, ok := s.reg.get(id)
	if !ok {
		return rooms.Room{}, rooms.ErrNotFound
	}
	if !room.Private || room.Direct {
		return rooms.Room{}, rooms.ErrInvalid
	}
	if room.Members, ok = rooms.CleanMembers(room.Owner(), members); !ok {
		return rooms.Room{}, rooms.ErrInvalid
	}
	if err := s.record(ctx, event{Event: eventMembers, Room: room, At: s.opts.Now().UTC(), ID: newNonce()}); err != nil {
		return rooms.Room{}, err
	}
	room, ok = s.reg.get(id)
	if !ok {
		return rooms.Room{}, rooms.ErrNotFound
	}
	return room, nil
}

// Moderate publishes the room's moderated event with the change and
// returns the room once this replica applied it; every replica applies it
// in registry order (see rooms.Moderated).
func (s *Store) Moderate(ctx context.Context, id string, ch rooms.Change) (rooms.Room, error) {
	room, ok := s.reg.get(id)
	if !ok {
		return rooms.Room{}, rooms.ErrNotFound
	}
	if _, err := room.Apply(ch); err != nil {
		return rooms.Room{}, err
	}
	if err := s.record(ctx, event{Event: eventModerated, Room: rooms.Room{ID: id}, Change: &ch, At: s.opts.Now().UTC(), ID: newNonce()}); err != nil {
		return rooms.Room{}, err
	}
	room, ok = s.reg.get(id)
	if !ok {
		return rooms.Room{}, rooms.ErrNotFound
	}
	return room, nil
}

// CountDirect counts the direct rooms, those user started and those
// started from origin, from counts the registry keeps.
func (s *Store) CountDirect(user, origin string) (total, byUser, byOrigin int) {
	return s.reg.countDirect(user, origin)
}

// Get returns a room known to this replica.
func (s *Store) Get(id string) (rooms.Room, bool) { return s.reg.get(id) }

// CountRooms counts the rooms, those user owns and those created from
// origin, from counts the registry keeps (see roomlimit.Counter): no
// room is copied.
func (s *Store) CountRooms(user, origin string) (total, byUser, byOrigin int) {
	return s.reg.count(user, origin)
}

// Republish publishes a room message to the room's topic on a fresh AMQP
// channel (confirm.Options.Republish). The relay's long-lived STOMP
// channels learn of a room stream's new writer, after the node leading
// it was lost, only when RabbitMQ 3.10's stream coordinator tells them
// (4.5 s later in TestNodeLoss); what they publish until then is lost.
// A new channel routes to the new writer at once.
func (s *Store) Republish(ctx context.Context, roomID string, body []byte) error {
	return s.amqp.publishJSON(ctx, "amq.topic", rooms.StreamName(roomID), body)
}

// Sync returns once this replica's view has applied everything the
// registry held when it was called (see rooms.Syncer): concurrent calls
// share one registry marker.
func (s *Store) Sync(ctx context.Context) error { return s.syncRegistry(ctx) }

// List returns every room, oldest first (in registry order).
func (s *Store) List() []rooms.Room { return s.reg.list() }

// Page returns a page of rooms in creation order (see rooms.Store).
func (s *Store) Page(after int64, limit int, keep func(rooms.Room) bool) ([]rooms.Room, bool) {
	return s.reg.page(after, limit, keep)
}

// History returns up to limit (at most feed.MaxHistory) messages with
// offsets below before (before < 0: the newest), newest first.
func (s *Store) History(ctx context.Context, roomID string, before int64, limit int) ([]rooms.Message, error) {
	if _, ok := s.reg.get(roomID); !ok {
		return nil, rooms.ErrNotFound
	}
	return s.feeds.History(ctx, roomID, before, limit)
}

// Revisable returns a message that may be edited or deleted (see
// rooms.Revisable).
func (s *Store) Revisable(ctx context.Context, roomID string, offset int64) (rooms.Message, error) {
	if _, ok := s.reg.get(roomID); !ok {
		return rooms.Message{}, rooms.ErrNotFound
	}
	return s.feeds.Revisable(ctx, roomID, offset)
}

// Follow delivers the room's messages from start on, then live; a Last
// beyond Options.Buffer is capped to it.
func (s *Store) Follow(ctx context.Context, roomID string, start rooms.Start, deliver func(rooms.Message, []byte)) (func(), error) {
	if _, ok := s.reg.get(roomID); !ok {
		return nil, rooms.ErrNotFound
	}
	return s.feeds.Follow(ctx, roomID, start, deliver)
}

// Close stops following the registry and every room, and closes the AMQP
// connections; the relay stays open.
func (s *Store) Close() error {
	if s.stopArch != nil {
		s.stopArch()
	}
	if s.stopReg != nil {
		s.stopReg()
	}
	s.feeds.Close()
	s.tails.close()
	s.amqp.close()
	return nil
}

// AMQPConnectionNames returns the connection_name of each AMQP
// connection the store holds now: its own and its room tails'.
func (s *Store) AMQPConnectionNames() []string {
	return append([]string{s.opts.ConnectionName}, s.tails.names()...)
}
