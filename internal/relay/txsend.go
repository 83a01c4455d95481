package relay

import (
	"errors"
	"strconv"

	"chatrelay/internal/stomp"
)

// A transaction's SENDs. RabbitMQ keeps them and publishes them at
// COMMIT; a SEND it refuses then (a missing exchange, access_refused, a
// header value it cannot read) ends the connection, which on a shared
// upstream connection is every client's, and a probe cannot check such a
// SEND beforehand without publishing it. So the relay keeps a
// transaction's SENDs itself until COMMIT (the client session bounds them:
// limits.max_transaction_bytes), and at COMMIT:
//
//   - when every one is of a kind the broker accepted lately (verify.go),
//     they go into the broker's transaction on the client's pinned
//     connection, followed by the COMMIT, as the client sent them;
//   - otherwise they are made on a probe (probe.go): once the broker has
//     processed the client's earlier frames (a barrier, as for a SEND), a
//     connection of its own makes BEGIN, the SENDs and COMMIT. Each SEND
//     asks for a receipt: RabbitMQ receipts a transaction's SEND when its
//     publish is confirmed, after the COMMIT's own RECEIPT, which says
//     nothing about the publishes.
//     Accepted: the kinds are remembered, the broker's transaction on the
//     shared connection (acks only now) is committed, and the client gets
//     its COMMIT's RECEIPT and then its SENDs' (RabbitMQ's order).
//     Refused: that transaction is aborted (its acks undone, as when
//     RabbitMQ closes the connection), the client hears the broker's
//     reason (a *RefusedError: the session ends it, as RabbitMQ's ERROR
//     would), and nobody else notices. The SENDs before the refused one
//     were published, as RabbitMQ publishes them.
//     No answer (no probe connection, no reply in time): the shared path.
//
// The client's reader waits for the probe (Commit returns after it).

// heldSend is one SEND of a transaction, kept until COMMIT.
type heldSend struct {
	dest    string
	headers stomp.Headers // the client's, transaction and receipt included
	body    []byte
	receipt string
}

// heldKeys returns the distinct frame kinds (sendKey) of transaction tx's
// held SENDs.
func (c *Client) heldKeys(tx string) ([]string, error) {
	var keys []string
	err := c.withHome(func(*upConn) error {
		t := c.txs[tx]
		if t == nil {
			return ErrUnknownTx
		}
		seen := make(map[string]bool)
		for _, hs := range t.held {
			if k := sendKey(hs.dest, hs.headers); !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
		return nil
	})
	return keys, err
}

// needsProbe returns the kinds among keys the broker has not accepted
// lately (refused ones included). Called without locks.
func (r *Relay) needsProbe(keys []string) []string {
	var out []string
	for _, k := range keys {
		if refused, trusted, _, _ := r.verdict(k, false); refused != "" || !trusted {
			out = append(out, k)
		}
	}
	return out
}

// commitProbed commits transaction tx whose SENDs of kinds unverified
// need a probe (see above), and reports whether it did: then err is the
// COMMIT's fate. Otherwise the COMMIT takes the shared path. Called
// without locks, after AwaitOrder.
func (c *Client) commitProbed(tx, receipt string, unverified []string) (bool, error) {
	r := c.r
	for _, k := range unverified {
		if reason, ok := r.refusals.check(k); ok {
			return true, c.refuseTx(tx, reason)
		}
	}
	c.mu.Lock()
	wrote := c.wroteHome
	c.mu.Unlock()
	if wrote && (!c.home.up() || !r.awaitBarrier(c.home, c)) {
		// the client's earlier frames wait in the outbox, or the broker
		// did not answer the barrier in time
		return false, nil
	}
	frames, want, receipts, err := c.probeTx(tx)
	if err != nil {
		return true, err
	}
	ctx, cancel := r.probeContext(c)
	res := r.probeFrames(ctx, c.home.address(), frames, want)
	cancel()
	r.learnTx(unverified, res)
	switch res.outcome {
	case probeUnknown:
		return false, nil
	case probeRefused:
		return true, c.refuseTx(tx, res.reason)
	}
	return true, c.withHome(func(conn *upConn) error {
		t, err := c.endTx(tx)
		if err != nil {
			return err
		}
		if t.lost {
			// the SENDs are published; the acks were lost with the
			// connection, and their messages come again
			return ErrTxLost
		}
		t.held = nil
		it := c.txItem(stomp.COMMIT, t, receipt)
		if receipt != "" || len(receipts) > 0 {
			it.wantReceipt = true
			it.done = commitDone(c.sink, receipt, receipts)
			it.onLost = errCommitUnknown
		}
		c.wroteHome = true
		return conn.enqueue(it)
	})
}

// probeTx builds the frames a probe makes for transaction tx: BEGIN, its
// held SENDs each with a receipt (want), COMMIT; receipts are the
// client's receipts for those SENDs, in order.
func (c *Client) probeTx(tx string) (frames []*stomp.Frame, want, receipts []string, err error) {
	err = c.withHome(func(*upConn) error {
		t := c.txs[tx]
		if t == nil {
			return ErrUnknownTx
		}
		pt := &txn{up: "probe-tx"}
		frames = append(frames, stomp.New(stomp.BEGIN, "transaction", pt.up))
		for i, hs := range t.held {
			f := sendFrame(hs.dest, hs.headers, hs.body, pt)
			id := "probe-" + strconv.Itoa(i)
			f.Headers = append(f.Headers, stomp.Header{Key: "receipt", Value: id})
			frames = append(frames, f)
			want = append(want, id)
			if hs.receipt != "" {
				receipts = append(receipts, hs.receipt)
			}
		}
		frames = append(frames, stomp.New(stomp.COMMIT, "transaction", pt.up))
		return nil
	})
	return frames, want, receipts, err
}

// learnTx remembers what a transaction's probe taught about the frame
// kinds it had not verified: all accepted, or (when it was the only one)
// that kind refused.
func (r *Relay) learnTx(unverified []string, res probeResult) {
	switch res.outcome {
	case probeAccepted:
		v := &r.verifier
		v.mu.Lock()
		for _, k := range unverified {
			v.acceptLocked(k)
		}
		v.mu.Unlock()
	case probeRefused:
		r.refused.Add(1)
		if len(unverified) == 1 {
			r.rememberRefusal(unverified[0], res)
		}
		r.log.Warn("relay: broker refused a transaction's SEND on a probe; told its client only",
			"kinds", len(unverified), "reason", res.reason, "body", truncate(res.body, 300))
	}
}

// refuseTx ends transaction tx after the broker refused one of its SENDs:
// the broker's transaction is aborted (acks undone), and the refusal is
// returned for the client.
func (c *Client) refuseTx(tx, reason string) error {
	if err := c.Abort(tx, ""); err != nil && !errors.Is(err, ErrUnknownTx) {
		return err
	}
	return &RefusedError{Reason: reason}
}
