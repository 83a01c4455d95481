package session

import (
	"sync"
	"time"

	"chatrelay/internal/stomp"
)

// queued is one encoded frame waiting for the writer: its wire form in up
// to three parts (head, then mid and tail, which may be empty), its
// command (for metrics) and, for a MESSAGE when someone observes, when it
// reached the session. A room message shares head and tail with every
// other subscriber's copy and owns only mid, its subscription header; no
// part is ever modified once queued.
type queued struct {
	head, mid, tail []byte
	command         string
	at              time.Time
}

// size is the frame's encoded length, what the queue's limit counts.
func (it *queued) size() int { return len(it.head) + len(it.mid) + len(it.tail) }

// whole reports whether the frame is all in head.
func (it *queued) whole() bool { return len(it.mid) == 0 && len(it.tail) == 0 }

// appendTo appends the frame's wire form to dst.
func (it *queued) appendTo(dst []byte) []byte {
	dst = append(dst, it.head...)
	dst = append(dst, it.mid...)
	return append(dst, it.tail...)
}

// outQueue is a session's bounded queue of encoded frames waiting for the
// writer goroutine. Producers never block: when the queued bytes would
// pass the limit the session is closed as a slow consumer.
type outQueue struct {
	mu      sync.Mutex
	items   []queued
	bytes   int
	limit   int
	wake    chan struct{}
	closing bool
	// what the writer does once closing is set
	final      *stomp.Frame
	closeCode  int
	closeText  string
	flushFirst bool
}

func newOutQueue(limit int) *outQueue {
	return &outQueue{limit: limit, wake: make(chan struct{}, 1)}
}

// push queues it. It reports false, and queues nothing, when the queue is
// closing or it would pass the byte limit.
func (q *outQueue) push(it queued) (ok, overflow bool) {
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		return false, false
	}
	n := it.size()
	if q.bytes+n > q.limit {
		q.mu.Unlock()
		return false, true
	}
	q.items = append(q.items, it)
	q.bytes += n
	q.mu.Unlock()
	q.signal()
	return true, false
}

// close asks the writer to end the connection: flush what is queued when
// flushFirst, then write final (if any), then close with code and text.
// Only the first call counts; it alone reports true.
func (q *outQueue) close(final *stomp.Frame, code int, text string, flushFirst bool) bool {
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		return false
	}
	q.closing = true
	q.final, q.closeCode, q.closeText, q.flushFirst = final, code, text, flushFirst
	q.mu.Unlock()
	q.signal()
	return true
}

func (q *outQueue) isClosing() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closing
}

func (q *outQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take removes and returns everything queued, and whether the queue is
// closing. buf, which the caller has cleared, becomes the queue's storage:
// the two slices trade places instead of items being copied.
func (q *outQueue) take(buf []queued) ([]queued, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = buf[:0]
	q.bytes = 0
	return items, q.closing
}
