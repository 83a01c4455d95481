package rabbitstore

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"chatrelay/internal/relay"
	"chatrelay/internal/rooms/feed"
	"chatrelay/internal/stomp"
)

// Headers of the records this package writes into streams.
const (
	// markerHeader marks a record as a marker: its value is a nonce the
	// publishing consumer waits for. Markers are no messages.
	markerHeader = "x-chat-marker"
	// offsetHeader carries a stream message's offset on MESSAGE.
	offsetHeader = "x-stream-offset"
)

// errOverflow means the broker sent far more than the prefetch window: a
// consumer never holds more than a few windows of frames.
var errOverflow = errors.New("stream consumer buffer overflow")

// streamSub is one stream subscription through the relay (a relay stream
// subscription: ack client, prefetch-count, x-stream-offset), consumed by
// one goroutine: the registry tail's. The relay's goroutines queue frames
// with Deliver; the consumer takes them, applies them and acknowledges
// them, which keeps the broker's credit flowing. Room tails are AMQP
// consumers instead (amqpSub): they start and stop all the time, and an
// UNSUBSCRIBE while a busy stream delivers can make RabbitMQ's STOMP
// plugin drop the shared relay connection; the registry tail runs for the
// store's life.
type streamSub struct {
	c   *relay.Client
	log *slog.Logger

	mu        sync.Mutex
	queue     []*stomp.Frame
	limit     int
	err       error
	confirmed bool
	// refusal is the relay's refusal of the SUBSCRIBE (its body: "the
	// broker answered REASON"), when it was refused before confirmed
	refusal string
	ready   chan struct{} // capacity 1: something to take
	subOK   chan struct{} // closed when the SUBSCRIBE is receipted
	// last is the last frame take returned, which ack acknowledges
	last *stomp.Frame
}

var _ streamConsumer = (*streamSub)(nil)

// subscribeStream subscribes to the stream queue from offset (an
// x-stream-offset value) with the given prefetch window.
func subscribeStream(r *relay.Relay, queue, offset string, prefetch int, log *slog.Logger) (*streamSub, error) {
	s := &streamSub{log: log, limit: 4*prefetch + 16, ready: make(chan struct{}, 1), subOK: make(chan struct{})}
	s.c = r.Attach(s)
	err := s.c.Subscribe("stream", "/amq/queue/"+queue, stomp.Headers{
		{Key: "ack", Value: "client"},
		{Key: "prefetch-count", Value: strconv.Itoa(prefetch)},
		{Key: offsetHeader, Value: offset},
		{Key: "receipt", Value: "subscribed"},
	})
	if err != nil {
		s.c.Close()
		return nil, fmt.Errorf("subscribe to stream %s: %w", queue, err)
	}
	return s, nil
}

// stompSubscriber returns a subscribe function for startTail that
// subscribes to the stream queue from offset through the relay (a failed
// subscribe must return a nil interface, not a nil *streamSub).
func stompSubscriber(r *relay.Relay, queue, offset string, log *slog.Logger) func() (streamConsumer, error) {
	return func() (streamConsumer, error) {
		sub, err := subscribeStream(r, queue, offset, tailPrefetch, log)
		if err != nil {
			return nil, err
		}
		return sub, nil
	}
}

// Deliver implements relay.Sink; it never blocks.
func (s *streamSub) Deliver(f *stomp.Frame) {
	s.mu.Lock()
	switch f.Command {
	case stomp.MESSAGE:
		if len(s.queue) >= s.limit {
			s.err = errOverflow
		} else {
			s.queue = append(s.queue, f)
		}
	case stomp.RECEIPT:
		if !s.confirmed {
			s.confirmed = true
			close(s.subOK)
		}
	case stomp.ERROR:
		s.err = fmt.Errorf("broker error: %s", f.Header("message"))
		if !s.confirmed && f.Header("message") == relay.MsgSubscribeRefused {
			s.refusal = string(f.Body)
		}
	}
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// refusedForNow reports whether the broker refused the SUBSCRIBE for a
// reason that may pass: not_found (a stream not recovered yet after a
// restart) or precondition_failed (RabbitMQ reads a stream only from a
// replica on the node the relay is connected to, and the replica of a
// stream just declared elsewhere may not run yet).
func (s *streamSub) refusedForNow() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.HasSuffix(s.refusal, "not_found") || strings.HasSuffix(s.refusal, "precondition_failed")
}

// readyC is signalled when there is something to take.
func (s *streamSub) readyC() <-chan struct{} { return s.ready }

// confirmedC is closed when the SUBSCRIBE is receipted.
func (s *streamSub) confirmedC() <-chan struct{} { return s.subOK }

// take returns the queued frames as records (frames without a readable
// offset are dropped), and the subscription's error once it has failed.
func (s *streamSub) take() ([]feed.Record, error) {
	s.mu.Lock()
	q, err := s.queue, s.err
	s.queue = nil
	s.mu.Unlock()
	recs := make([]feed.Record, 0, len(q))
	for _, f := range q {
		rec, ok := record(f)
		if !ok {
			s.log.Debug("rooms: stream message without an offset")
			continue
		}
		recs = append(recs, rec)
	}
	if len(q) > 0 {
		s.last = q[len(q)-1]
	}
	return recs, err
}

// ack acknowledges the last frame taken and, cumulatively, everything
// delivered before it.
func (s *streamSub) ack() {
	f := s.last
	if f == nil {
		return
	}
	if id := f.Header("ack"); id != "" {
		// an id from before a reconnect is ignored by the relay; the
		// relay settles whatever is left on close
		_ = s.c.Ack(stomp.Headers{{Key: "id", Value: id}})
	}
}

// close ends the subscription; the relay settles what is unacknowledged.
func (s *streamSub) close() { s.c.Close() }

// record turns a stream MESSAGE into a feed record; ok is false without a
// readable offset.
func record(f *stomp.Frame) (feed.Record, bool) {
	off, err := strconv.ParseInt(f.Header(offsetHeader), 10, 64)
	if err != nil || off < 0 {
		return feed.Record{}, false
	}
	return feed.Record{Offset: off, Body: f.Body, Marker: f.Header(markerHeader)}, true
}
