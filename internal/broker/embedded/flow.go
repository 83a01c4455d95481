package embedded

import "sync"

// HighWater is how many bytes of MESSAGEs may wait in outlets (routed,
// not yet taken by their connection) before the broker stops reading
// from its connections; it reads again once they are down to LowWater.
// This is the broker's flow control: a publisher faster than the
// subscribers' connections is paused (its pipe stops being read, so the
// relay's writes wait and its outbox fills) instead of growing memory
// without bound.
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
