package bench

import (
	"strconv"

	"chatrelay/internal/stomp"
)

// A published message reaches every subscriber of its destination as a
// MESSAGE frame that differs from the others' only in its subscription
// header. As in chatrelay (internal/session/roomframe.go), the frame is
// encoded in three parts: a head ("MESSAGE", destination) and a tail
// (message-id, content-type, content-length, blank line, body, NUL)
// encoded once per published message and shared by every copy, and the
// subscription's own "subscription:<id>" line, encoded once when it
// subscribes. No part is modified once queued. The bytes a client gets
// are a STOMP 1.2 frame as stomp.Frame.Encode would write it with the
// headers in that order.

// topic is one destination's subscriptions, in no particular order; it
// is guarded by Baseline.mu.
type topic struct {
	subs []*bsub
}

// bsub is one subscription: its connection, destination and encoded
// subscription line. idx is its place in its topic's subs, guarded by
// Baseline.mu.
type bsub struct {
	c    *bconn
	dest string
	line []byte
	idx  int
}

// framePart is one encoded frame waiting for a writer: head, then mid
// and tail (either may be empty). A MESSAGE shares head and tail with
// every other subscriber's copy and owns only mid, its subscription line;
// the connection's own frames are all in head.
type framePart struct {
	head, mid, tail []byte
}

// size is the frame's encoded length.
func (p *framePart) size() int { return len(p.head) + len(p.mid) + len(p.tail) }

// appendTo appends the frame's wire form to dst.
func (p *framePart) appendTo(dst []byte) []byte {
	dst = append(dst, p.head...)
	dst = append(dst, p.mid...)
	return append(dst, p.tail...)
}

// subscriptionLine is the encoded subscription header of a subscription's
// MESSAGEs.
func subscriptionLine(id string) []byte {
	return stomp.AppendHeader(nil, stomp.MESSAGE, stomp.V12, "subscription", id)
}

// messageParts encodes the shared head and tail of a MESSAGE to dest, in
// one allocation.
func messageParts(dest, msgID, contentType string, body []byte) (head, tail []byte) {
	buf := make([]byte, 0, len(stomp.MESSAGE)+len(dest)+len(msgID)+len(contentType)+len(body)+128)
	buf = append(buf, stomp.MESSAGE...)
	buf = append(buf, '\n')
	buf = stomp.AppendHeader(buf, stomp.MESSAGE, stomp.V12, "destination", dest)
	n := len(buf)
	buf = stomp.AppendHeader(buf, stomp.MESSAGE, stomp.V12, "message-id", msgID)
	if contentType != "" {
		buf = stomp.AppendHeader(buf, stomp.MESSAGE, stomp.V12, "content-type", contentType)
	}
	buf = stomp.AppendBody(buf, body)
	return buf[:n:n], buf[n:]
}

// publish sends body to every subscription of dest: the message is
// encoded once, and each subscriber's queue gets it with its own
// subscription line.
func (b *Baseline) publish(dest, contentType string, body []byte) {
	var num [24]byte
	msgID := string(strconv.AppendInt(append(num[:0], "m-"...), b.ids.Add(1), 10))
	head, tail := messageParts(dest, msgID, contentType, body)
	b.mu.RLock()
	defer b.mu.RUnlock()
	t := b.topics[dest]
	if t == nil {
		return
	}
	for _, s := range t.subs {
		s.c.enqueue(framePart{head: head, mid: s.line, tail: tail})
	}
}

// subscribe adds s to its topic. Call it with b.mu held.
func (b *Baseline) subscribe(s *bsub) {
	t := b.topics[s.dest]
	if t == nil {
		t = &topic{}
		b.topics[s.dest] = t
	}
	s.idx = len(t.subs)
	t.subs = append(t.subs, s)
}

// unsubscribe removes s from its topic, moving the last subscription into
// its place, and forgets a topic left empty. Call it with b.mu held.
func (b *Baseline) unsubscribe(s *bsub) {
	t := b.topics[s.dest]
	if t == nil || s.idx >= len(t.subs) || t.subs[s.idx] != s {
		return
	}
	last := len(t.subs) - 1
	t.subs[s.idx] = t.subs[last]
	t.subs[s.idx].idx = s.idx
	t.subs[last] = nil
	t.subs = t.subs[:last]
	if len(t.subs) == 0 {
		delete(b.topics, s.dest)
	}
}
