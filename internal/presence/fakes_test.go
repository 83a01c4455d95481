package presence

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/stomp"
)

// waitTimeout bounds every wait for an event in these tests.
const waitTimeout = 5 * time.Second

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a time source whose time only moves on Advance; tests
// give its Now and After as the options' Now and After.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	changed chan struct{} // closed and replaced whenever waiters change
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: t0, changed: make(chan struct{})}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{c.now.Add(d), ch})
	c.notify()
	return ch
}

// Advance moves time on by d and fires the waiters that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
	c.notify()
}

// notify wakes waitPending; c.mu must be held.
func (c *fakeClock) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// waitArmed waits until at least n timers are pending: a loop woken by a
// stale wake-up re-arms its timer and leaves the old one behind (After
// has no Stop), so "exactly" would be racy where only "armed" matters.
func (c *fakeClock) waitArmed(t *testing.T, n int) {
	t.Helper()
	c.waitPending(t, func(got int) bool { return got >= n }, fmt.Sprintf("at least %d", n))
}

// waitWaiters waits until exactly n timers are pending: the goroutines
// under test have armed everything they are going to arm.
func (c *fakeClock) waitWaiters(t *testing.T, n int) {
	t.Helper()
	c.waitPending(t, func(got int) bool { return got == n }, fmt.Sprint(n))
}

// waitPending waits, woken by every change, until ok holds for the number
// of pending timers; want says what ok wants, for the failure.
func (c *fakeClock) waitPending(t *testing.T, ok func(int) bool, want string) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		c.mu.Lock()
		got, ch := len(c.waiters), c.changed
		c.mu.Unlock()
		if ok(got) {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%d pending timers, want %s", got, want)
		}
	}
}

// bus is a fake broker topic: every publication reaches every subscribed
// Presence (the publisher too, as on the real topic), unless the
// publishing replica is cut off.
type bus struct {
	mu      sync.Mutex
	subs    []*Presence
	cut     map[string]bool
	log     []snapshot
	changed chan struct{} // closed and replaced on every publication
}

func newBus() *bus {
	return &bus{cut: map[string]bool{}, changed: make(chan struct{})}
}

// join subscribes p to the bus.
func (b *bus) join(p *Presence) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs = append(b.subs, p)
}

// cutOff drops every later publication of replica.
func (b *bus) cutOff(replica string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cut[replica] = true
}

// Publish implements Publisher; it delivers before it records, so a
// waiter that sees the record sees the delivery.
func (b *bus) Publish(dest string, h stomp.Headers, body []byte, onAccepted func(error)) error {
	var s snapshot
	if err := json.Unmarshal(body, &s); err != nil {
		panic("bus: published a non-snapshot: " + err.Error())
	}
	if dest != Topic || h.Value("content-type") != "application/json" {
		panic("bus: published to " + dest + " as " + h.Value("content-type"))
	}
	b.mu.Lock()
	subs, cut := append([]*Presence(nil), b.subs...), b.cut[s.Replica]
	b.mu.Unlock()
	if !cut {
		for _, p := range subs {
			if err := p.Receive(body); err != nil {
				panic("bus: " + err.Error())
			}
		}
	}
	if onAccepted != nil {
		onAccepted(nil)
	}
	b.mu.Lock()
	b.log = append(b.log, s)
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
	return nil
}

// waitPubs waits until at least n publications happened and returns them.
func (b *bus) waitPubs(t *testing.T, n int) []snapshot {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		b.mu.Lock()
		log, ch := append([]snapshot(nil), b.log...), b.changed
		b.mu.Unlock()
		if len(log) >= n {
			return log
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%d publications, want %d", len(log), n)
		}
	}
}

// count returns the number of publications so far.
func (b *bus) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.log)
}
