package stomp

import "strconv"

// Append appends the wire form of f under version v to dst and returns the
// extended slice. A non-empty body gets a content-length header when the
// frame has none, so binary bodies with NUL bytes survive.
func (f *Frame) Append(dst []byte, v Version) []byte {
	esc := escapes(v, f.Command)
	dst = append(dst, f.Command...)
	dst = append(dst, '\n')
	hasLength := false
	for _, h := range f.Headers {
		if h.Key == "content-length" {
			if hasLength {
				continue
			}
			hasLength = true
			// The encoder owns the length: a stale value would corrupt
			// the stream, so it is always written from the body.
			dst = appendLength(dst, len(f.Body))
			continue
		}
		dst = appendHeaderLine(dst, esc, v, h.Key, h.Value)
	}
	if hasLength {
		dst = append(dst, '\n')
		dst = append(dst, f.Body...)
		return append(dst, 0)
	}
	return AppendBody(dst, f.Body)
}

// AppendHeader appends one header line "key:value\n" of a frame with
// command, escaped under v exactly as Append escapes it. With AppendBody
// it lets a caller encode a frame in parts, to share all but one header
// between the copies of a message sent to many subscribers.
func AppendHeader(dst []byte, command string, v Version, key, value string) []byte {
	return appendHeaderLine(dst, escapes(v, command), v, key, value)
}

// appendHeaderLine appends "key:value\n", escaped under v when esc.
func appendHeaderLine(dst []byte, esc bool, v Version, key, value string) []byte {
	if esc {
		dst = appendEscaped(dst, key, v)
		dst = append(dst, ':')
		dst = appendEscaped(dst, value, v)
	} else {
		dst = appendRaw(dst, key)
		dst = append(dst, ':')
		dst = appendRaw(dst, value)
	}
	return append(dst, '\n')
}

// AppendBody appends the end of a frame that has no content-length
// header, as Append writes it: the content-length of a non-empty body,
// the blank line, the body and the NUL.
func AppendBody(dst, body []byte) []byte {
	if len(body) > 0 {
		dst = appendLength(dst, len(body))
	}
	dst = append(dst, '\n')
	dst = append(dst, body...)
	return append(dst, 0)
}

// appendLength appends the content-length header line for n bytes.
func appendLength(dst []byte, n int) []byte {
	dst = append(dst, "content-length:"...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\n')
}

// Encode returns the wire form of f under version v.
func (f *Frame) Encode(v Version) []byte {
	return f.Append(make([]byte, 0, f.size()), v)
}

// size estimates the encoded size of f, for buffer preallocation.
func (f *Frame) size() int {
	n := len(f.Command) + 24 + len(f.Body)
	for _, h := range f.Headers {
		n += len(h.Key) + len(h.Value) + 2
	}
	return n
}

// HeartBeat is the EOL a peer sends to show it is alive.
var HeartBeat = []byte{'\n'}
