//go:build !linux

package transport

// idlePoller parks nothing where epoll is not available: every reader
// starts the next one at once (idlepark.go).
var idlePoller poller

// poller is the stand-in for the Linux idle poller.
type poller struct{}

// arm reports that c cannot park.
func (poller) arm(*wsConn) bool { return false }

// forget does nothing.
func (poller) forget(*wsConn) {}
