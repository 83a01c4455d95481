package session

import (
	"sync"
	"time"

	"chatrelay/internal/stomp"
)

// queued is one encoded frame waiting for the writer: its command (for
// metrics) and, for a MESSAGE when someone observes, when it reached the
// session.
type queued struct {
	b       []byte
	command string
	at      time.Time
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
	if q.bytes+len(it.b) > q.limit {
		q.mu.Unlock()
		return false, true
	}
	q.items = append(q.items, it)
	q.bytes += len(it.b)
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
// closing.
func (q *outQueue) take(buf []queued) ([]queued, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	buf = append(buf[:0], q.items...)
	clear(q.items)
	q.items = q.items[:0]
	q.bytes = 0
	return buf, q.closing
}

// writeLoop is the session's writer goroutine. It owns every write to the
// socket and the socket's close: it drains the queue, sends heart-beats
// when nothing else was written, and on close writes the final frame
// (flushing the queue first when asked) before closing the socket.
func (s *Session) writeLoop() {
	defer s.finish()
	q := s.out
	obs := s.opts.observer()
	var (
		batch     []queued
		lastWrite = time.Now()
		tick      <-chan time.Time
		every     time.Duration
	)
	for {
		select {
		case <-q.wake:
		case <-tick:
			if time.Since(lastWrite) >= every/2 {
				if err := s.conn.WriteMessage(stomp.HeartBeat); err != nil {
					s.dropSocket(err)
					return
				}
				lastWrite = time.Now()
			}
			continue
		case every = <-s.heartbeatSet():
			if every > 0 {
				// checking twice per interval keeps every gap under it
				t := time.NewTicker(every / 2)
				defer t.Stop()
				tick = t.C
			}
			continue
		}
		var closing bool
		batch, closing = q.take(batch)
		if closing {
			q.mu.Lock()
			final, code, text, flush := q.final, q.closeCode, q.closeText, q.flushFirst
			q.mu.Unlock()
			if flush {
				for _, it := range batch {
					if s.write(obs, it) != nil {
						break
					}
				}
			}
			if final != nil && s.conn.WriteMessage(final.Encode(s.writeVersion())) == nil {
				obs.FrameSent(final.Command)
			}
			_ = s.conn.Close(code, text)
			return
		}
		for _, it := range batch {
			if err := s.write(obs, it); err != nil {
				s.dropSocket(err)
				return
			}
		}
		if len(batch) > 0 {
			lastWrite = time.Now()
		}
	}
}

// write writes one queued frame and tells obs.
func (s *Session) write(obs Observer, it queued) error {
	if err := s.conn.WriteMessage(it.b); err != nil {
		return err
	}
	obs.FrameSent(it.command)
	if !it.at.IsZero() {
		obs.MessageWritten(time.Since(it.at))
	}
	return nil
}

// dropSocket closes a socket that failed a write; nothing more can be said
// to the client.
func (s *Session) dropSocket(err error) {
	s.logger().Debug("write failed", "err", err)
	s.out.close(nil, CloseGoingAway, "", false)
	_ = s.conn.Close(CloseGoingAway, "write failed")
}
