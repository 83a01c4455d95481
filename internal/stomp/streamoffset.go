package stomp

import (
	"strconv"
	"strings"
)

// ValidStreamOffset reports whether v is an x-stream-offset value RabbitMQ
// parses: first, last, next, offset=N or timestamp=N with N a
// non-negative 64-bit integer. It is the one check of that value: the
// destination policy refuses a client's header with it and the relay
// refuses a stream SUBSCRIBE with it, since RabbitMQ would close the
// shared connection on a malformed one.
func ValidStreamOffset(v string) bool {
	switch v {
	case "first", "last", "next":
		return true
	}
	for _, prefix := range []string{"offset=", "timestamp="} {
		if rest, ok := strings.CutPrefix(v, prefix); ok {
			n, err := strconv.ParseInt(rest, 10, 64)
			return err == nil && n >= 0
		}
	}
	return false
}
