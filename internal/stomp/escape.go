package stomp

import (
	"errors"
	"strings"
)

// ErrBadEscape reports an escape sequence that the negotiated version does
// not define; STOMP 1.1 and 1.2 make it fatal.
var ErrBadEscape = errors.New("undefined escape sequence in header")

// escapes reports whether header values of command are escaped under v.
// STOMP 1.2 leaves CONNECT and CONNECTED unescaped; 1.0 escapes nothing.
func escapes(v Version, command string) bool {
	if v == V10 {
		return false
	}
	return command != CONNECT && command != CONNECTED && command != STOMP
}

// appendEscaped appends s to dst escaped for version v (1.1 or 1.2).
func appendEscaped(dst []byte, s string, v Version) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\n':
			dst = append(dst, '\\', 'n')
		case ':':
			dst = append(dst, '\\', 'c')
		case '\r':
			if v == V12 {
				dst = append(dst, '\\', 'r')
			} else {
				dst = append(dst, ' ')
			}
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// appendRaw appends s for a version or command without escaping. Line
// breaks cannot be represented there and become spaces, so a value can
// never end a header line early.
func appendRaw(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\n' || c == '\r' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return dst
}

// unescape decodes a header key or value received under version v.
func unescape(b []byte, v Version) (string, error) {
	if v == V10 || !containsByte(b, '\\') {
		return string(b), nil
	}
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			sb.WriteByte(c)
			continue
		}
		i++
		if i == len(b) {
			return "", ErrBadEscape
		}
		switch b[i] {
		case '\\':
			sb.WriteByte('\\')
		case 'n':
			sb.WriteByte('\n')
		case 'c':
			sb.WriteByte(':')
		case 'r':
			if v != V12 {
				return "", ErrBadEscape
			}
			sb.WriteByte('\r')
		default:
			return "", ErrBadEscape
		}
	}
	return sb.String(), nil
}

func containsByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}
