package roomlimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// sweepEvery is how often a bucket set drops its idle entries even when
// it is not full.
const sweepEvery = time.Minute

// buckets is a token bucket per key (a user or an address) with a bounded
// number of entries. An entry whose bucket has refilled is idle: it says
// nothing a fresh bucket would not, so it is dropped at the next sweep.
// When every one of max entries is busy, a new key is refused rather than
// let an attacker who rotates addresses grow the map without bound.
type buckets struct {
	every rate.Limit
	burst int
	max   int

	mu        sync.Mutex
	m         map[string]*rate.Limiter
	lastSweep time.Time
}

// newBuckets returns a set of buckets refilling perMinute tokens a
// minute, holding burst, with at most max entries.
func newBuckets(perMinute float64, burst, max int) *buckets {
	return &buckets{
		every: rate.Limit(perMinute / 60),
		burst: burst,
		max:   max,
		m:     make(map[string]*rate.Limiter),
	}
}

// take takes a token from key's bucket at now. When none is left it
// returns how long until one is; when the set is full of busy entries it
// returns full and how long until the first entry could be idle.
func (b *buckets) take(key string, now time.Time) (wait time.Duration, full bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.lastSweep) >= sweepEvery {
		b.sweep(now)
	}
	lim := b.m[key]
	if lim == nil {
		if len(b.m) >= b.max {
			b.sweep(now)
		}
		if len(b.m) >= b.max {
			return b.refill(), true
		}
		lim = rate.NewLimiter(b.every, b.burst) // full
		b.m[key] = lim
	}
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, false
}

// sweep drops idle entries. Caller holds mu.
func (b *buckets) sweep(now time.Time) {
	b.lastSweep = now
	for k, lim := range b.m {
		if lim.TokensAt(now) >= float64(b.burst) {
			delete(b.m, k)
		}
	}
}

// refill is how long an empty bucket takes to become idle.
func (b *buckets) refill() time.Duration {
	return time.Duration(float64(b.burst) / float64(b.every) * float64(time.Second))
}

// len returns the number of entries.
func (b *buckets) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}
