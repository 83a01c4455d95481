package stomp

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseHeartBeat parses a heart-beat header value "cx,cy": two
// non-negative whole numbers of milliseconds separated by a comma, spaces
// around each allowed. It is the one parser of the header for both ends
// of the relay: the client's CONNECT (session) and the broker's CONNECTED
// (relay), which may narrow what it accepts further.
func ParseHeartBeat(v string) (cx, cy int, err error) {
	a, b, ok := strings.Cut(v, ",")
	if !ok {
		return 0, 0, fmt.Errorf("want two comma-separated numbers, got %q", v)
	}
	if cx, err = strconv.Atoi(strings.TrimSpace(a)); err != nil || cx < 0 {
		return 0, 0, fmt.Errorf("bad number in %q", v)
	}
	if cy, err = strconv.Atoi(strings.TrimSpace(b)); err != nil || cy < 0 {
		return 0, 0, fmt.Errorf("bad number in %q", v)
	}
	return cx, cy, nil
}
