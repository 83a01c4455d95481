package session

import (
	"log/slog"
	"sync"
	"time"

	"chatrelay/internal/stomp"
)

// Batcher is implemented by a Conn whose client reads STOMP frames from
// the byte stream across messages, so that several frames may travel in
// one transport message (STOMP over WebSocket allows it; stomp.js and
// this module's decoder accept it). The writer then joins the frames it
// finds queued together, up to maxBatch bytes, into one WriteMessage: one
// system call instead of one per frame. A Conn without it gets one
// message per frame.
type Batcher interface {
	// BatchFrames reports whether several frames may share one message.
	BatchFrames() bool
}

// maxBatch bounds the bytes of frames joined into one message; a frame
// larger than this is written alone.
const maxBatch = 64 << 10

// maxPooled is the largest buffer put back in batchPool: a buffer grown
// for one huge frame is left to the collector.
const maxPooled = 4 * maxBatch

// batchPool holds the buffers the writers join frames in, so idle
// sessions hold none.
var batchPool = sync.Pool{New: func() any {
	b := make([]byte, 0, maxBatch)
	return &b
}}

// writeLoop is the session's writer goroutine, started by the queue when
// there is work and none runs (see outQueue). While it runs it owns every
// write to the socket, the socket's close and lastWrite: it drains the
// queue, sends a heart-beat when one falls due and nothing else was
// written, and on close writes the final frame (flushing the queue first
// when asked) before closing the socket and finishing the session. It
// ends when the queue has nothing more for it, or with the session.
func (s *Session) writeLoop() {
	q := s.out
	obs := s.opts.observer()
	var batch []queued
	for {
		w, ok := q.take(batch)
		if !ok {
			return // parked: the queue starts a writer for the next work
		}
		batch = w.items
		if w.closing {
			q.mu.Lock()
			final, code, text, flush := q.final, q.closeCode, q.closeText, q.flushFirst
			q.mu.Unlock()
			if flush {
				_ = s.writeFrames(obs, batch)
			}
			if final != nil && s.writeFinal(final) == nil {
				obs.FrameSent(final.Command)
			}
			_ = s.conn.Close(code, text)
			s.endWriter()
			return
		}
		if len(batch) == 0 {
			// only a heart-beat fell due
			if time.Since(s.lastWrite) >= w.beat/2 {
				if err := s.conn.WriteMessage(stomp.HeartBeat, !s.opts.BinaryFrames); err != nil {
					s.dropSocket(err)
					s.endWriter()
					return
				}
				s.lastWrite = time.Now()
			}
			continue
		}
		err := s.writeFrames(obs, batch)
		s.lastWrite = time.Now()
		clear(batch) // let the sent bodies go before the next take
		if err != nil {
			s.dropSocket(err)
			s.endWriter()
			return
		}
	}
}

// endWriter is the last thing the last writer does: the socket is closed
// and the queue, closing, starts no writer again.
func (s *Session) endWriter() {
	s.out.stopHeartBeats()
	s.finish()
}

// writeFrames writes batch in order and tells obs of every frame written.
// With a Batcher conn, consecutive frames share a message up to maxBatch
// bytes; otherwise each frame is one message. A message is text when all
// its frames are (textframes.go). It stops at the first failed write.
func (s *Session) writeFrames(obs Observer, batch []queued) error {
	var bp *[]byte // from batchPool, taken when a message must be joined
	defer func() {
		if bp != nil && cap(*bp) <= maxPooled {
			*bp = (*bp)[:0]
			batchPool.Put(bp)
		}
	}()
	for start := 0; start < len(batch); {
		end := start + 1
		if s.batching {
			for n := batch[start].size(); end < len(batch) && n+batch[end].size() <= maxBatch; end++ {
				n += batch[end].size()
			}
		}
		group := batch[start:end]
		msg := group[0].head
		if len(group) > 1 || !group[0].whole() {
			if bp == nil {
				bp = batchPool.Get().(*[]byte)
			}
			buf := (*bp)[:0]
			for i := range group {
				buf = group[i].appendTo(buf)
			}
			*bp, msg = buf, buf
		}
		if err := s.conn.WriteMessage(msg, allText(group)); err != nil {
			return err
		}
		s.written(obs, group)
		start = end
	}
	return nil
}

// writeFinal writes the frame that ends the session.
func (s *Session) writeFinal(f *stomp.Frame) error {
	it := s.encoded(f)
	return s.conn.WriteMessage(it.head, it.text)
}

// written tells obs that the frames of group have been written.
func (s *Session) written(obs Observer, group []queued) {
	var now time.Time
	for i := range group {
		obs.FrameSent(group[i].command)
		if at := group[i].at; !at.IsZero() {
			if now.IsZero() {
				now = time.Now()
			}
			obs.MessageWritten(now.Sub(at))
		}
	}
}

// dropSocket closes a socket that failed a write; nothing more can be said
// to the client.
func (s *Session) dropSocket(err error) {
	s.log(slog.LevelDebug, "write failed", "err", err)
	s.out.close(nil, CloseGoingAway, "", false)
	_ = s.conn.Close(CloseGoingAway, "write failed")
}
