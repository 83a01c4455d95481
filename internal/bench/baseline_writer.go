package bench

import (
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// baselineBatch bounds the bytes of frames the baseline's writer joins
// into one WebSocket message (chatrelay's maxBatch); a larger frame is
// written alone.
const baselineBatch = 64 << 10

// baselinePooled is the largest join buffer put back in baselineBufs: one
// grown for a huge frame is left to the collector.
const baselinePooled = 4 * baselineBatch

// baselineBufs holds the buffers the writers join frames in, so idle
// connections hold none.
var baselineBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, baselineBatch)
	return &b
}}

// outFrames is one connection's queue of frames waiting for its writer.
// Producers (the connection's reader, any publisher) never block: a frame
// that would pass the limit drops the connection as a slow consumer.
type outFrames struct {
	mu      sync.Mutex
	items   []framePart
	limit   int  // frames
	closing bool // the writer writes what is queued, then closes
	dead    bool // the connection is gone: frames are dropped
	// wake holds one token when the writer may have work
	wake chan struct{}
}

// init readies the queue for at most limit frames.
func (q *outFrames) init(limit int) {
	q.limit = limit
	q.wake = make(chan struct{}, 1)
}

// push queues p; it reports false when the queue is full. A frame after
// close or kill is dropped, reported as queued.
func (q *outFrames) push(p framePart) bool {
	q.mu.Lock()
	if q.closing || q.dead {
		q.mu.Unlock()
		return true
	}
	if len(q.items) >= q.limit {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, p)
	first := len(q.items) == 1
	q.mu.Unlock()
	if first {
		q.signal()
	}
	return true
}

// close asks the writer to write what is queued and end the connection;
// later frames are dropped.
func (q *outFrames) close() {
	q.mu.Lock()
	q.closing = true
	q.mu.Unlock()
	q.signal()
}

// signal wakes the writer without blocking.
func (q *outFrames) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take swaps everything queued for buf (emptied) and reports whether the
// connection is to be closed after it.
func (q *outFrames) take(buf []framePart) ([]framePart, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = buf[:0]
	return items, q.closing
}

// enqueue hands a frame to the writer without blocking; a full queue
// drops the connection as a slow consumer.
func (c *bconn) enqueue(p framePart) {
	if !c.out.push(p) {
		c.b.slow.Add(1)
		c.kill()
	}
}

// writeLoop is the connection's writer: it waits for frames, writes all
// it finds queued in as few messages as writeFrames can, and ends when
// the connection is killed, a write fails, or after the close asked for
// (the queue flushed first).
func (c *bconn) writeLoop() {
	var spare []framePart
	for {
		select {
		case <-c.done:
			return
		case <-c.out.wake:
		}
		items, closing := c.out.take(spare)
		if len(items) > 0 {
			_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := writeFrames(c.ws, items); err != nil {
				c.kill()
				return
			}
		}
		clear(items) // let the sent bodies go before the next take
		spare = items
		if closing {
			_ = c.ws.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			c.kill()
			return
		}
	}
}

// writeFrames writes items in order, joining consecutive frames into one
// binary message of at most baselineBatch bytes (STOMP over WebSocket
// allows several frames per message, and chatbench's client reads them);
// a frame already whole and alone in its message is written without a
// copy. The join buffer comes from baselineBufs.
func writeFrames(ws *websocket.Conn, items []framePart) error {
	var bp *[]byte
	defer func() {
		if bp != nil && cap(*bp) <= baselinePooled {
			*bp = (*bp)[:0]
			baselineBufs.Put(bp)
		}
	}()
	for start := 0; start < len(items); {
		end := start + 1
		for n := items[start].size(); end < len(items) && n+items[end].size() <= baselineBatch; end++ {
			n += items[end].size()
		}
		msg := items[start].head
		if end-start > 1 || len(items[start].mid)+len(items[start].tail) > 0 {
			if bp == nil {
				bp = baselineBufs.Get().(*[]byte)
			}
			buf := (*bp)[:0]
			for i := start; i < end; i++ {
				buf = items[i].appendTo(buf)
			}
			*bp, msg = buf, buf
		}
		if err := ws.WriteMessage(websocket.BinaryMessage, msg); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// kill ends the connection once: queued and later frames are dropped.
func (c *bconn) kill() {
	c.once.Do(func() {
		c.out.mu.Lock()
		c.out.dead = true
		c.out.items = nil
		c.out.mu.Unlock()
		close(c.done)
		_ = c.ws.Close()
	})
}
