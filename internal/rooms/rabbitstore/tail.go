package rabbitstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"

	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/feed"
)

// Tuning of stream consumers.
const (
	// tailPrefetch is the prefetch window of a long-lived consumer.
	tailPrefetch = 256
	// markerTimeout bounds one marker publish.
	markerTimeout = 5 * time.Second
	// markerRetry is how long a tail waits for its marker before it
	// publishes another one (the first may have been lost to a broker
	// restart).
	markerRetry = 3 * time.Second
	// readTimeout bounds one range read.
	readTimeout = 15 * time.Second
	// resubscribeFor bounds how long a tail whose SUBSCRIBE the broker
	// refused for now (streamSub.refusedForNow) subscribes again, with
	// waits from resubscribeMin doubling to resubscribeMax.
	resubscribeFor = 10 * time.Second
	resubscribeMin = 100 * time.Millisecond
	resubscribeMax = time.Second
)

// markFunc publishes a marker record with nonce into a stream.
type markFunc func(ctx context.Context, nonce string) error

// streamConsumer is one consumer of a stream that a tail drives: a STOMP
// subscription through the relay (streamSub, the registry's) or an AMQP
// consumer (amqpSub, the rooms'). Its producer side queues records; the
// tail's goroutine takes them, applies them and acknowledges them.
type streamConsumer interface {
	// readyC is signalled when there is something to take.
	readyC() <-chan struct{}
	// confirmedC is closed once the broker accepted the consumer.
	confirmedC() <-chan struct{}
	// take returns the queued records, in order, and the consumer's
	// error once it has failed.
	take() ([]feed.Record, error)
	// ack acknowledges everything taken so far.
	ack()
	// refusedForNow reports whether the broker refused the consumer for
	// a reason that may pass (the tail then subscribes again).
	refusedForNow() bool
	// close ends the consumer.
	close()
}

// tail consumes a stream for a feed.Sink: once its consumer is confirmed
// it publishes a marker into the stream, and it tells the sink Synced
// when it reads its own marker back, because then it has read everything
// the stream held when it started.
type tail struct {
	subscribe func() (streamConsumer, error)
	sub       streamConsumer // replaced by run when it subscribes again
	// confirmed is closed when a consumer of the tail (the first or one
	// made after a refusal) is confirmed; unlike sub it is never
	// replaced, so other goroutines may wait on it
	confirmed chan struct{}
	sink      feed.Sink
	mark      markFunc
	log       *slog.Logger
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
}

// startTail starts a consumer with subscribe and the tail's goroutine;
// its stop ends both. queue names the stream in logs.
func startTail(subscribe func() (streamConsumer, error), queue string, sink feed.Sink, mark markFunc, log *slog.Logger) (*tail, error) {
	sub, err := subscribe()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &tail{subscribe: subscribe, sub: sub, confirmed: make(chan struct{}), sink: sink, mark: mark, log: log.With("stream", queue), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	go t.run() // owns the consumer side of sub until stop
	return t, nil
}

// stop ends the tail and waits for its goroutine: no sink call starts
// after it returns.
func (t *tail) stop() {
	t.cancel()
	<-t.done
	t.sub.close()
}

// run owns the consumer side of the subscription: it applies the
// stream's records to the sink in order, acknowledges them, and
// publishes markers until it has read one of its own.
func (t *tail) run() {
	defer close(t.done)
	nonces := make(map[string]bool)
	synced := false
	subOK := t.sub.confirmedC()
	began, wait := time.Now(), resubscribeMin
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	publish := func() {
		nonce := newNonce()
		nonces[nonce] = true
		ctx, cancel := context.WithTimeout(t.ctx, markerTimeout)
		defer cancel()
		if err := t.mark(ctx, nonce); err != nil && t.ctx.Err() == nil {
			t.log.Warn("rooms: publishing a stream marker failed; retrying", "err", err)
		}
		retry.Reset(markerRetry)
	}
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-subOK:
			subOK = nil
			close(t.confirmed)
			publish()
		case <-retry.C:
			if !synced {
				publish()
			}
		case <-t.sub.readyC():
			recs, err := t.sub.take()
			for _, rec := range recs {
				t.sink.Record(rec)
				if !synced && nonces[rec.Marker] {
					synced = true
					retry.Stop()
					t.sink.Synced()
				}
			}
			if len(recs) > 0 {
				t.sub.ack()
			}
			if err != nil && !synced && subOK != nil && t.sub.refusedForNow() && time.Since(began) < resubscribeFor {
				t.log.Warn("rooms: the broker refused the stream subscription for now; subscribing again", "err", err, "in", wait)
				if !t.resubscribe(wait) {
					return
				}
				subOK, wait = t.sub.confirmedC(), min(2*wait, resubscribeMax)
				continue
			}
			if err != nil {
				go func() {
					// owns nothing: reports the failure off the tail's
					// goroutine, so that the sink may stop the tail
					t.sink.Failed(err)
				}()
				return
			}
		}
	}
}

// resubscribe waits, then replaces the tail's refused consumer with a new
// one; it reports false when the tail was stopped meanwhile (or the new
// consumer could not start: the tail then fails).
func (t *tail) resubscribe(wait time.Duration) bool {
	select {
	case <-t.ctx.Done():
		return false
	case <-time.After(wait):
	}
	t.sub.close()
	sub, err := t.subscribe()
	if err != nil {
		go func() {
			// owns nothing: reports the failure off the tail's goroutine
			t.sink.Failed(err)
		}()
		return false
	}
	t.sub = sub
	return true
}

// newNonce returns a random marker nonce.
func newNonce() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// roomSource is a room's stream as a feed.Source: tails are AMQP
// consumers (amqpconsumer.go) starting at the stream's last chunk, and
// sync on a marker published over AMQP straight into the stream (the
// default exchange, so that topic subscribers never see it); range reads
// use AMQP consumers too (amqpClient.readRange). None of them goes
// through the relay.
type roomSource struct {
	s    *Store
	room string
}

// Tail starts the room's tail (roomtail.go): at the current stream's
// last chunk, or, for a room without a stream (lazy, or archived), on its
// archived messages until a stream is opened.
func (src *roomSource) Tail(sink feed.Sink) (func(), error) {
	st, _ := src.s.reg.state(src.room, false)
	if !st.exists {
		return nil, rooms.ErrNotFound
	}
	if st.stream == "" && !st.closing {
		// the room's log is the registry view: bring it up to what the
		// registry holds now (messages posted through other replicas,
		// an opened event), as a stream tail syncs on its marker
		ctx, cancel := context.WithTimeout(context.Background(), markerTimeout)
		err := src.s.syncRegistry(ctx)
		cancel()
		if err != nil {
			src.s.log.Warn("rooms: a room's feed starts on this replica's registry view, which may lag", "room", src.room, "err", err)
		}
		if st, _ = src.s.reg.state(src.room, false); !st.exists {
			return nil, rooms.ErrNotFound
		}
	}
	rt, err := startRoomTail(src, sink, st)
	if err != nil {
		return nil, err
	}
	return rt.stop, nil
}

// startTail starts a tail of st's stream at offset for sink (an
// epochSink, which moves the offsets up by the epoch's base).
func (src *roomSource) startTail(st roomState, offset string, sink feed.Sink) (*tail, error) {
	queue := st.stream
	mark := func(ctx context.Context, nonce string) error {
		return src.s.amqp.publishMarker(ctx, queue, nonce)
	}
	subscribe := func() (streamConsumer, error) {
		return src.s.tails.subscribe(queue, amqpOffset(offset), tailPrefetch, src.s.amqp, src.s.log)
	}
	return startTail(subscribe, queue, sink, mark, src.s.log)
}

// ReadRange reads the room's records in [from, to): those below the
// current epoch's base from the archived messages, the others from the
// stream (a room without a stream has no others).
func (src *roomSource) ReadRange(ctx context.Context, from, to int64, fn func(feed.Record)) error {
	st, _ := src.s.reg.state(src.room, false)
	if !st.exists {
		// gone: its reads fail as they would
		st.stream = streamOf(st.room)
	}
	for _, r := range snapshotRecords(st.snapshot, from, min(to, st.base), src.s.maxAge, src.s.opts.Now()) {
		fn(r)
	}
	if st.stream == "" || to <= st.base {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	return src.s.amqp.readRange(ctx, st.stream, max(from, st.base)-st.base, to-st.base, func(r feed.Record) {
		r.Offset += st.base
		fn(r)
	})
}
