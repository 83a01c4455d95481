package relay

import (
	"chatrelay/internal/stomp"
)

// ackEntry is one delivered, unacknowledged message of a 1:1 subscription.
type ackEntry struct {
	seq  uint64
	id   string // the relay's id the client saw (message-id and ack)
	up   string // the broker's ACK id for the delivery
	done bool   // acknowledged, nacked, or taken into a transaction
	// frame is the delivered MESSAGE, kept only when acks are local
	// (embedded broker) to give it back to its queue.
	frame *stomp.Frame
}

// maxStale bounds how many pre-reconnect ids a subscription remembers.
const maxStale = 4096

// ackLog tracks the deliveries of one 1:1 subscription in the current
// upstream socket that its client has not settled, by the relay's ids
// (see msgids.go), so that an ACK or NACK the relay did not deliver to
// this client (never delivered, another client's, made up, already
// settled, from before a reconnect) is never forwarded: RabbitMQ would
// close the shared connection. It holds only what is unsettled: entries
// go on ACK, NACK, UNSUBSCRIBE and the client's Close. Guarded by the
// upConn's mutex.
type ackLog struct {
	seq   uint64
	order []*ackEntry // delivery order; done entries are skipped and compacted
	byID  map[string]*ackEntry
	stale map[string]struct{} // ids from before the last reconnect
}

// add records a delivery: id is what the client saw, up the broker's
// ACK id.
func (l *ackLog) add(id, up string) *ackEntry {
	if l.byID == nil {
		l.byID = make(map[string]*ackEntry)
	}
	l.seq++
	e := &ackEntry{seq: l.seq, id: id, up: up}
	l.order = append(l.order, e)
	l.byID[id] = e
	return e
}

// find returns the live entry for a client's id (STOMP 1.2 ack or 1.0/1.1
// message-id: the relay gives both the same value), and whether the id is
// known as stale.
func (l *ackLog) find(id string) (e *ackEntry, stale bool) {
	if e = l.byID[id]; e != nil {
		return e, false
	}
	_, stale = l.stale[id]
	return nil, stale
}

// take removes e (and, cumulatively, every earlier entry) and returns the
// removed entries in delivery order.
func (l *ackLog) take(e *ackEntry, cumulative bool) []*ackEntry {
	var out []*ackEntry
	if cumulative {
		for _, x := range l.order {
			if x.seq > e.seq {
				break
			}
			if !x.done {
				out = append(out, x)
			}
		}
	} else {
		out = []*ackEntry{e}
	}
	for _, x := range out {
		x.done = true
		delete(l.byID, x.id)
	}
	l.compact()
	return out
}

// restore puts entries back (an ABORTed transaction gave them back).
func (l *ackLog) restore(entries []*ackEntry) {
	if l.byID == nil {
		l.byID = make(map[string]*ackEntry)
	}
	for _, x := range entries {
		x.done = false
		l.byID[x.id] = x
		// keep order sorted by seq
		i := len(l.order)
		for i > 0 && l.order[i-1].seq > x.seq {
			i--
		}
		if i < len(l.order) && l.order[i] == x {
			continue
		}
		l.order = append(l.order, nil)
		copy(l.order[i+1:], l.order[i:])
		l.order[i] = x
	}
}

// takeAll removes and returns every live entry in delivery order.
func (l *ackLog) takeAll() []*ackEntry {
	out := l.pending()
	for _, x := range out {
		x.done = true
	}
	l.order, l.byID = nil, nil
	return out
}

// pending returns the live entries in delivery order.
func (l *ackLog) pending() []*ackEntry {
	var out []*ackEntry
	for _, x := range l.order {
		if !x.done {
			out = append(out, x)
		}
	}
	return out
}

// compact drops done entries from the front of the order, and rebuilds
// the order when most of it is done.
func (l *ackLog) compact() {
	i := 0
	for i < len(l.order) && l.order[i].done {
		i++
	}
	l.order = l.order[i:]
	if len(l.order) > 64 && len(l.byID) < len(l.order)/2 {
		l.order = l.pending()
	}
}

// goStale moves every live id to the stale set: the socket that
// delivered them is gone and the broker will redeliver the messages.
func (l *ackLog) goStale() {
	if len(l.byID) == 0 {
		return
	}
	if l.stale == nil || len(l.stale)+len(l.byID) > maxStale {
		l.stale = make(map[string]struct{})
	}
	for k := range l.byID {
		l.stale[k] = struct{}{}
	}
	l.order, l.byID = nil, nil
}

// ackFrame is the upstream ACK or NACK for e.
func ackFrame(cmd string, e *ackEntry) *stomp.Frame {
	return stomp.New(cmd, "id", e.up)
}
