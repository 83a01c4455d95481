package relay

import (
	"errors"
	"strconv"

	"chatrelay/internal/stomp"
)

// txn is one client transaction, mapped to an upstream id unique on the
// client's pinned connection. Guarded by that connection's mutex.
type txn struct {
	up string // upstream transaction id
	// written: the BEGIN went out on the current socket. Until then
	// every frame of the transaction takes the ordered path (outbox).
	written bool
	// lost: the socket the BEGIN went out on has died, and with it the
	// broker's transaction.
	lost bool
	// acks are the deliveries acknowledged (or nacked) inside the
	// transaction; an ABORT gives them back to their subscriptions.
	acks []txAcks
	// held are the transaction's SENDs, kept by the relay until COMMIT
	// (txsend.go); the broker gets them then.
	held []heldSend
}

// txAcks are deliveries of one subscription taken into a transaction.
type txAcks struct {
	sub     *upSub
	entries []*ackEntry
}

// errCommitUnknown is what a client hears when its COMMIT went out but the
// connection dropped before the broker's RECEIPT.
var errCommitUnknown = errors.New("transaction outcome unknown: broker connection lost during COMMIT")

// Begin starts transaction tx. A receipt is delivered once the broker
// receipts the BEGIN.
func (c *Client) Begin(tx, receipt string) error {
	if tx == "" {
		return ErrMissingHeader
	}
	return c.withHome(func(conn *upConn) error {
		if _, ok := c.txs[tx]; ok {
			return ErrTxExists
		}
		c.txSeq++
		t := &txn{up: "c" + strconv.FormatUint(c.num, 10) + "-t" + strconv.FormatUint(c.txSeq, 10)}
		it := c.txItem(stomp.BEGIN, t, receipt)
		if err := conn.enqueue(it); err != nil {
			return err
		}
		c.txs[tx] = t
		conn.txns[t] = struct{}{}
		return nil
	})
}

// Commit commits transaction tx. It fails with ErrUnknownTx for a
// transaction never begun, and with ErrTxLost when the upstream connection
// dropped since BEGIN (nothing is forwarded then). Its SENDs take effect
// now: like Send, it first waits for the client's unconfirmed shared
// subscriptions on other connections (AwaitOrder). SENDs of a kind the
// broker has not accepted lately are made on a probe (txsend.go); a
// *RefusedError says the broker refused one.
func (c *Client) Commit(tx, receipt string) error {
	c.AwaitOrder()
	keys, err := c.heldKeys(tx)
	if err != nil {
		return err
	}
	if unverified := c.r.needsProbe(keys); len(unverified) > 0 {
		if handled, err := c.commitProbed(tx, receipt, unverified); handled {
			return err
		}
	}
	return c.withHome(func(conn *upConn) error {
		t, err := c.endTx(tx)
		if err != nil {
			return err
		}
		if t.lost {
			return ErrTxLost
		}
		items := make([]*outItem, 0, len(t.held)+1)
		for _, hs := range t.held {
			items = append(items, c.sendItem(hs.dest, hs.headers, hs.body, hs.receipt, t))
		}
		t.held = nil
		it := c.txItem(stomp.COMMIT, t, receipt)
		if receipt != "" {
			it.done = commitDone(c.sink, receipt, nil)
			it.onLost = errCommitUnknown
		}
		c.wroteHome = true
		if err := conn.enqueueAll(append(items, it)); err != nil {
			// the broker's transaction may hold acks: end it
			_ = conn.enqueue(c.txItem(stomp.ABORT, t, ""))
			return err
		}
		return nil
	})
}

// commitDone is the fate of a COMMIT with receipt: its RECEIPT (or an
// ERROR naming it), then the RECEIPTs of held SENDs made on a probe,
// which RabbitMQ too sends after the COMMIT's.
func commitDone(sink Sink, receipt string, after []string) func(error) {
	return func(err error) {
		if err != nil {
			if receipt != "" {
				sink.Deliver(errorFrame(err.Error(), receipt))
			}
			return
		}
		if receipt != "" {
			sink.Deliver(receiptFrame(receipt))
		}
		for _, id := range after {
			sink.Deliver(receiptFrame(id))
		}
	}
}

// Abort rolls back transaction tx: acknowledgements made inside it are
// undone, so the messages can be acknowledged again. Aborting a
// transaction lost in a reconnect succeeds without reaching the broker.
func (c *Client) Abort(tx, receipt string) error {
	var e effects
	defer e.run()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	return c.abortLocked(tx, receipt, &e)
}

// abortLocked aborts tx. Caller holds c.mu.
func (c *Client) abortLocked(tx, receipt string, e *effects) error {
	conn := c.home
	conn.mu.Lock()
	defer conn.mu.Unlock()
	t, err := c.endTx(tx)
	if err != nil {
		return err
	}
	if t.lost {
		if fn := clientReceipt(c.sink, receipt); fn != nil {
			e.call(func() { fn(nil) })
		}
		return nil
	}
	var orphans []txAcks
	for _, ta := range t.acks {
		if conn.subs[ta.sub.id] == ta.sub {
			ta.sub.acks.restore(ta.entries)
		} else {
			// unsubscribed meanwhile: given back once the ABORT is
			// written (settle.go)
			orphans = append(orphans, ta)
		}
	}
	it := c.txItem(stomp.ABORT, t, receipt)
	direct := conn.direct(it)
	if err := conn.enqueue(it); err != nil {
		return err
	}
	if direct {
		conn.giveBackAborted(orphans)
	} else if len(orphans) > 0 {
		conn.log.Warn("relay: cannot give back the acks of an aborted transaction queued behind a reconnect", "messages", len(orphans))
	}
	return nil
}

// endTx removes and returns the open transaction tx. Caller holds c.mu and
// c.home.mu.
func (c *Client) endTx(tx string) (*txn, error) {
	t, ok := c.txs[tx]
	if !ok {
		return nil, ErrUnknownTx
	}
	delete(c.txs, tx)
	delete(c.home.txns, t)
	return t, nil
}

// txItem is the ordered-path item for BEGIN, COMMIT or ABORT of t.
func (c *Client) txItem(cmd string, t *txn, receipt string) *outItem {
	f := stomp.New(cmd, "transaction", t.up)
	return &outItem{frame: f, size: frameSize(f), wantReceipt: receipt != "", done: clientReceipt(c.sink, receipt), tx: t}
}
