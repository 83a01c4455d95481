package transport

import (
	"sync/atomic"
	"time"
)

// An idle WebSocket connection need not cost a goroutine at all. Between
// messages, when gorilla has nothing buffered, the reader parks the
// connection instead of waiting: it registers the socket with the
// process's idle poller (idlepark_linux.go: one epoll instance and one
// goroutine for every parked connection) and a timer for its read
// deadline, and ends. Whichever comes first — input, the end of input or
// an error on the socket, the deadline, or Close — starts a fresh reader
// (readNext), which reads on as before: it waits for input through the
// socket (inputWaiter), then reads the message, and a passed deadline or a
// closed connection fails that read as it did when the reader waited.
//
// A wake-up that finds nothing to read (an event left over from an
// earlier park, a timer that fired as the deadline moved) only costs a
// reader waiting as it did before parking existed: every wake is
// harmless, so races between the poller, the timer and Close need no
// more than the state's compare-and-swap, which lets one of them start
// the reader. Where no poller runs (another OS, no descriptor), park
// starts the next reader at once.

// Reader states of a wsConn (wsConn.state).
const (
	readRunning int32 = iota // a reader goroutine runs (or is being started)
	readParked               // no reader: the poller, the timer or Close starts one
	readEnded                // reading is over for good
)

// parkState is what a wsConn needs to park its reader.
type parkState struct {
	state    atomic.Int32
	pollID   uint64      // the poller's key for the connection; 0: not registered
	deadline time.Time   // the read deadline last set, under wsConn.mu
	timer    *time.Timer // wakes the reader at deadline while parked, under wsConn.mu
}

// park ends the calling reader, leaving the connection to whatever
// wakes it first (see above). Only the running reader calls it, once it
// has nothing buffered to read.
func (c *wsConn) park() {
	c.state.Store(readParked)
	if !idlePoller.arm(c) {
		c.wake()
		return
	}
	c.mu.Lock()
	closing := c.closing
	if d := c.deadline; !closing && !d.IsZero() {
		if c.timer == nil {
			c.timer = time.AfterFunc(time.Until(d), c.wake)
		} else {
			c.timer.Reset(time.Until(d))
		}
	}
	c.mu.Unlock()
	if closing {
		// Close may have looked before the state said parked
		c.wake()
	}
}

// wake starts a reader when the connection is parked; otherwise it does
// nothing. The poller, the deadline timer and Close call it.
func (c *wsConn) wake() {
	if !c.state.CompareAndSwap(readParked, readRunning) {
		return
	}
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	go c.readNext()
}

// endReading marks reading over and forgets the connection in the
// poller; the last reader calls it before draining.
func (c *wsConn) endReading() {
	c.state.Store(readEnded)
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	idlePoller.forget(c)
}
