package relay

import (
	"strconv"
	"strings"

	"chatrelay/internal/stomp"
)

// Giving back what a departing client left unacknowledged, on RabbitMQ.
//
// RabbitMQ's STOMP adapter runs one AMQP channel per connection, and a
// delivery stays unacknowledged on that channel until it is settled or
// the channel closes: cancelling the consumer does not give it back.
// Neither order of NACK and UNSUBSCRIBE works for the departing
// subscription itself (RabbitMQ 3.10, rabbit_facts_test.go):
//   - NACK first requeues the message, and the queue hands it straight
//     back to the same consumer, still live; once the UNSUBSCRIBE lands
//     that redelivery reaches the adapter for a subscription it no longer
//     knows, becomes ERROR "Subscription not found" ("There is no current
//     subscription with tag 'T_<id>'") and stays unacknowledged for good;
//   - UNSUBSCRIBE first, and the NACK naming the cancelled subscription
//     is refused ("Message with id ... has no subscription").
//
// But the adapter uses the subscription named in a NACK's id only to
// look up its ack mode; the NACK itself (basic.nack) is the channel's,
// by delivery tag. So the relay UNSUBSCRIBEs first, then NACKs each
// delivery under the id of another subscription the adapter still knows
// on the connection. Every upstream subscription of the relay is ack
// auto or client-individual (never the cumulative "client"), so the NACK
// requeues exactly that one delivery. When the connection has no other
// confirmed subscription the relay opens an anchor for the purpose: an
// ack:auto subscription to anchorDest that nothing is expected to
// publish to, kept for the rest of the socket's life.
//
// A delivery already on its way when the consumer is cancelled arrives
// either as a MESSAGE for the retired subscription, or, when the adapter
// has processed the cancel first, as that ERROR, which names no delivery
// tag. Delivery tags count every delivery on the channel from 1, and the
// adapter turns each into a MESSAGE or that ERROR in order, so the
// relay follows the count (lastTag) and knows the ERROR's tag is the
// next one. Both are NACKed the same way when the retired subscription
// took acks; an ack:auto one's deliveries need nothing. A stream
// subscription's deliveries are never NACKed (stream.go).

// anchorDest is where the anchor subscription listens.
const anchorDest = "/topic/chatrelay.settle"

// settler is the per-socket state for settling deliveries of cancelled
// subscriptions. Guarded by the upConn's mutex; reset on every socket.
type settler struct {
	lastTag uint64 // delivery tag of the last delivery seen on the channel
	suffix  string // "@@<session>@@" of RabbitMQ's message ids
	anchor  string // upstream id of the anchor subscription, "" if none
}

// noteTag follows the channel's delivery tags from a MESSAGE's
// message-id ("T_<subscription>@@<session>@@<tag>"). Caller holds c.mu.
func (c *upConn) noteTag(f *stomp.Frame) (uint64, bool) {
	id := f.Header("message-id")
	i := strings.Index(id, "@@")
	j := strings.LastIndex(id, "@@")
	if i < 0 || j <= i {
		return 0, false
	}
	tag, err := strconv.ParseUint(id[j+2:], 10, 64)
	if err != nil {
		return 0, false
	}
	if c.settle.lastTag != 0 && tag != c.settle.lastTag+1 {
		c.log.Warn("relay: delivery tags out of step", "want", c.settle.lastTag+1, "got", tag)
	}
	c.settle.lastTag, c.settle.suffix = tag, id[i:j+2]
	return tag, true
}

// giveBackAll gives back every delivery s holds unacknowledged, s being
// on its way out (UNSUBSCRIBE, Close): UNSUBSCRIBE, then NACK each (see
// above), or SEND each again when acks are local (localacks.go). done
// runs once the broker confirms the UNSUBSCRIBE. Caller holds c.mu.
func (c *upConn) giveBackAll(s *upSub, done func(), e *effects) {
	if c.sock == nil {
		c.removeSub(s, done, e)
		return
	}
	entries := s.acks.takeAll()
	c.removeSub(s, done, e)
	if s.st.stream {
		return // nothing to give back; a NACK would kill the connection
	}
	for _, x := range entries {
		if c.quirks.localAcks {
			c.localGiveBack(s.dest, x.frame)
		} else {
			c.nackRetired(x.up)
		}
	}
}

// giveBackAborted gives back the deliveries that an ABORT, just written,
// left unacknowledged for subscriptions already unsubscribed: ACKs and
// NACKs inside the transaction that are now undone. Caller holds c.mu
// and c.sock != nil.
func (c *upConn) giveBackAborted(orphans []txAcks) {
	for _, ta := range orphans {
		if ta.sub.st.stream {
			continue
		}
		for _, x := range ta.entries {
			if c.quirks.localAcks {
				c.localGiveBack(ta.sub.dest, x.frame)
			} else {
				c.nackRetired(x.up)
			}
		}
	}
}

// nackRetired NACKs (requeue) the delivery whose RabbitMQ ack id is up,
// of a subscription already UNSUBSCRIBEd, under the id of a subscription
// the adapter still knows. Caller holds c.mu and c.sock != nil.
func (c *upConn) nackRetired(up string) {
	i := strings.Index(up, "@@")
	if i < 0 {
		c.log.Warn("relay: cannot give back a delivery with an unknown ack id", "ack", up)
		return
	}
	c.writeFrame(stomp.New(stomp.NACK, "id", "T_"+c.liveSubID()+up[i:]))
}

// nackTag NACKs delivery tag of a retired subscription (see nackRetired).
// Caller holds c.mu and c.sock != nil.
func (c *upConn) nackTag(tag uint64) {
	if c.settle.suffix == "" {
		c.log.Warn("relay: cannot give back a delivery: session id unknown", "tag", tag)
		return
	}
	c.nackRetired("T_x" + c.settle.suffix + strconv.FormatUint(tag, 10))
}

// liveSubID returns the upstream id of a subscription the broker has
// confirmed and the relay has not cancelled, opening the anchor when
// there is none. Caller holds c.mu and c.sock != nil.
func (c *upConn) liveSubID() string {
	for id, s := range c.subs {
		if s.confirmed {
			return id
		}
	}
	if c.settle.anchor == "" {
		c.settle.anchor = c.newSubID()
		c.writeWithReceipt(stomp.New(stomp.SUBSCRIBE, "id", c.settle.anchor, "destination", anchorDest, "ack", "auto"), &pending{})
	}
	return c.settle.anchor
}

// onRetiredMessage settles a MESSAGE for a subscription the relay has
// cancelled, if that subscription took acks: NACK, or SEND it again when
// acks are local. Caller holds c.mu and c.sock != nil.
func (c *upConn) onRetiredMessage(sub string, f *stomp.Frame) {
	r, ok := c.retired.get(sub)
	if !ok || !r.acks {
		return
	}
	if c.quirks.localAcks {
		c.log.Debug("relay: gave back a delivery that arrived after UNSUBSCRIBE", "subscription", sub)
		c.localGiveBack(r.dest, f)
		return
	}
	if up := f.Header("ack"); up != "" {
		c.log.Debug("relay: gave back a delivery that arrived after UNSUBSCRIBE", "subscription", sub)
		c.nackRetired(up)
	}
}

// retiredIDs remembers the last few hundred unsubscribed upstream ids,
// and whether their deliveries need settling.
type retiredIDs struct {
	ring [512]string
	next int
	set  map[string]retiredSub
}

// retiredSub is what the relay still needs of an unsubscribed upstream
// subscription.
type retiredSub struct {
	acks bool   // its deliveries wait for an ACK or NACK (upSub.takesAcks)
	dest string // its destination, where local acks give a delivery back
}

func (r *retiredIDs) add(id string, rs retiredSub) {
	if r.set == nil {
		r.set = make(map[string]retiredSub)
	}
	delete(r.set, r.ring[r.next])
	r.ring[r.next] = id
	r.next = (r.next + 1) % len(r.ring)
	r.set[id] = rs
}

func (r *retiredIDs) get(id string) (retiredSub, bool) {
	rs, ok := r.set[id]
	return rs, ok
}

func (r *retiredIDs) has(id string) bool {
	_, ok := r.set[id]
	return ok
}

// takesAcks reports whether the retired subscription id took acks
// (client-individual upstream, not a stream).
func (r *retiredIDs) takesAcks(id string) bool {
	return r.set[id].acks
}
