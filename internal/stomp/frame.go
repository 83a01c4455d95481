// Package stomp is the STOMP 1.0/1.1/1.2 frame codec: a frame type, an
// encoder, an incremental decoder that enforces size limits before it
// allocates, and a Reader that runs the decoder over an io.Reader. It also
// holds the one reading of the heart-beat and x-stream-offset header
// values. It knows nothing about sockets, sessions or brokers.
package stomp

import "strconv"

// Version is a negotiated STOMP protocol version. It decides how header
// values are escaped.
type Version int

// The protocol versions the codec speaks.
const (
	V10 Version = iota
	V11
	V12
)

// String returns the version as it appears in the accept-version header.
func (v Version) String() string {
	switch v {
	case V10:
		return "1.0"
	case V11:
		return "1.1"
	default:
		return "1.2"
	}
}

// Subprotocol returns the WebSocket subprotocol name for the version.
func (v Version) Subprotocol() string {
	switch v {
	case V10:
		return "v10.stomp"
	case V11:
		return "v11.stomp"
	default:
		return "v12.stomp"
	}
}

// Client and server commands.
const (
	CONNECT     = "CONNECT"
	STOMP       = "STOMP"
	CONNECTED   = "CONNECTED"
	SEND        = "SEND"
	SUBSCRIBE   = "SUBSCRIBE"
	UNSUBSCRIBE = "UNSUBSCRIBE"
	ACK         = "ACK"
	NACK        = "NACK"
	BEGIN       = "BEGIN"
	COMMIT      = "COMMIT"
	ABORT       = "ABORT"
	DISCONNECT  = "DISCONNECT"
	MESSAGE     = "MESSAGE"
	RECEIPT     = "RECEIPT"
	ERROR       = "ERROR"
)

// Header is one header line. Order matters in STOMP: when a key repeats,
// the first occurrence wins.
type Header struct {
	Key   string
	Value string
}

// Headers is an ordered list of headers.
type Headers []Header

// Get returns the value of the first header named key.
func (h Headers) Get(key string) (string, bool) {
	for _, kv := range h {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return "", false
}

// Value returns the value of the first header named key, or "".
func (h Headers) Value(key string) string {
	v, _ := h.Get(key)
	return v
}

// Set replaces every header named key by one with value, keeping the
// position of the first; it appends when key is absent.
func (h Headers) Set(key, value string) Headers {
	for i := range h {
		if h[i].Key == key {
			h[i].Value = value
			return append(h[:i+1], h[i+1:].Del(key)...)
		}
	}
	return append(h, Header{key, value})
}

// Del removes every header named key.
func (h Headers) Del(key string) Headers {
	out := h[:0]
	for _, kv := range h {
		if kv.Key != key {
			out = append(out, kv)
		}
	}
	return out
}

// Clone returns a copy that shares nothing with h.
func (h Headers) Clone() Headers {
	if h == nil {
		return nil
	}
	return append(Headers(nil), h...)
}

// Frame is one STOMP frame.
type Frame struct {
	Command string
	Headers Headers
	Body    []byte
}

// New returns a frame with the given command and header pairs
// (key, value, key, value, ...).
func New(command string, kv ...string) *Frame {
	f := &Frame{Command: command}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Headers = append(f.Headers, Header{kv[i], kv[i+1]})
	}
	return f
}

// Header returns the value of the first header named key, or "".
func (f *Frame) Header(key string) string { return f.Headers.Value(key) }

// Clone returns a deep copy of the frame.
func (f *Frame) Clone() *Frame {
	return &Frame{Command: f.Command, Headers: f.Headers.Clone(), Body: append([]byte(nil), f.Body...)}
}

// ContentLength returns the parsed content-length header, -1 when absent.
func (f *Frame) ContentLength() (int64, error) {
	v, ok := f.Headers.Get("content-length")
	if !ok {
		return -1, nil
	}
	return strconv.ParseInt(v, 10, 64)
}

// NewError returns an ERROR frame: the message header, then the header
// pairs kv, then receipt-id when receiptID is set (the failing frame asked
// for a receipt), and detail as a text/plain body when set.
func NewError(message, receiptID, detail string, kv ...string) *Frame {
	f := New(ERROR, append([]string{"message", message}, kv...)...)
	if receiptID != "" {
		f.Headers = append(f.Headers, Header{Key: "receipt-id", Value: receiptID})
	}
	if detail != "" {
		f.Headers = append(f.Headers, Header{Key: "content-type", Value: "text/plain"})
		f.Body = []byte(detail)
	}
	return f
}
