package relay

import (
	"strconv"

	"chatrelay/internal/stomp"
)

// pending is an upstream frame that asked for a RECEIPT on the current
// socket. Exactly one of sub, item and onOK is the point of it.
type pending struct {
	// sub is confirmed by the RECEIPT of its SUBSCRIBE.
	sub *upSub
	// restore marks a SUBSCRIBE re-sent after a reconnect: its RECEIPT
	// counts down upConn.restoreLeft even if the subscription has gone.
	restore bool
	// item is a SEND or transaction frame.
	item *outItem
	// onOK runs (outside the lock) on the RECEIPT, or when the
	// connection drops first; for UNSUBSCRIBE, ACK, NACK, DISCONNECT
	// the broker's cleanup makes the effect true either way.
	onOK func()
}

// newReceiptID returns an upstream receipt id unique on this connection.
// Caller holds c.mu.
func (c *upConn) newReceiptID() string {
	c.seq++
	return "r" + strconv.FormatUint(c.seq, 10)
}

// writeWithReceipt writes f on the current socket with a fresh receipt id
// registered for p. Caller holds c.mu and c.sock != nil.
//
// go-stomp's server never receipts SUBSCRIBE or UNSUBSCRIBE, so behind it
// the receipt rides on a BEGIN/ABORT pair written right after the frame:
// it processes one connection's frames in order and hands the subscription
// to its broker loop before it reads the BEGIN, so the RECEIPT still means
// "the subscription is in place".
func (c *upConn) writeWithReceipt(f *stomp.Frame, p *pending) {
	id := c.newReceiptID()
	c.receipts[id] = p
	if c.quirks.noSubscribeReceipts && (f.Command == stomp.SUBSCRIBE || f.Command == stomp.UNSUBSCRIBE) {
		c.writeFrame(f)
		tx := "barrier-" + id
		c.writeFrame(stomp.New(stomp.BEGIN, "transaction", tx, "receipt", id))
		c.writeFrame(stomp.New(stomp.ABORT, "transaction", tx))
		return
	}
	g := &stomp.Frame{Command: f.Command, Headers: append(f.Headers.Clone(), stomp.Header{Key: "receipt", Value: id}), Body: f.Body}
	c.writeFrame(g)
}

// onReceipt handles a RECEIPT from the broker. Caller holds c.mu.
func (c *upConn) onReceipt(f *stomp.Frame, e *effects) {
	id := f.Header("receipt-id")
	p, ok := c.receipts[id]
	if !ok {
		c.log.Debug("relay: RECEIPT for unknown id", "receipt-id", id)
		return
	}
	delete(c.receipts, id)
	switch {
	case p.sub != nil:
		c.confirm(p.sub, e)
		if p.restore {
			c.restoreLeft--
			c.maybeRestored(e)
		}
	case p.item != nil:
		c.dropInflight(p.item)
		p.item.fail(e, nil)
	default:
		e.call(p.onOK)
	}
}

// dropInflight removes it from the written-not-receipted SENDs.
func (c *upConn) dropInflight(it *outItem) {
	for i, x := range c.inflight {
		if x == it {
			c.inflight = append(c.inflight[:i], c.inflight[i+1:]...)
			return
		}
	}
}

// loseReceipts settles every receipt of a socket that just died. Caller
// holds c.mu. SENDs come back in c.inflight order for re-queueing.
func (c *upConn) loseReceipts(e *effects) (requeue []*outItem) {
	for id, p := range c.receipts {
		delete(c.receipts, id)
		switch {
		case p.sub != nil:
			// re-sent with a new receipt when the connection is back
		case p.item != nil:
			if !p.item.isSend() {
				p.item.fail(e, p.item.onLost)
			}
		default:
			e.call(p.onOK)
		}
	}
	for _, it := range c.inflight {
		if it.tx != nil {
			// the broker discarded the transaction with the connection;
			// COMMIT will report it
			it.fail(e, ErrTxLost)
			continue
		}
		requeue = append(requeue, it)
	}
	c.inflight = nil
	return requeue
}
