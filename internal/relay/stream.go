package relay

import (
	"fmt"
	"strconv"

	"chatrelay/internal/stomp"
)

// Stream subscriptions. A 1:1 subscription whose SUBSCRIBE carries
// x-stream-offset consumes a RabbitMQ stream (x-queue-type: stream), for
// example /amq/queue/room.7 from offset=42. A stream is not a queue: a
// delivery is never taken out of it, an ACK only gives the consumer credit
// for more (RabbitMQ stops after about prefetch-count unacknowledged
// messages), and a NACK or reject is an error that kills the AMQP channel,
// which over STOMP is the whole connection shared by every client on it.
// So the relay
//   - refuses a stream SUBSCRIBE without ack client/client-individual or
//     without a prefetch-count, which RabbitMQ would answer by closing the
//     connection;
//   - never sends NACK for a stream subscription: a client's NACK fails
//     with ErrStreamNack, and on UNSUBSCRIBE or Close the outstanding
//     deliveries are settled with ACK;
//   - remembers the x-stream-offset of the last message it delivered and,
//     after a reconnect, subscribes again from the next offset, dropping
//     (and acknowledging) anything the broker sends at or below it, so the
//     client continues with no gap and no duplicate. A delivery the client
//     had not acknowledged when the connection dropped is not sent again.
//
// UNSUBSCRIBE upstream only ever carries the subscription id: with
// durable:true and x-queue-name RabbitMQ would delete the stream.

// streamOffsetHeader is the SUBSCRIBE header that makes a stream
// subscription, and the MESSAGE header that carries a message's offset.
const streamOffsetHeader = "x-stream-offset"

// maxPrefetch is the largest prefetch-count RabbitMQ accepts (AMQP short).
const maxPrefetch = 65535

// streamState is the part of a 1:1 upSub that only stream subscriptions
// use. Guarded by the upConn's mutex.
type streamState struct {
	stream bool
	// start is the client's x-stream-offset, used until a message with
	// an offset has been delivered.
	start string
	// delivered: last holds the offset of the last message delivered to
	// the client.
	delivered bool
	last      int64
}

// isStream reports whether a client's SUBSCRIBE headers ask for a stream
// subscription.
func isStream(h stomp.Headers) bool {
	_, ok := h.Get(streamOffsetHeader)
	return ok
}

// checkStream refuses a stream SUBSCRIBE that RabbitMQ would answer by
// closing the shared connection: ack mode auto, no or a bad
// prefetch-count, a malformed x-stream-offset.
func checkStream(ack string, h stomp.Headers) error {
	if ack != "client" && ack != "client-individual" {
		return fmt.Errorf("%w: ack must be client or client-individual", ErrStreamHeaders)
	}
	p, ok := h.Get("prefetch-count")
	if !ok {
		return fmt.Errorf("%w: prefetch-count is required", ErrStreamHeaders)
	}
	if n, err := strconv.ParseInt(p, 10, 64); err != nil || n < 1 || n > maxPrefetch {
		return fmt.Errorf("%w: prefetch-count must be an integer from 1 to %d", ErrStreamHeaders, maxPrefetch)
	}
	if !stomp.ValidStreamOffset(h.Value(streamOffsetHeader)) {
		return fmt.Errorf("%w: x-stream-offset must be first, last, next, offset=N or timestamp=N", ErrStreamHeaders)
	}
	return nil
}

// offsetSpec is the x-stream-offset to subscribe with now: right after
// the last delivered message, or the client's own before anything was
// delivered.
func (st *streamState) offsetSpec() string {
	if st.delivered {
		return "offset=" + strconv.FormatInt(st.last+1, 10)
	}
	return st.start
}

// admitStream decides whether a MESSAGE of stream subscription s goes to
// the client: not when its offset is at or below the last delivered one,
// in which case it is acknowledged upstream at once (it still holds
// credit). A MESSAGE without a readable offset is delivered untracked.
// Caller holds c.mu and c.sock != nil.
func (c *upConn) admitStream(s *upSub, f *stomp.Frame) bool {
	off, err := strconv.ParseInt(f.Header(streamOffsetHeader), 10, 64)
	if err != nil {
		return true
	}
	if s.st.delivered && off <= s.st.last {
		c.log.Debug("relay: dropped a stream message delivered before", "subscription", s.id, "offset", off, "last", s.st.last)
		if ack := f.Header("ack"); ack != "" && !c.quirks.localAcks {
			c.writeFrame(stomp.New(stomp.ACK, "id", ack))
		}
		return false
	}
	s.st.delivered, s.st.last = true, off
	return true
}

// endStreams unsubscribes every stream subscription, dropping what its
// client holds, ahead of a DISCONNECT: RabbitMQ 3.10's management plugin
// can keep a stream consumer that was still subscribed when its
// connection closed in its consumer list for good, as a ghost without a
// channel. Caller holds c.mu and c.sock != nil.
func (c *upConn) endStreams(e *effects) {
	for _, s := range c.subs {
		if !s.st.stream {
			continue
		}
		// a stream keeps its messages: nothing to give back, and a
		// NACK would kill the connection
		s.acks.takeAll()
		c.removeSub(s, nil, e)
	}
}
