package relay

import "chatrelay/internal/stomp"

// outItem is one client or server frame on its way upstream through the
// ordered path: SEND, BEGIN, COMMIT, ABORT, or an ACK/NACK inside a
// transaction whose BEGIN has not been written yet.
type outItem struct {
	frame *stomp.Frame // without a receipt header; one is added when written
	size  int
	// wantReceipt asks the broker for a RECEIPT; done runs on it.
	wantReceipt bool
	// done runs outside the lock once the fate of the frame is known: nil
	// after the broker's RECEIPT, an error when the frame is given up.
	// A SEND that was written but not receipted when the connection
	// dropped is not given up: it is queued again.
	done func(error)
	// onLost decides what done gets when a non-SEND frame with a receipt
	// was written and the connection dropped before its RECEIPT; nil
	// means done(nil): the broker's cleanup made the frame's effect true
	// (an ABORT, a BEGIN of a transaction now dead anyway).
	onLost error
	// tx is the transaction the frame belongs to, if any.
	tx *txn
}

// isSend reports whether the item is a SEND (the only kind re-queued after
// a connection loss).
func (it *outItem) isSend() bool { return it.frame.Command == stomp.SEND }

// fail runs done with err, if there is a done.
func (it *outItem) fail(e *effects, err error) {
	if it.done != nil {
		done := it.done
		e.call(func() { done(err) })
	}
}

// frameSize estimates the encoded size of f for the outbox byte limit.
func frameSize(f *stomp.Frame) int {
	n := len(f.Command) + len(f.Body) + 2
	for _, h := range f.Headers {
		n += len(h.Key) + len(h.Value) + 2
	}
	return n
}

// outbox is the bounded, ordered queue of frames that wait for the
// upstream connection to come back. It is guarded by the upConn's mutex.
type outbox struct {
	items     []*outItem
	bytes     int
	maxFrames int
	maxBytes  int
}

// push appends it, or returns ErrOutboxFull.
func (o *outbox) push(it *outItem) error {
	if len(o.items) >= o.maxFrames || o.bytes+it.size > o.maxBytes {
		return ErrOutboxFull
	}
	o.items = append(o.items, it)
	o.bytes += it.size
	return nil
}

// pushAll appends every item, or none and returns ErrOutboxFull.
func (o *outbox) pushAll(items []*outItem) error {
	size := 0
	for _, it := range items {
		size += it.size
	}
	if len(o.items)+len(items) > o.maxFrames || o.bytes+size > o.maxBytes {
		return ErrOutboxFull
	}
	o.items = append(o.items, items...)
	o.bytes += size
	return nil
}

// pushFront puts items back at the front in their order. They were already
// accepted, so the limits do not apply to them.
func (o *outbox) pushFront(items []*outItem) {
	if len(items) == 0 {
		return
	}
	for _, it := range items {
		o.bytes += it.size
	}
	o.items = append(append(make([]*outItem, 0, len(items)+len(o.items)), items...), o.items...)
}

// takeAll empties the outbox and returns its items in order.
func (o *outbox) takeAll() []*outItem {
	items := o.items
	o.items, o.bytes = nil, 0
	return items
}

// len returns the number of queued items.
func (o *outbox) len() int { return len(o.items) }
