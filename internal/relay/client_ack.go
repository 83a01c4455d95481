package relay

import "chatrelay/internal/stomp"

// Ack acknowledges a message delivered to this client. h is the client's
// ACK: STOMP 1.2 "id" (the MESSAGE's ack header), or STOMP 1.0/1.1
// "message-id" (+ "subscription"); optional "transaction" and "receipt".
// An id the relay did not deliver to this client, or that is already
// acknowledged, is refused with ErrUnknownAck and never reaches the broker;
// an id from before a broker reconnect is ignored (the broker redelivers
// that message). In ack mode "client" the ACK is cumulative.
func (c *Client) Ack(h stomp.Headers) error { return c.ackOrNack(stomp.ACK, h) }

// Nack rejects a message delivered to this client; the broker requeues it
// (unless h carries "requeue: false"). Ids are checked as for Ack; in ack
// mode "client" the NACK is cumulative, as RabbitMQ makes it.
// On a stream subscription NACK fails with ErrStreamNack and nothing is
// forwarded; the message stays unacknowledged.
func (c *Client) Nack(h stomp.Headers) error { return c.ackOrNack(stomp.NACK, h) }

func (c *Client) ackOrNack(cmd string, h stomp.Headers) error {
	id, msgID := h.Value("id"), h.Value("message-id")
	if id == "" && msgID == "" {
		return ErrMissingHeader
	}
	var e effects
	defer e.run()
	return c.withHome(func(conn *upConn) error { return c.settleLocked(conn, cmd, h, id, msgID, &e) })
}

// settleLocked checks and forwards one ACK or NACK. Caller holds c.mu and
// conn.mu (conn is c.home).
func (c *Client) settleLocked(conn *upConn, cmd string, h stomp.Headers, id, msgID string, e *effects) error {
	receipt := h.Value("receipt")
	var t *txn
	if name := h.Value("transaction"); name != "" {
		if t = c.txs[name]; t == nil {
			return ErrUnknownTx
		}
	}
	s, entry, stale, err := c.findAck(id, msgID, h.Value("subscription"))
	if err != nil {
		return err
	}
	if cmd == stomp.NACK && s != nil && s.st.stream {
		// RabbitMQ would kill the channel, and with it the connection
		return ErrStreamNack
	}
	if entry == nil || (t != nil && t.lost) {
		if !stale && (t == nil || !t.lost) {
			return ErrUnknownAck
		}
		// From before a reconnect: the broker will redeliver the
		// message. Inside a transaction that died with the connection:
		// the client is told at once.
		if t != nil {
			return ErrTxLost
		}
		if fn := clientReceipt(c.sink, receipt); fn != nil {
			e.call(func() { fn(nil) })
		}
		return nil
	}
	entries := s.acks.take(entry, s.clientAck == "client")
	requeue, hasRequeue := h.Get("requeue")
	if conn.quirks.localAcks {
		err = c.localSettle(cmd, s, entries, t, requeue != "false", receipt, e)
	} else {
		frames := make([]*stomp.Frame, len(entries))
		for i, x := range entries {
			f := ackFrame(cmd, x)
			if t != nil {
				f.Headers = append(f.Headers, stomp.Header{Key: "transaction", Value: t.up})
			}
			if cmd == stomp.NACK && hasRequeue {
				f.Headers = append(f.Headers, stomp.Header{Key: "requeue", Value: requeue})
			}
			frames[i] = f
		}
		err = c.writeSettle(conn, frames, t, receipt)
	}
	if err != nil {
		s.acks.restore(entries)
		return err
	}
	if t != nil {
		t.acks = append(t.acks, txAcks{sub: s, entries: entries})
	}
	return nil
}

// writeSettle writes the upstream frames of one ACK or NACK, the client's
// receipt on the last. Inside a transaction whose BEGIN still waits in the
// outbox they queue behind it, all or none. Caller holds c.mu and
// conn.mu.
func (c *Client) writeSettle(conn *upConn, frames []*stomp.Frame, t *txn, receipt string) error {
	if len(frames) == 0 {
		return nil
	}
	if t != nil && !t.written {
		items := make([]*outItem, len(frames))
		for i, f := range frames {
			items[i] = &outItem{frame: f, size: frameSize(f), tx: t}
		}
		if receipt != "" {
			last := items[len(items)-1]
			last.wantReceipt, last.done = true, clientReceipt(c.sink, receipt)
		}
		return conn.outbox.pushAll(items)
	}
	for i, f := range frames {
		if i == len(frames)-1 && receipt != "" {
			sink := c.sink
			conn.writeWithReceipt(f, &pending{onOK: func() { sink.Deliver(receiptFrame(receipt)) }})
			continue
		}
		conn.writeFrame(f)
	}
	return nil
}

// findAck finds the delivery an ACK/NACK names among the client's 1:1
// subscriptions: by id (STOMP 1.2), else by message-id, first within
// subID (STOMP 1.1) and then, as RabbitMQ does, within every
// subscription. Only this client's tables are searched. Caller holds c.mu and c.home.mu.
func (c *Client) findAck(id, msgID, subID string) (s *upSub, e *ackEntry, stale bool, err error) {
	if id == "" && subID != "" {
		// the subscription named first; RabbitMQ resolves a STOMP 1.1
		// ACK by its message-id alone, whatever subscription header it
		// carries, and so does the relay when that one has no such id
		if cs := c.subs[subID]; cs != nil && !cs.up.shared {
			if e, _ := cs.up.acks.find(msgID); e != nil {
				return cs.up, e, false, nil
			}
		}
	}
	if id == "" {
		id = msgID
	}
	for _, cs := range c.subs {
		if cs.up.shared {
			continue
		}
		x, st := cs.up.acks.find(id)
		if x != nil {
			return cs.up, x, false, nil
		}
		stale = stale || st
	}
	return nil, nil, stale, nil
}
