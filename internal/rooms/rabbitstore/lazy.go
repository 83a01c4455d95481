package rabbitstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/feed"
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

// openCall is one Open in progress for a room on this replica; later
// callers wait for it.
type openCall struct {
	done chan struct{}
	err  error
}

// Open declares a lazy room's stream and returns once this replica
// applied its opened event; for a room whose stream exists it returns at
// once. Concurrent calls for one room on one replica share one attempt.
func (s *Store) Open(ctx context.Context, id string) error {
	for {
		room, exists, open := s.reg.opening(id)
		switch {
		case !exists:
			return rooms.ErrNotFound
		case open:
			return nil
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
			call.err = s.open(ctx, room)
			s.openMu.Lock()
			delete(s.opening, id)
			s.openMu.Unlock()
			close(call.done)
			return call.err
		}
		select {
		case <-call.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if call.err != nil && !errors.Is(call.err, context.Canceled) && !errors.Is(call.err, context.DeadlineExceeded) {
			return call.err
		}
		// the leader's context ended, or it succeeded: look again
	}
}

// open declares room's stream, publishes its opened event and waits until
// this replica applied it.
func (s *Store) open(ctx context.Context, room rooms.Room) error {
	queue := streamOf(room)
	args := streamArgs(s.opts.MaxAge, s.opts.MaxBytes, s.opts.Replicas)
	args[roomNameArg], args[roomIDArg] = room.Name, room.ID
	// bound with the topic's routing key, whatever the stream's name
	if err := s.amqp.declareStream(queue, args, rooms.StreamName(room.ID)); err != nil {
		return fmt.Errorf("rabbitstore: open room: %w", err)
	}
	err := s.record(ctx, event{Event: eventOpened, Room: rooms.Room{ID: room.ID}, At: s.opts.Now().UTC(), ID: newNonce(), Stream: queue})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, rooms.ErrNotFound):
		// deleted before the opened event in registry order: the
		// deleter may have deleted the stream before it was declared
		if derr := s.amqp.deleteStream(queue); derr != nil {
			s.log.Warn("rooms: could not delete the stream of a room deleted while it was opened", "stream", queue, "err", derr)
		}
		return rooms.ErrNotFound
	}
	return err
}

// lazyTail is the tail of a room with no stream yet: it reports the empty
// log synced at once and starts the real tail, from the stream's first
// offset, once the room's opened event has been applied.
type lazyTail struct {
	sink feed.Sink
	quit chan struct{}
	done chan struct{}

	mu      sync.Mutex
	stopped bool
	t       *tail // the real tail, once started
}

// startLazyTail reports the empty log to sink and starts the goroutine
// that waits for opened; start starts the real tail. still reports, just
// before the real tail starts, whether the room exists and has its stream
// (it may have been deleted since opened was closed).
func startLazyTail(sink feed.Sink, opened <-chan struct{}, still func() bool, start func(feed.Sink) (*tail, error)) *lazyTail {
	l := &lazyTail{sink: sink, quit: make(chan struct{}), done: make(chan struct{})}
	sink.Synced()                   // nothing was published: the room has no stream
	go l.wait(opened, still, start) // owns the wait for opened and the start of the real tail
	return l
}

// wait starts the real tail once opened is closed, unless stopped first or
// the room is gone (its feed is then dropped).
func (l *lazyTail) wait(opened <-chan struct{}, still func() bool, start func(feed.Sink) (*tail, error)) {
	defer close(l.done)
	select {
	case <-l.quit:
		return
	case <-opened:
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped || !still() {
		return
	}
	t, err := start(l.sink)
	if err != nil {
		go func() {
			// owns nothing: reports the failure off the locked section,
			// so that the sink may stop the tail
			l.sink.Failed(err)
		}()
		return
	}
	l.t = t
}

// stop ends the wait and the real tail, if started; no sink call starts
// after it returns.
func (l *lazyTail) stop() {
	l.mu.Lock()
	l.stopped = true
	t := l.t
	l.mu.Unlock()
	close(l.quit)
	<-l.done
	if t != nil {
		t.stop()
	}
}
