package session

import (
	"sync"
	"time"

	"chatrelay/internal/stomp"
)

// defaultDisconnectWait bounds how long DISCONNECT's RECEIPT waits for
// receipts still owed, unless Options.DisconnectWait says otherwise.
const defaultDisconnectWait = 5 * time.Second

// receiptGate holds the RECEIPT for DISCONNECT until every receipt the
// session still owes (for frames handed to the relay or to handlers) has
// been queued: a client that publishes with a receipt and then disconnects
// must see both.
type receiptGate struct {
	mu    sync.Mutex
	owed  int
	armed bool
	final *stomp.Frame
}

// owe records that f, handed on, will be answered by a RECEIPT later.
func (s *Session) owe(f *stomp.Frame) {
	if f.Header("receipt") == "" {
		return
	}
	s.gate.mu.Lock()
	s.gate.owed++
	s.gate.mu.Unlock()
}

// paid records that an owed RECEIPT (or the ERROR replacing it) is queued,
// and closes the session when a DISCONNECT waits only for it.
func (s *Session) paid() {
	s.gate.mu.Lock()
	s.gate.owed--
	done := s.gate.armed && s.gate.owed <= 0
	final := s.gate.final
	s.gate.mu.Unlock()
	if done {
		s.out.close(final, CloseNormal, "disconnect", true)
	}
}

// disconnect answers DISCONNECT: its RECEIPT, if asked, goes out after
// every receipt still owed and everything queued before it, and then the
// socket closes.
func (s *Session) disconnect(f *stomp.Frame) error {
	var final *stomp.Frame
	if r := f.Header("receipt"); r != "" {
		final = stomp.New(stomp.RECEIPT, "receipt-id", r)
	}
	s.gate.mu.Lock()
	wait := s.gate.owed > 0
	s.gate.armed, s.gate.final = true, final
	s.gate.mu.Unlock()
	if !wait {
		s.out.close(final, CloseNormal, "disconnect", true)
		return ErrClosed
	}
	// the broker may never answer (it went away): close anyway
	limit := s.opts.DisconnectWait
	if limit <= 0 {
		limit = defaultDisconnectWait
	}
	time.AfterFunc(limit, func() { s.out.close(final, CloseNormal, "disconnect", true) })
	return ErrClosed
}
