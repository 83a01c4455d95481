package typing

import (
	"sync"
	"time"
)

// Sweeper runs a Tracker's Sweep periodically and publishes its stops.
type Sweeper struct {
	t       *Tracker
	every   time.Duration
	publish func(dest string, body []byte)
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// NewSweeper returns a Sweeper of t that sweeps every TTL/10 (at least
// every 50 ms), so that a stop is late by at most a tenth of the TTL, and
// hands each stop to publish; Start runs it.
func NewSweeper(t *Tracker, publish func(dest string, body []byte)) *Sweeper {
	return &Sweeper{t: t, every: max(t.opts.TTL/10, 50*time.Millisecond), publish: publish,
		stop: make(chan struct{}), done: make(chan struct{})}
}

// Start starts the goroutine that sweeps until Close.
func (s *Sweeper) Start() {
	// this goroutine owns the ticker; the tracker's state is under its mu
	go func() {
		defer close(s.done)
		tick := time.NewTicker(s.every)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				for _, st := range s.t.Sweep() {
					s.publish(Topic(st.RoomID), st.Body)
				}
			}
		}
	}()
}

// Close stops the goroutine Start started and waits for it; it is
// idempotent and must only be called after Start.
func (s *Sweeper) Close() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
}
