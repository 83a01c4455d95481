package relay

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff yields reconnect delays that double from min to max, each
// jittered to between half and all of the nominal value so that replicas
// do not reconnect in lockstep.
type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(min, max time.Duration) *backoff {
	return &backoff{min: min, max: max, cur: min}
}

// next returns the next delay.
func (b *backoff) next() time.Duration {
	d := b.cur
	b.cur = min(2*b.cur, b.max)
	half := d / 2
	return half + rand.N(half+1)
}

// reset starts over from min after a successful connect.
func (b *backoff) reset() { b.cur = b.min }

// sleepCtx sleeps for d; it returns false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
