package relay

import (
	"chatrelay/internal/stomp"
)

// ackEntry is one delivered, unacknowledged message of a 1:1 subscription.
type ackEntry struct {
	seq  uint64
	ack  string // the upstream ACK id (STOMP 1.2 ack header)
	msg  string // message-id, for STOMP 1.0/1.1 clients
	done bool   // acknowledged, nacked, or taken into a transaction
	// frame is the delivered MESSAGE, kept only when acks are local
	// (embedded broker) to give it back to its queue.
	frame *stomp.Frame
}

// maxStale bounds how many pre-reconnect ids a subscription remembers.
const maxStale = 4096

// ackLog tracks the ack ids the relay delivered on one 1:1 subscription
// in the current upstream session, so that an ACK or NACK the broker
// would not know (never delivered, already acked, from before a
// reconnect) is never forwarded: RabbitMQ would close the shared
// connection. Guarded by the upConn's mutex.
type ackLog struct {
	seq   uint64
	order []*ackEntry // delivery order; done entries are skipped and compacted
	byAck map[string]*ackEntry
	byMsg map[string]*ackEntry
	stale map[string]struct{} // ids from before the last reconnect
}

// init makes the maps.
func (l *ackLog) init() {
	if l.byAck == nil {
		l.byAck = make(map[string]*ackEntry)
		l.byMsg = make(map[string]*ackEntry)
	}
}

// add records a delivered message.
func (l *ackLog) add(ack, msg string) *ackEntry {
	l.init()
	l.seq++
	e := &ackEntry{seq: l.seq, ack: ack, msg: msg}
	l.order = append(l.order, e)
	l.byAck[ack] = e
	if msg != "" {
		l.byMsg[msg] = e
	}
	return e
}

// find returns the live entry for a STOMP 1.2 id (ack) or a 1.0/1.1
// message-id, and whether the id is known as stale.
func (l *ackLog) find(ack, msg string) (e *ackEntry, stale bool) {
	key := ack
	if ack != "" {
		e = l.byAck[ack]
	} else {
		key = msg
		e = l.byMsg[msg]
	}
	if e != nil {
		return e, false
	}
	_, stale = l.stale[key]
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
		delete(l.byAck, x.ack)
		if x.msg != "" {
			delete(l.byMsg, x.msg)
		}
	}
	l.compact()
	return out
}

// restore puts entries back (an ABORTed transaction gave them back).
func (l *ackLog) restore(entries []*ackEntry) {
	l.init()
	for _, x := range entries {
		x.done = false
		l.byAck[x.ack] = x
		if x.msg != "" {
			l.byMsg[x.msg] = x
		}
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
	l.order, l.byAck, l.byMsg = nil, nil, nil
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
	if len(l.order) > 64 && len(l.byAck) < len(l.order)/2 {
		l.order = l.pending()
	}
}

// goStale moves every live id to the stale set: the session that
// delivered them is gone and the broker will redeliver the messages.
func (l *ackLog) goStale() {
	if len(l.byAck) == 0 {
		return
	}
	if l.stale == nil || len(l.stale)+2*len(l.byAck) > maxStale {
		l.stale = make(map[string]struct{})
	}
	for k, e := range l.byAck {
		l.stale[k] = struct{}{}
		if e.msg != "" {
			l.stale[e.msg] = struct{}{}
		}
	}
	l.order, l.byAck, l.byMsg = nil, nil, nil
}

// ackFrame is the upstream ACK or NACK for e.
func ackFrame(cmd string, e *ackEntry) *stomp.Frame {
	return stomp.New(cmd, "id", e.ack)
}
