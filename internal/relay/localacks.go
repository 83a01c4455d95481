package relay

import "chatrelay/internal/stomp"

// Local acks stand in for a broker whose acks do not work (go-stomp's
// server, see quirks.localAcks). Its 1:1 subscriptions are auto-ack
// upstream and the relay keeps every delivered message until the client
// settles it: ACK only updates the relay's books, and NACK, an UNSUBSCRIBE
// or a lost connection give the message back by publishing it to its
// destination again, marked redelivered. Transactions work as on RabbitMQ:
// acks inside one are undone by ABORT, and the give-back SENDs carry the
// transaction so the broker drops them on ABORT.

// requeueFrame is the SEND that gives the message of e back to the
// destination of s, inside t if not nil.
func requeueFrame(s *upSub, e *ackEntry, t *txn) *stomp.Frame {
	f := &stomp.Frame{Command: stomp.SEND, Body: e.frame.Body}
	f.Headers = append(make(stomp.Headers, 0, len(e.frame.Headers)+2), stomp.Header{Key: "destination", Value: s.dest})
	if t != nil {
		f.Headers = append(f.Headers, stomp.Header{Key: "transaction", Value: t.up})
	}
	for _, kv := range e.frame.Headers {
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
		if x.frame == nil || s.st.stream {
			// a stream keeps its messages: nothing to give back
			return
		}
		f := requeueFrame(s, x, nil)
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
			frames = append(frames, requeueFrame(s, x, t))
		}
	}
	return c.writeSettle(conn, frames, t, receipt)
}
