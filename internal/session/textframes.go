package session

import (
	"unicode/utf8"

	"chatrelay/internal/stomp"
)

// A WebSocket message is text or binary. STOMP frames are bytes, but
// RabbitMQ's Web-STOMP sends text messages, and raw-frame tools (APIC,
// browser devtools, websocat) show binary ones as opaque: so a message
// whose bytes are valid UTF-8 goes as text, and one that is not (a
// binary body) as binary, which a text message may not carry (RFC 6455
// §5.6: the client must fail the connection). stomp.js reads both.
//
// Whether a frame is valid UTF-8 is decided once, when it is queued, and
// kept with it (queued.text): a room message's shared parts are checked
// once for all its subscribers (frameCache), and joining frames in one
// message (writeFrames) needs no scan, since valid UTF-8 sequences joined
// stay valid. Options.BinaryFrames sends every message as binary and
// skips the checks.

// textFrame reports whether the encoded frame (or part of one) p may go
// in a text message.
func (s *Session) textFrame(p []byte) bool { return !s.opts.BinaryFrames && utf8.Valid(p) }

// encoded is f encoded for the client, ready to queue.
func (s *Session) encoded(f *stomp.Frame) queued {
	head := f.Encode(s.writeVersion())
	return queued{head: head, command: f.Command, text: s.textFrame(head)}
}

// allText reports whether every frame of group may go in a text message.
func allText(group []queued) bool {
	for i := range group {
		if !group[i].text {
			return false
		}
	}
	return true
}
