package rabbitstore

import (
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/testkit"
)

// TestTailResubscribesWhileRefusedForNow starts a STOMP tail (the
// registry's kind) on a stream that does not exist yet, as a feed may on
// a node that does not run the stream's replica yet: RabbitMQ refuses
// the SUBSCRIBE (not_found here, precondition_failed there), and the tail
// subscribes again until the stream is there, then syncs, instead of
// failing its feed.
func TestTailResubscribesWhileRefusedForNow(t *testing.T) {
	n := rabbittest.Require(t, node)
	rp := newReplica(t, n, nil)
	queue := "room.tailtest-" + newNonce()[:8]
	sink := newOrderSink()
	tl := startTestTail(t, rp, queue, stompSubscriber(rp.r, queue, "last", testLogger(t)), sink)
	// refused at least once (on a probe: the shared connection stays),
	// then declared
	testkit.Eventually(t, 10*time.Second, "the broker to refuse the SUBSCRIBE", func() bool { return rp.r.Refused() > 0 })
	if err := rp.s.amqp.declareStream(queue, streamArgs("1D", 0, 0), ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rp.s.amqp.deleteStream(queue) })
	sink.waitSynced(t, resubscribeFor)
	// the registry supervisor times its check from this signal: it must
	// come from the subscription made after the refusal
	select {
	case <-tl.confirmed:
	default:
		t.Fatal("tail synced, but its confirmed signal is still open")
	}
}
