package embedded

import (
	"sync"

	"github.com/go-stomp/stomp/v3/frame"
	"github.com/go-stomp/stomp/v3/server/client"
)

// outlet is one subscription's line of frames on their way into its
// connection. go-stomp hands a connection its MESSAGEs through bounded
// channels (16 frames) that only the connection's own frame loop drains;
// that loop also blocks handing SENDs to the broker loop. So the broker
// loop must never push into a connection itself: it appends to the
// subscription's outlet, which never blocks, and a drain goroutine (one
// at a time, only while frames wait) does the blocking push in order.
//
// A connection that ends unsubscribes everything first (each request is
// handled before the next is sent: the request channel is unbuffered),
// which closes its outlets, and then empties its channels: so a drain
// goroutine is left with at most the one push it had begun, and that
// push finds room. Only if more than 16 subscriptions of one connection
// each had a push under way at that moment would the 17th stay blocked
// (one goroutine and one frame kept until the process ends).
type outlet struct {
	sub   *client.Subscription
	dest  string
	queue bool // a /queue subscription: one frame at a time, requeued if dropped
	flow  *flow

	mu      sync.Mutex
	frames  []*frame.Frame
	sizes   []int
	running bool // a drain goroutine is running
	closed  bool // unsubscribed: nothing more is pushed
}

func newOutlet(sub *client.Subscription, f *flow) *outlet {
	return &outlet{sub: sub, dest: sub.Destination(), queue: isQueue(sub.Destination()), flow: f}
}

// push appends f for delivery; it never blocks. The frame counts against
// the broker's flow until it is handed to the connection.
func (o *outlet) push(f *frame.Frame) {
	n := frameSize(f)
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.frames = append(o.frames, f)
	o.sizes = append(o.sizes, n)
	o.flow.add(n)
	start := !o.running
	o.running = true
	o.mu.Unlock()
	if start {
		go o.drain()
	}
}

// drain is the outlet's drain goroutine: it owns the push of each waiting
// frame into the subscription's connection, in order, and ends when none
// is left or the outlet is closed. A push blocks while the connection's
// channel is full; the connection's frame loop empties it, since the
// broker loop it hands requests to never blocks.
func (o *outlet) drain() {
	for {
		o.mu.Lock()
		if o.closed || len(o.frames) == 0 {
			o.running = false
			o.mu.Unlock()
			return
		}
		f, n := o.frames[0], o.sizes[0]
		o.frames[0] = nil
		o.frames, o.sizes = o.frames[1:], o.sizes[1:]
		o.mu.Unlock()
		if o.queue {
			o.sub.SendQueueFrame(f)
		} else {
			o.sub.SendTopicFrame(f)
		}
		o.flow.add(-n)
	}
}

// close stops the outlet and returns the frames not yet handed over (a
// queue subscription's frame goes back to its queue).
func (o *outlet) close() []*frame.Frame {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	left := o.frames
	for _, n := range o.sizes {
		o.flow.add(-n)
	}
	o.frames, o.sizes = nil, nil
	return left
}

// frameSize estimates the memory a frame holds.
func frameSize(f *frame.Frame) int {
	n := len(f.Command) + len(f.Body) + 64
	for i := range f.Header.Len() {
		k, v := f.Header.GetAt(i)
		n += len(k) + len(v) + 2
	}
	return n
}

// HighWater is how many bytes of MESSAGEs may wait in outlets (routed,
// not yet taken by their connection) before the broker stops reading
// from its connections; it reads again once they are down to LowWater.
// This is the broker's flow control: a publisher faster than the
// subscribers' connections is paused (its pipe stops being read, so the
// relay's writes wait and its outbox fills) instead of growing memory
// without bound. Messages kept by a queue that no subscriber is ready
// for do not count: like go-stomp's, queues hold them without a limit.
const (
	HighWater = 16 << 20
	LowWater  = HighWater / 2
)

// flow counts the bytes waiting in outlets and holds readers back while
// they are over HighWater.
type flow struct {
	mu      sync.Mutex
	pending int
	paused  bool
	resume  chan struct{} // closed when a pause ends
}

func newFlow() *flow { return &flow{resume: make(chan struct{})} }

// add moves the pending count by n (negative when frames leave).
func (f *flow) add(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending += n
	switch {
	case !f.paused && f.pending > HighWater:
		f.paused = true
	case f.paused && f.pending <= LowWater:
		f.paused = false
		close(f.resume)
		f.resume = make(chan struct{})
	}
}

// wait returns once reading may go on, or false when done is closed
// first.
func (f *flow) wait(done <-chan struct{}) bool {
	for {
		f.mu.Lock()
		paused, resume := f.paused, f.resume
		f.mu.Unlock()
		if !paused {
			return true
		}
		select {
		case <-resume:
		case <-done:
			return false
		}
	}
}

// isPaused reports whether readers are held back.
func (f *flow) isPaused() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.paused
}

// waiting returns the bytes waiting in outlets.
func (f *flow) waiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pending
}
