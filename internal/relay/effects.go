package relay

import "chatrelay/internal/stomp"

// effects collects what a locked section decided to do outside the lock:
// frames for sinks and callbacks. Sinks and callbacks are never called with
// a relay lock held, so a sink may call back into its Client.
type effects []effect

type effect struct {
	sink Sink
	f    *stomp.Frame
	fn   func()
}

// deliver queues f for s.
func (e *effects) deliver(s Sink, f *stomp.Frame) {
	if s != nil {
		*e = append(*e, effect{sink: s, f: f})
	}
}

// call queues fn.
func (e *effects) call(fn func()) {
	if fn != nil {
		*e = append(*e, effect{fn: fn})
	}
}

// run performs the effects in order and empties the list.
func (e *effects) run() {
	for i, x := range *e {
		if x.fn != nil {
			x.fn()
		} else {
			x.sink.Deliver(x.f)
		}
		(*e)[i] = effect{}
	}
	*e = (*e)[:0]
}

// receiptFrame is the RECEIPT a client gets for its receipt id.
func receiptFrame(id string) *stomp.Frame {
	return stomp.New(stomp.RECEIPT, "receipt-id", id)
}

// errorFrame is a fatal ERROR for one client.
func errorFrame(msg, receipt string) *stomp.Frame {
	f := stomp.New(stomp.ERROR, "message", msg)
	if receipt != "" {
		f.Headers = append(f.Headers, stomp.Header{Key: "receipt-id", Value: receipt})
	}
	return f
}

// clientReceipt returns a callback that delivers a RECEIPT for id to s when
// it gets a nil error, or nil when id is empty.
func clientReceipt(s Sink, id string) func(error) {
	if id == "" {
		return nil
	}
	return func(err error) {
		if err == nil {
			s.Deliver(receiptFrame(id))
		}
	}
}
