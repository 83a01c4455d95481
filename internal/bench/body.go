package bench

import (
	"bytes"
	"strconv"
	"time"
	"unicode/utf8"
)

// markerPrefix starts the text every benchmark message carries; receivers
// find it anywhere in a MESSAGE body, so the same parser reads chatrelay's
// ChatMessage JSON, the baseline's copy of it and a Web-STOMP body.
const markerPrefix = "CB1|"

// Marker is what a benchmark message says about itself: which step and
// phase sent it, which sender, its per-sender sequence number and when it
// was written to the socket.
type Marker struct {
	// Step indexes the rate step that sent the message.
	Step int
	// Measured is false for warm-up messages, which count for nothing
	// but loss and duplicate checks.
	Measured bool
	// Sender is the sending client's index.
	Sender int
	// Seq numbers the sender's messages from 0, across steps.
	Seq int64
	// SentNanos is the send time, Unix nanoseconds.
	SentNanos int64
}

// AppendText appends the marker as message text, padded with 'x' to size
// bytes (a text longer than size is not cut).
func (m Marker) AppendText(dst []byte, size int) []byte {
	start := len(dst)
	dst = append(dst, markerPrefix...)
	dst = strconv.AppendInt(dst, int64(m.Step), 10)
	if m.Measured {
		dst = append(dst, "|m|"...)
	} else {
		dst = append(dst, "|w|"...)
	}
	dst = strconv.AppendInt(dst, int64(m.Sender), 10)
	dst = append(dst, '|')
	dst = strconv.AppendInt(dst, m.Seq, 10)
	dst = append(dst, '|')
	dst = strconv.AppendInt(dst, m.SentNanos, 10)
	dst = append(dst, '|')
	for len(dst)-start < size {
		dst = append(dst, 'x')
	}
	return dst
}

// ParseMarker finds a marker in a message body. It reports false when the
// body carries none (a presence message, say) or a malformed one.
func ParseMarker(body []byte) (Marker, bool) {
	i := bytes.Index(body, []byte(markerPrefix))
	if i < 0 {
		return Marker{}, false
	}
	rest := body[i+len(markerPrefix):]
	var fields [5][]byte
	for f := range fields {
		j := bytes.IndexByte(rest, '|')
		if j < 0 {
			return Marker{}, false
		}
		fields[f], rest = rest[:j], rest[j+1:]
	}
	var m Marker
	step, err1 := strconv.Atoi(string(fields[0]))
	sender, err2 := strconv.Atoi(string(fields[2]))
	seq, err3 := strconv.ParseInt(string(fields[3]), 10, 64)
	sent, err4 := strconv.ParseInt(string(fields[4]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || step < 0 || sender < 0 || seq < 0 {
		return Marker{}, false
	}
	switch string(fields[1]) {
	case "m":
		m.Measured = true
	case "w":
	default:
		return Marker{}, false
	}
	m.Step, m.Sender, m.Seq, m.SentNanos = step, sender, seq, sent
	return m, true
}

// Sent returns SentNanos as a time.
func (m Marker) Sent() time.Time { return time.Unix(0, m.SentNanos) }

// AppendSendBody appends the body of a SEND to /app/chat.send:
// {"roomId","type":"TALK","message"}, as a chat client writes it.
func AppendSendBody(dst []byte, roomID string, text []byte) []byte {
	dst = append(dst, `{"roomId":`...)
	dst = appendJSONString(dst, roomID)
	dst = append(dst, `,"type":"TALK","message":`...)
	dst = appendJSONString(dst, string(text))
	return append(dst, '}')
}

// AppendChatMessage appends a ChatMessage as chatrelay publishes it to a
// room topic ({"id","roomId","type","sender","message","sentAt","offset"}).
// Web-STOMP senders publish this themselves and the baseline server
// builds it, so every mode delivers bodies of the same shape and size.
func AppendChatMessage(dst []byte, id, roomID, sender string, text []byte, sentAt time.Time, offset int64) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, id)
	dst = append(dst, `,"roomId":`...)
	dst = appendJSONString(dst, roomID)
	dst = append(dst, `,"type":"TALK","sender":`...)
	dst = appendJSONString(dst, sender)
	dst = append(dst, `,"message":`...)
	dst = appendJSONString(dst, string(text))
	dst = append(dst, `,"sentAt":"`...)
	dst = sentAt.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","offset":`...)
	dst = strconv.AppendInt(dst, offset, 10)
	return append(dst, '}')
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
			i++
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			i++
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, s[i:i+n]...)
			}
			i += n
		}
	}
	return append(dst, '"')
}
