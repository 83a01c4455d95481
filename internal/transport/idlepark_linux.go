package transport

import (
	"sync"

	"golang.org/x/sys/unix"
)

// idlePoller is the process's poller of parked WebSocket connections
// (idlepark.go), started by the first park.
var idlePoller = &poller{conns: map[uint64]*wsConn{}}

// poller watches parked connections' sockets with an epoll instance of its
// own (the runtime's netpoller has its own registration of each socket
// and is not involved) and wakes a connection when its socket becomes
// readable, reaches its end or fails. Registrations are one-shot: an event
// disarms the socket until its next park re-arms it. Closing a socket
// removes its registration; the key in the event data, not the descriptor
// number (which the system reuses), names the connection.
type poller struct {
	once sync.Once
	epfd int // -1 when epoll could not be had: nothing parks
	mu   sync.Mutex
	// the registered connections by key, until their reading ends
	conns map[uint64]*wsConn
	next  uint64
}

// pollEvents are what wakes a parked connection (errors and hang-ups are
// always reported).
const pollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// arm registers c's socket, or re-arms its registration, and reports
// whether c may stay parked. It fails where the poller or c's descriptor
// is missing, or the socket is already closed.
func (p *poller) arm(c *wsConn) bool {
	p.once.Do(p.start)
	if p.epfd < 0 || c.in.raw == nil {
		return false
	}
	op := unix.EPOLL_CTL_MOD
	if c.pollID == 0 {
		p.mu.Lock()
		p.next++
		c.pollID = p.next
		p.conns[c.pollID] = c
		p.mu.Unlock()
		op = unix.EPOLL_CTL_ADD
	}
	ev := unix.EpollEvent{Events: pollEvents, Fd: int32(uint32(c.pollID)), Pad: int32(uint32(c.pollID >> 32))}
	var err error
	// inside Control the descriptor cannot be closed (and its number
	// reused by another connection) under the call
	cerr := c.in.raw.Control(func(fd uintptr) { err = unix.EpollCtl(p.epfd, op, int(fd), &ev) })
	return cerr == nil && err == nil
}

// forget removes c from the poller once its reading has ended.
func (p *poller) forget(c *wsConn) {
	if c.pollID == 0 {
		return
	}
	p.mu.Lock()
	delete(p.conns, c.pollID)
	p.mu.Unlock()
	_ = c.in.raw.Control(func(fd uintptr) { _ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
}

// start makes the epoll instance and starts the poller's goroutine.
func (p *poller) start() {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		p.epfd = -1
		return
	}
	p.epfd = fd
	go p.loop()
}

// loop is the poller's goroutine: it owns the epoll instance's waiting
// and runs for the life of the process, waking each connection an event
// names (wake starts its reader; a connection that is not parked any
// more ignores it).
func (p *poller) loop() {
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			continue // EINTR; no other error can come from a valid instance
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			p.mu.Lock()
			c := p.conns[id]
			p.mu.Unlock()
			if c != nil {
				c.wake()
			}
		}
	}
}
