package rabbitstore

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"chatrelay/internal/rooms/feed"
)

// ReadsStream is the stream of users' read positions (readstate).
const ReadsStream = "chatrelay.reads"

// readsArgs are the reads stream's arguments. They never change: a
// redeclare with other arguments fails with PRECONDITION_FAILED. Records
// older than a week may go once a segment of 16 MB fills: readstate
// writes a snapshot of every position every few minutes, so what goes is
// held by newer records. The stream is replicated on every node of a
// cluster (the default initial cluster size), as the registry is.
func readsArgs() amqp.Table {
	args := streamArgs("7D", 0, 0)
	args["x-stream-max-segment-size-bytes"] = int64(16 << 20)
	return args
}

// appendTimeout bounds one append to the reads stream.
const appendTimeout = 5 * time.Second

// ReadLog is the reads stream as readstate's Log: appends go straight
// into the stream over AMQP (the default exchange); tails are AMQP
// consumers like the rooms' (amqpconsumer.go), synced on a marker.
type ReadLog struct {
	s     *Store
	queue string
}

// ReadLog declares the reads stream (retrying while the broker is coming
// back, until ctx ends) and returns it as a log.
func (s *Store) ReadLog(ctx context.Context) (*ReadLog, error) {
	wait := 100 * time.Millisecond
	for {
		err := s.amqp.declareStream(ReadsStream, readsArgs(), "")
		if err == nil {
			return &ReadLog{s: s, queue: ReadsStream}, nil
		}
		s.log.Warn("rabbitstore: reads stream not available yet; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("declare %s: %w (last error: %v)", ReadsStream, ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// Append publishes body into the stream. It waits for no confirm: the
// reader of positions reads its records back.
func (l *ReadLog) Append(body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
	defer cancel()
	return l.s.amqp.publishJSON(ctx, "", l.queue, body)
}

// Follow tails the stream from the record after after (after >= 0), or
// from the chunk holding since, or from its first record. It declares the
// stream first: a tail that failed because the stream was deleted follows
// a new one. A new stream's offsets start over, and RabbitMQ would start
// a consumer asking for an offset past its end at that offset, skipping
// what the new stream holds: so when the stream ends at or below after,
// Follow starts at its first record (readstate then sees records below
// after, applies the new stream from its start and writes a snapshot of
// every position into it).
func (l *ReadLog) Follow(after int64, since time.Time, sink feed.Sink) (func(), error) {
	if err := l.s.amqp.declareStream(l.queue, readsArgs(), ""); err != nil {
		return nil, fmt.Errorf("declare %s: %w", l.queue, err)
	}
	var offset any = "first"
	switch {
	case after >= 0:
		offset = after + 1
		if end, err := l.end(); err == nil && end <= after {
			offset = "first" // a stream made anew
		}
	case !since.IsZero():
		offset = since
	}
	mark := func(ctx context.Context, nonce string) error {
		return l.s.amqp.publishMarker(ctx, l.queue, nonce)
	}
	subscribe := func() (streamConsumer, error) {
		return l.s.tails.subscribe(l.queue, offset, tailPrefetch, l.s.amqp, l.s.log)
	}
	t, err := startTail(subscribe, l.queue, sink, mark, l.s.log)
	if err != nil {
		return nil, err
	}
	return t.stop, nil
}

// endTimeout bounds the read of the stream's end.
const endTimeout = 10 * time.Second

// end returns the offset of a marker it appends to the stream: the
// stream's end.
func (l *ReadLog) end() (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), endTimeout)
	defer cancel()
	end := int64(-1)
	err := l.s.amqp.readStream(ctx, l.queue, "last", true, func(r feed.Record) bool {
		end = r.Offset
		return true
	})
	return end, err
}
