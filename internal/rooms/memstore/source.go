package memstore

import (
	"context"
	"errors"
	"sync"

	"chatrelay/internal/relay"
	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/feed"
	"chatrelay/internal/stomp"
)

// topicSource is a room's log on a broker that keeps nothing: the room's
// topic followed through the relay (the replica's one shared topic
// subscription), with offsets 0, 1, 2, ... assigned in arrival order. The
// log is complete from the room's creation, so no marker is needed: the
// tail is synced as soon as its subscription is confirmed, and nothing
// older than the feed's ring exists.
//
// The offset counter belongs to the source, which lives as long as the
// room: should a tail fail and the feed start again, offsets go on
// increasing and a resuming follower never sees one reused.
type topicSource struct {
	r    *relay.Relay
	room string

	mu   sync.Mutex
	next int64 // offset of the room's next message
}

// Tail subscribes to the room's topic.
func (s *topicSource) Tail(sink feed.Sink) (func(), error) {
	t := &topicTail{src: s, sink: sink}
	t.c = s.r.Attach(t)
	err := t.c.Subscribe("room", rooms.Topic(s.room), stomp.Headers{
		{Key: "ack", Value: "auto"},
		{Key: "receipt", Value: "room"},
	})
	if err != nil {
		t.c.Close()
		return nil, err
	}
	return t.stop, nil
}

// ReadRange has nothing to read: the log keeps only what the feed's ring
// holds.
func (s *topicSource) ReadRange(ctx context.Context, from, to int64, fn func(feed.Record)) error {
	return ctx.Err()
}

// topicTail is the relay sink of one room's topic subscription. It hands
// MESSAGE frames to the feed on the relay's goroutine: the feed's work per
// message never blocks.
type topicTail struct {
	src  *topicSource
	sink feed.Sink
	c    *relay.Client

	mu      sync.Mutex // serialises the calls into sink; guards the rest
	synced  bool
	stopped bool
}

// errBroker is the tail's failure when the relay refuses the
// subscription.
var errBroker = errors.New("broker refused the room subscription")

// Deliver implements relay.Sink.
func (t *topicTail) Deliver(f *stomp.Frame) {
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		return
	}
	switch f.Command {
	case stomp.MESSAGE:
		t.src.mu.Lock()
		off := t.src.next
		t.src.next++
		t.src.mu.Unlock()
		t.sink.Record(feed.Record{Offset: off, Body: f.Body})
	case stomp.RECEIPT:
		if !t.synced {
			t.synced = true
			t.sink.Synced()
		}
	case stomp.ERROR:
		t.stopped = true
		t.mu.Unlock()
		t.sink.Failed(errors.Join(errBroker, errors.New(f.Header("message"))))
		return
	}
	t.mu.Unlock()
}

// stop ends the subscription; no sink call starts after it returns.
func (t *topicTail) stop() {
	t.mu.Lock()
	t.stopped = true
	t.mu.Unlock()
	t.c.Close()
}
