package session

import (
	"context"
	"sync"
	"time"

	"chatrelay/internal/stomp"
)

// queued is one encoded frame waiting for the writer: its wire form in up
// to three parts (head, then mid and tail, which may be empty), its
// command (for metrics) and, for a MESSAGE when someone observes, when it
// reached the session; text says it may go in a WebSocket text message
// (textframes.go). A room message shares head and tail with every other
// subscriber's copy and owns only mid, its subscription header; no part
// is ever modified once queued.
type queued struct {
	head, mid, tail []byte
	command         string
	at              time.Time
	text            bool
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
// writer. Producers never block: when the queued bytes would pass the
// limit the session is closed as a slow consumer.
//
// No goroutine waits on an idle queue: whoever gives the writer work (a
// push, the close, a heart-beat falling due) starts the writer goroutine
// when none runs, and the writer ends once it has done all there was. At
// most one writer runs at a time; the handover happens under mu.
type outQueue struct {
	mu      sync.Mutex
	items   []queued // nil while the writer is parked (see queuePool)
	bytes   int
	limit   int
	closing bool
	// what the writer does once closing is set
	final      *stomp.Frame
	closeCode  int
	closeText  string
	flushFirst bool

	// space, when not nil, is closed (and cleared) the next time the
	// writer takes what is queued or the queue closes: waitBelow waits
	// on it
	space chan struct{}

	run     func() // the writer; runs in its own goroutine
	writing bool   // a writer runs, or ran to the end: none may start
	// heart-beats: every beatEvery/2 the timer sets beat and wakes the
	// writer, which sends one unless something was written meanwhile
	beatEvery time.Duration
	beatTimer *time.Timer
	beat      bool
}

// newOutQueue returns a queue of limit bytes whose writer is run.
func newOutQueue(limit int, run func()) *outQueue {
	return &outQueue{limit: limit, run: run}
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
	if q.items == nil {
		q.items = getQueueBuf()
	}
	q.items = append(q.items, it)
	q.bytes += n
	start := q.claimWriter()
	q.mu.Unlock()
	q.startWriter(start)
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
	q.wakeWaiters()
	start := q.claimWriter()
	q.mu.Unlock()
	q.startWriter(start)
	return true
}

func (q *outQueue) isClosing() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closing
}

// claimWriter reports whether the caller must start the writer, which
// then counts as running. Call it with mu held.
func (q *outQueue) claimWriter() bool {
	if q.writing {
		return false
	}
	q.writing = true
	return true
}

// startWriter starts the writer goroutine when claimWriter said so; call
// it without mu held.
func (q *outQueue) startWriter(start bool) {
	if start {
		go q.run()
	}
}

// heartBeats makes the writer send a heart-beat whenever nothing was
// written for every/2 (checking twice per interval keeps every gap under
// it). every must be positive; call it once.
func (q *outQueue) heartBeats(every time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing {
		return
	}
	q.beatEvery = every
	q.beatTimer = time.AfterFunc(every/2, q.beatDue)
}

// beatDue runs on the heart-beat timer: it wakes the writer and re-arms
// the timer.
func (q *outQueue) beatDue() {
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		return
	}
	q.beat = true
	q.beatTimer.Reset(q.beatEvery / 2)
	start := q.claimWriter()
	q.mu.Unlock()
	q.startWriter(start)
}

// stopHeartBeats stops the heart-beat timer, if any.
func (q *outQueue) stopHeartBeats() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.beatTimer != nil {
		q.beatTimer.Stop()
	}
}

// work is what the writer takes from the queue at once.
type work struct {
	items   []queued      // the frames to write, in order
	closing bool          // the connection is to be closed
	beat    time.Duration // a heart-beat fell due: the interval; else 0
}

// take removes and returns everything queued. buf, which the caller has
// cleared (nil for a writer that just started), becomes the queue's
// storage: the two slices trade places instead of items being copied.
// With nothing to do, take parks the writer, giving both slices back to
// queuePool, and reports false: the caller must end, and another writer
// is started when there is work again.
func (q *outQueue) take(buf []queued) (work, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if buf == nil {
		buf = getQueueBuf()
	}
	if len(q.items) == 0 && !q.closing && !q.beat {
		putQueueBuf(buf)
		putQueueBuf(q.items)
		q.items = nil
		q.writing = false
		return work{}, false
	}
	w := work{items: q.items, closing: q.closing}
	if q.beat {
		w.beat = q.beatEvery
		q.beat = false
	}
	q.items = buf[:0]
	q.bytes = 0
	q.wakeWaiters()
	return w, true
}

// queuePool holds the item storage of parked queues, one queueBlock at a
// time: an idle session holds none, and a busy one takes blocks back from
// here instead of allocating (a pointer to an array goes into the pool
// without an allocation, as a slice would not). A queue that grew past a
// block leaves its larger slice to the collector when its writer parks.
var queuePool = sync.Pool{New: func() any { return new(queueBlock) }}

// queueBlockLen is how many frames a pooled block holds.
const queueBlockLen = 16

// queueBlock is the storage queuePool lends.
type queueBlock [queueBlockLen]queued

// getQueueBuf returns an empty slice over a block from queuePool.
func getQueueBuf() []queued { return queuePool.Get().(*queueBlock)[:0] }

// putQueueBuf gives b's block, whose elements hold nothing any more, back
// to queuePool; a slice of another capacity is dropped.
func putQueueBuf(b []queued) {
	if cap(b) != queueBlockLen {
		return
	}
	queuePool.Put((*queueBlock)(b[:queueBlockLen]))
}

// fits reports whether n more bytes keep the queue within budget, or the
// queue is empty (so that a frame larger than budget still goes, alone).
func (q *outQueue) fits(n, budget int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes == 0 || q.bytes+n <= budget
}

// waitBelow blocks until at most n bytes are queued; it fails with
// ErrClosed once the queue is closing, or with ctx's error.
func (q *outQueue) waitBelow(ctx context.Context, n int) error {
	for {
		q.mu.Lock()
		if q.closing {
			q.mu.Unlock()
			return ErrClosed
		}
		if q.bytes <= n {
			q.mu.Unlock()
			return nil
		}
		if q.space == nil {
			q.space = make(chan struct{})
		}
		ch := q.space
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// wakeWaiters releases waitBelow callers. Call it with mu held.
func (q *outQueue) wakeWaiters() {
	if q.space != nil {
		close(q.space)
		q.space = nil
	}
}
