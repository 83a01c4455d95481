package relay

import (
	"strings"

	"chatrelay/internal/stomp"
)

// Local acks stand in for a broker whose acks do not work (go-stomp's
// server, see quirks.localAcks). Its 1:1 subscriptions are auto-ack
// upstream and the relay keeps every delivered message until the client
// settles it: ACK only updates the relay's books, and NACK, an UNSUBSCRIBE
// or a lost connection give the message back by publishing it to its
// destination again, marked redelivered. Transactions work as on RabbitMQ:
// acks inside one are undone by ABORT, and the give-back SENDs carry the
// transaction so the broker drops them on ABORT.
//
// When a client leaves, the relay UNSUBSCRIBEs first and SENDs the
// give-backs after it, on the same connection: go-stomp's server handles
// one connection's frames in order, so the give-backs can no longer reach
// the departing subscription. Before, they went out first and its queue
// could hand them straight back to that subscription, still live; they
// then arrived for an id the relay had forgotten and were dropped (lost:
// the subscription is ack:auto upstream). A MESSAGE already on its way
// when the UNSUBSCRIBE is written arrives for the retired id and is given
// back the same way (onRetiredMessage, settle.go), as on RabbitMQ.
//
// Only queues take give-backs: on go-stomp's server a destination is a
// queue when it starts with "/queue"; anything else is a topic, and
// publishing a message to it again would hand it to every subscriber
// once more. On RabbitMQ a 1:1 topic subscription has a queue of its own
// that goes with it, so what its client leaves unacknowledged goes too.

// queuePrefix is what a queue destination starts with on go-stomp's
// server.
const queuePrefix = "/queue"

// localGiveBack publishes m, a delivery of a subscription to dest that
// its client left unsettled, to dest again, marked redelivered, when dest
// is a queue. Caller holds c.mu and c.sock != nil.
func (c *upConn) localGiveBack(dest string, m *stomp.Frame) {
	if m == nil || !strings.HasPrefix(dest, queuePrefix) {
		return
	}
	c.writeFrame(requeueFrame(dest, m, nil))
}

// requeueFrame is the SEND that gives the message m back to dest, inside
// t if not nil.
func requeueFrame(dest string, m *stomp.Frame, t *txn) *stomp.Frame {
	f := &stomp.Frame{Command: stomp.SEND, Body: m.Body}
	f.Headers = append(make(stomp.Headers, 0, len(m.Headers)+2), stomp.Header{Key: "destination", Value: dest})
	if t != nil {
		f.Headers = append(f.Headers, stomp.Header{Key: "transaction", Value: t.up})
	}
	for _, kv := range m.Headers {
		switch kv.Key {
		case "destination", "subscription", "message-id", "ack", "id", "content-length",
			"receipt", "transaction", "redelivered":
		default:
			f.Headers = append(f.Headers, kv)
		}
	}
	f.Headers = append(f.Headers, stomp.Header{Key: "redelivered", Value: "true"})
	return f
}

// localRequeueItems are the give-back SENDs for every message the clients
// of this connection hold unsettled, for a connection that just died: the
// broker already considers them acknowledged. Caller holds c.mu.
func (c *upConn) localRequeueItems() []*outItem {
	var items []*outItem
	add := func(s *upSub, x *ackEntry) {
		if x.frame == nil || s.st.stream || !strings.HasPrefix(s.dest, queuePrefix) {
			// a stream keeps its messages, a topic's go with its
			// subscription: nothing to give back
			return
		}
		f := requeueFrame(s.dest, x.frame, nil)
		items = append(items, &outItem{frame: f, size: frameSize(f)})
	}
	for _, s := range c.subs {
		if s.shared {
			continue
		}
		for _, x := range s.acks.pending() {
			add(s, x)
		}
	}
	for t := range c.txns {
		if !t.written {
			continue
		}
		for _, ta := range t.acks {
			for _, x := range ta.entries {
				add(ta.sub, x)
			}
		}
	}
	return items
}

// localSettle settles entries of s for an ACK or NACK on a connection with
// local acks. Caller holds c.mu and conn.mu.
func (c *Client) localSettle(cmd string, s *upSub, entries []*ackEntry, t *txn, requeue bool, receipt string, e *effects) error {
	conn := c.home
	if cmd == stomp.ACK || !requeue {
		if fn := clientReceipt(c.sink, receipt); fn != nil {
			e.call(func() { fn(nil) })
		}
		return nil
	}
	frames := make([]*stomp.Frame, 0, len(entries))
	for _, x := range entries {
		if x.frame != nil {
			frames = append(frames, requeueFrame(s.dest, x.frame, t))
		}
	}
	return c.writeSettle(conn, frames, t, receipt)
}
