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
			dst = append(dst, "content-length:"...)
			dst = strconv.AppendInt(dst, int64(len(f.Body)), 10)
			dst = append(dst, '\n')
			continue
		}
		if esc {
			dst = appendEscaped(dst, h.Key, v)
			dst = append(dst, ':')
			dst = appendEscaped(dst, h.Value, v)
		} else {
			dst = appendRaw(dst, h.Key)
			dst = append(dst, ':')
			dst = appendRaw(dst, h.Value)
		}
		dst = append(dst, '\n')
	}
	if !hasLength && len(f.Body) > 0 {
		dst = append(dst, "content-length:"...)
		dst = strconv.AppendInt(dst, int64(len(f.Body)), 10)
		dst = append(dst, '\n')
	}
	dst = append(dst, '\n')
	dst = append(dst, f.Body...)
	return append(dst, 0)
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
