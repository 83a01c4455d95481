package session

import (
	"errors"
	"strings"

	"chatrelay/internal/stomp"
)

// Close is how a session ends with an ERROR, like centrifuge's
// Disconnect: the ERROR frame's message header, its text/plain body, and
// the WebSocket close code (one of the Close* constants). Every exit
// path that tells the client why builds one, so they read alike and can
// be listed by searching for "Close{".
type Close struct {
	Code    int    // WebSocket close code
	Message string // the ERROR's message header; the close reason, truncated
	Detail  string // the ERROR's body; "" for none
}

// errFrameFailed is returned by failFrame so the read loop stops.
var errFrameFailed = errors.New("session ended by ERROR")

// failFrame ends the session with an ERROR about frame f (which may be
// nil) as c says, after what is already queued. It returns
// errFrameFailed: callers return it, so that the read loop stops.
func (s *Session) failFrame(f *stomp.Frame, c Close) error {
	s.fail(f, c)
	return errFrameFailed
}

// fail queues the final ERROR and the close; the ERROR carries the
// receipt-id of f when f asked for a receipt. Callers with a frame use
// failFrame, whose error they return.
func (s *Session) fail(f *stomp.Frame, c Close) {
	receipt := ""
	if f != nil {
		receipt = f.Header("receipt")
	}
	s.out.close(errorFrame(c.Message, receipt, c.Detail), c.Code, truncate(c.Message, 120), true)
}

// errorFrame builds an ERROR with a short message header, the receipt-id
// of the failing frame when it asked for one, and a longer body.
func errorFrame(message, receiptID, detail string) *stomp.Frame {
	return stomp.NewError(message, receiptID, detail)
}

// truncate bounds a WebSocket close reason (123 bytes on the wire),
// keeping it valid UTF-8.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
