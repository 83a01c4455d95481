package rabbitstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/rooms/feed"
	"chatrelay/internal/testkit"
)

// syncSink is a feed.Sink that records what its tail tells it.
type syncSink struct {
	mu     sync.Mutex
	synced chan struct{}
	failed error
}

func (s *syncSink) Record(feed.Record) {}
func (s *syncSink) Synced()            { close(s.synced) }
func (s *syncSink) Failed(err error) {
	s.mu.Lock()
	s.failed = err
	s.mu.Unlock()
}

// TestTailResubscribesWhileRefusedForNow starts a STOMP tail (the
// registry's kind) on a stream that does not exist yet, as a feed may on a node that does not run the
// stream's replica yet: RabbitMQ refuses the SUBSCRIBE (not_found here,
// precondition_failed there), and the tail subscribes again until the
// stream is there, then syncs, instead of failing its feed.
func TestTailResubscribesWhileRefusedForNow(t *testing.T) {
	n := rabbittest.Require(t, node)
	rp := newReplica(t, n, nil)
	queue := "room.tailtest-" + newNonce()[:8]
	sink := &syncSink{synced: make(chan struct{})}
	mark := func(ctx context.Context, nonce string) error { return rp.s.amqp.publishMarker(ctx, queue, nonce) }
	subscribe := func() (streamConsumer, error) {
		sub, err := subscribeStream(rp.r, queue, "last", tailPrefetch, testLogger(t))
		if err != nil {
			return nil, err
		}
		return sub, nil
	}
	tl, err := startTail(subscribe, queue, sink, mark, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tl.stop)
	// refused at least once (on a probe: the shared connection stays),
	// then declared
	testkit.Eventually(t, 10*time.Second, "the broker to refuse the SUBSCRIBE", func() bool { return rp.r.Refused() > 0 })
	if err := rp.s.amqp.declareStream(queue, streamArgs("1D", 0, 0), ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rp.s.amqp.deleteStream(queue) })
	select {
	case <-sink.synced:
	case <-time.After(resubscribeFor):
		sink.mu.Lock()
		defer sink.mu.Unlock()
		t.Fatalf("tail not synced (failed: %v)", sink.failed)
	}
	// the registry supervisor times its check from this signal: it must
	// come from the subscription made after the refusal
	select {
	case <-tl.confirmed:
	default:
		t.Fatal("tail synced, but its confirmed signal is still open")
	}
}
