package presence

import "context"

// looper is the lifecycle Presence and Announcer share: one loop
// goroutine, started by the first Start, cancelled and waited for by the
// first Close; Start after Close does nothing. Its fields are guarded by
// the owner's mutex, which every method expects held.
type looper struct {
	started bool
	closed  bool
	stop    func()        // cancels the loop started by start
	done    chan struct{} // closed when that loop has returned
}

// start runs loop in its own goroutine unless the looper was started or
// closed before.
func (l *looper) start(ctx context.Context, loop func(ctx context.Context, done chan<- struct{})) {
	if l.started || l.closed {
		return
	}
	l.started = true
	ctx, l.stop = context.WithCancel(ctx)
	l.done = make(chan struct{})
	// the loop goroutine is owned by the looper's owner (Presence or
	// Announcer): its Close cancels it and waits for it to return
	go loop(ctx, l.done)
}

// close marks the looper closed. It returns false if it was closed
// before; otherwise true and wait, which (called without the owner's
// mutex) cancels the loop, if one started, and waits for it to return.
func (l *looper) close() (wait func(), first bool) {
	if l.closed {
		return nil, false
	}
	l.closed = true
	stop, done := l.stop, l.done
	return func() {
		if stop != nil {
			stop()
			<-done
		}
	}, true
}
