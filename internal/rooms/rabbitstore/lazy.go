package rabbitstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"chatrelay/internal/rooms"
)

// Lazy streams: a room created by this version costs the broker nothing
// until its first message. Create publishes only the created event, which
// names the stream and says it is lazy; the first Open (every publish
// path calls it before it publishes to the room's topic) declares the
// stream, binds it to amq.topic, and publishes an opened event. Every
// replica applies the opened event in registry order and tails the
// stream from its first offset from then on; until then a room's feed is
// synced on an empty log, so followers, history and resume see a room
// without messages, and no replica subscribes to a queue that does not
// exist.
//
// Opening is idempotent: two replicas opening one room at once declare
// the same stream with the same arguments, and the second opened event
// changes nothing. A room deleted while it is opened: the deleted and
// opened events are ordered by the registry; when the opened event comes
// first, Delete deletes the stream after it was declared, and when the
// deleted event comes first, the opened event is refused (ErrNotFound)
// and Open deletes the stream it declared.
//
// An archived room (archive.go) has no stream either: Open declares its
// next epoch's stream (epoch.go) the same way, and its feeds go on from
// the archived messages to the new stream's first offset (roomtail.go).

// openCall is one Open in progress for a room on this replica; later
// callers wait for it.
type openCall struct {
	done chan struct{}
	err  error
}

// Open readies a room to store messages and returns once this replica
// applied it: for a room whose stream exists it returns at once; a lazy
// room's first stream, or an archived room's next epoch, is declared and
// its opened event published; a room being archived (closing) is waited
// for, and its closing aborted once its lease ran out (its archiver
// died). Concurrent calls for one room on one replica share one attempt.
func (s *Store) Open(ctx context.Context, id string) error {
	s.touch(id)
	for {
		st, changed := s.reg.opening(id)
		switch {
		case !st.exists:
			return rooms.ErrNotFound
		case st.closing:
			if err := s.awaitClosing(ctx, st, changed); err != nil {
				return err
			}
			continue
		case st.stream != "":
			return s.reboundAfterAbort(st)
		}
		s.openMu.Lock()
		call := s.opening[id]
		leader := call == nil
		if leader {
			call = &openCall{done: make(chan struct{})}
			s.opening[id] = call
		}
		s.openMu.Unlock()
		if leader {
			call.err = s.open(ctx, st)
			s.openMu.Lock()
			delete(s.opening, id)
			s.openMu.Unlock()
			close(call.done)
			if call.err == nil || !errors.Is(call.err, errStale) {
				return call.err
			}
			continue // the room's lifecycle moved on: look again
		}
		select {
		case <-call.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if call.err != nil && !errors.Is(call.err, errStale) && !errors.Is(call.err, context.Canceled) && !errors.Is(call.err, context.DeadlineExceeded) {
			return call.err
		}
		// the leader's context ended, or it succeeded: look again
	}
}

// open declares the stream of the room's next epoch (st.epoch: its first
// stream for a lazy room), publishes its opened event and waits until
// this replica applied it.
func (s *Store) open(ctx context.Context, st roomState) error {
	queue := epochStream(st.room, st.epoch)
	args := streamArgs(s.opts.MaxAge, s.opts.MaxBytes, s.opts.Replicas)
	args[roomNameArg], args[roomIDArg] = st.room.Name, st.room.ID
	// bound with the topic's routing key, whatever the stream's name
	if err := s.amqp.declareStream(queue, args, rooms.StreamName(st.room.ID)); err != nil {
		return fmt.Errorf("rabbitstore: open room: %w", err)
	}
	err := s.record(ctx, event{Event: eventOpened, Room: rooms.Room{ID: st.room.ID}, At: s.opts.Now().UTC(), ID: newNonce(), Stream: queue, Epoch: st.epoch})
	switch {
	case err == nil:
		if st.epoch > 0 {
			// the archived epoch's stream, in case its archiver died
			// before deleting it: nobody reads it any more
			if derr := s.amqp.deleteStream(epochStream(st.room, st.epoch-1)); derr != nil {
				s.log.Warn("rooms: could not delete an archived stream", "room", st.room.ID, "epoch", st.epoch-1, "err", derr)
			}
		}
		return nil
	case errors.Is(err, rooms.ErrNotFound), errors.Is(err, errStale):
		// deleted before the opened event in registry order (the
		// deleter may have deleted the stream before it was declared),
		// or this epoch was opened and archived meanwhile: the stream
		// declared may be one nobody else deletes
		if derr := s.amqp.deleteStream(queue); derr != nil {
			s.log.Warn("rooms: could not delete the stream of a room deleted or archived while it was opened", "stream", queue, "err", derr)
		}
	}
	return err
}

// awaitClosing waits until a closing room is archived or aborted, or its
// closing's lease ran out: then it aborts the closing itself (rebinding
// the stream first), so that a replica killed mid-archive leaves no room
// unable to take messages.
func (s *Store) awaitClosing(ctx context.Context, st roomState, changed <-chan struct{}) error {
	left := st.closingAt.Add(s.opts.ArchiveLease).Sub(s.opts.Now())
	if left > 0 {
		t := time.NewTimer(left)
		defer t.Stop()
		select {
		case <-changed:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return s.expireClosing(ctx, st)
}

// expireClosing aborts a closing whose lease ran out (its archiver died or
// hangs); errStale (the closing ended otherwise) is no error.
func (s *Store) expireClosing(ctx context.Context, st roomState) error {
	s.log.Warn("rooms: a room's archiving outlived its lease; reopening its stream", "room", st.room.ID, "epoch", st.epoch)
	err := s.abortClosing(ctx, st)
	if errors.Is(err, errStale) {
		return nil
	}
	return err
}

// abortClosing publishes the aborted event that ends a closing room's
// closing (errStale: the closing ended otherwise) and, once it won, binds
// the stream again. Binding only after the event won matters: a bind
// before it could undo the fence of an archive that then wins, letting
// messages into a stream about to be deleted. Should this replica die
// between the two, every replica's next Open of the room binds it
// (reboundAfterAbort).
func (s *Store) abortClosing(ctx context.Context, st roomState) error {
	if err := s.record(ctx, event{Event: eventAborted, Room: rooms.Room{ID: st.room.ID}, At: s.opts.Now().UTC(),
		ID: newNonce(), Epoch: st.epoch, Closer: st.closer}); err != nil {
		return err
	}
	s.markRebound(st.room.ID, st.closer)
	if err := s.amqp.bindStream(epochStream(st.room, st.epoch), rooms.StreamName(st.room.ID)); err != nil {
		return fmt.Errorf("rabbitstore: rebind an aborted room: %w", err)
	}
	return nil
}

// reboundAfterAbort binds the stream of an open room whose last closing
// was aborted, once per replica and abort, so that no abort leaves the
// stream unbound (its aborter died, or an archiver unbound it after the
// abort won).
func (s *Store) reboundAfterAbort(st roomState) error {
	if st.abortedCloser == "" {
		return nil
	}
	s.rebMu.Lock()
	done := s.rebound[st.room.ID] == st.abortedCloser
	s.rebMu.Unlock()
	if done {
		return nil
	}
	if err := s.amqp.bindStream(st.stream, rooms.StreamName(st.room.ID)); err != nil {
		return fmt.Errorf("rabbitstore: rebind an aborted room: %w", err)
	}
	s.markRebound(st.room.ID, st.abortedCloser)
	return nil
}

// markRebound remembers that this replica bound the room's stream after
// the abort of closer's closing.
func (s *Store) markRebound(id, closer string) {
	s.rebMu.Lock()
	s.rebound[id] = closer
	s.rebMu.Unlock()
}

// pruneRebound forgets the rooms whose last abort is no longer the one
// this replica bound the stream after.
func (s *Store) pruneRebound() {
	s.rebMu.Lock()
	ids := make(map[string]string, len(s.rebound))
	for id, closer := range s.rebound {
		ids[id] = closer
	}
	s.rebMu.Unlock()
	for id, closer := range ids {
		if st, _ := s.reg.state(id, false); st.abortedCloser != closer {
			s.rebMu.Lock()
			if s.rebound[id] == closer {
				delete(s.rebound, id)
			}
			s.rebMu.Unlock()
		}
	}
}
