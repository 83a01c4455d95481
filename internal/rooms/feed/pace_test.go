package feed

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/rooms"
)

// countPacer lets at most max replayed messages be outstanding (given to
// the follower and not yet taken); take, called by a drain goroutine,
// takes them all.
type countPacer struct {
	mu          sync.Mutex
	outstanding int
	max         int
	peak        int
	waits       int
	replaying   bool
	space       chan struct{}
}

func newCountPacer(max int) *countPacer {
	return &countPacer{max: max, replaying: true, space: make(chan struct{})}
}

func (p *countPacer) Fits(int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.outstanding < p.max
}

func (p *countPacer) Wait(ctx context.Context) error {
	p.mu.Lock()
	p.waits++
	ch := p.space
	p.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// given counts a message handed to the follower.
func (p *countPacer) given() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.replaying {
		p.outstanding++
		p.peak = max(p.peak, p.outstanding)
	}
}

func (p *countPacer) take() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outstanding = 0
	close(p.space)
	p.space = make(chan struct{})
}

// TestPacedReplay resumes from the start of a 400-message log through a
// 20-message ring with a pacer that admits 10 outstanding messages, while
// 100 more are published (so the ring moves on past the follower's cursor
// while it waits): the follower gets every message once, in order, never
// more than 10 at a time during the replay, then live ones.
func TestPacedReplay(t *testing.T) {
	l := newFakeLog(t)
	for i := 0; i < 400; i++ {
		l.publish()
	}
	s := testSet(t, l, 20)
	p := newCountPacer(10)
	c := newCollector()
	deliver := func(m rooms.Message, b []byte) {
		p.given()
		c.deliver(m, b)
	}
	ctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		// owns draining: the follower takes what it was given
		defer wg.Done()
		for ctx.Err() == nil {
			p.take()
			time.Sleep(100 * time.Microsecond)
		}
	}()
	go func() {
		// owns publishing the live messages during the replay
		defer wg.Done()
		for i := 0; i < 100 && ctx.Err() == nil; i++ {
			l.publish()
			time.Sleep(200 * time.Microsecond)
		}
	}()
	stop, err := s.Follow(ctx, "r", rooms.Start{After: 0, Pace: p}, deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	p.mu.Lock()
	p.replaying = false
	peak, waits := p.peak, p.waits
	p.mu.Unlock()
	if peak > 10 || waits == 0 {
		t.Fatalf("replay peaked at %d outstanding messages (pacer admits 10) after %d waits", peak, waits)
	}
	if got := c.waitLen(t, 499); !slices.Equal(got, seq(2, 500)) {
		t.Fatalf("got %v", got)
	}
	cancel()
	wg.Wait()
	t.Logf("replay waited %d times, at most %d outstanding, %d range reads", waits, peak, l.readCount())
}

// A pacer that fails (the follower's session ended) ends Follow with its
// error, from the ring and from a range read alike.
func TestPacedReplayGivesUp(t *testing.T) {
	l := newFakeLog(t)
	for i := 0; i < 100; i++ {
		l.publish()
	}
	s := testSet(t, l, 20)
	for _, after := range []int64{0, 90} { // a range read, the ring
		p := newCountPacer(3)
		ctx, cancel := context.WithCancel(ctx(t))
		c := newCollector()
		deliver := func(m rooms.Message, b []byte) {
			p.given()
			if c.deliver(m, b); len(c.nums()) == 3 {
				cancel() // the follower goes away
			}
		}
		if _, err := s.Follow(ctx, "r", rooms.Start{After: after, Pace: p}, deliver); err != context.Canceled {
			t.Fatalf("after %d: Follow returned %v, want context.Canceled", after, err)
		}
		if n := len(c.nums()); n != 3 {
			t.Fatalf("after %d: %d messages delivered", after, n)
		}
	}
}
