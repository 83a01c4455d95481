package relay

import (
	"context"
	"errors"
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

// next returns the next delay and its nominal (unjittered) value.
func (b *backoff) next() (delay, nominal time.Duration) {
	d := b.cur
	b.cur = min(2*b.cur, b.max)
	half := d / 2
	return half + rand.N(half+1), d
}

// reset starts over from min after a successful connect.
func (b *backoff) reset() { b.cur = b.min }

// Probing while backing off. A broker that is down refuses TCP connects;
// the moment it listens again, a cheap connect succeeds. Rather than
// sleep out a backoff that has grown to reconnect_max, a connection whose
// last attempt found no broker listening probes every address with a TCP
// connect every probeMin to 2*probeMin (jittered, so that replicas spread
// out) and reconnects as soon as one accepts. Probing is bounded: at most
// one connect in flight per address, each within probeTimeout, only
// while waiting out a delay longer than a probe interval, and never after
// an attempt that reached a broker and failed later (a broker that
// accepts TCP and then refuses or drops the STOMP session gets the plain
// backoff, so probing cannot turn into a reconnect loop).
const (
	probeMin     = 100 * time.Millisecond
	probeTimeout = 500 * time.Millisecond
)

// probeInterval returns a jittered interval between two probe rounds.
func probeInterval() time.Duration { return probeMin + rand.N(probeMin+1) }

// connectError is a dial failure before any byte of STOMP: nothing
// accepted the TCP connection.
type connectError struct{ err error }

func (e *connectError) Error() string { return e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// isConnectError reports whether err says no broker accepted the TCP
// connection.
func isConnectError(err error) bool {
	var ce *connectError
	return errors.As(err, &ce)
}

// pause waits out delay d before the next connect attempt. With probe
// set and d longer than two probe intervals, it probes addrs meanwhile
// and ends as soon as one accepts a TCP connection, returning that
// address's index; otherwise it returns -1 once d has passed. It returns
// ok false when ctx ended first.
func (c *upConn) pause(ctx context.Context, d time.Duration, probe bool, addrs []string) (next int, ok bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	if !probe || d <= 2*probeMin {
		select {
		case <-timer.C:
			return -1, true
		case <-ctx.Done():
			return -1, false
		}
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel() // aborts probes still in flight
	type result struct {
		i  int
		ok bool
	}
	// every probe goroutine sends exactly one result and at most one per
	// address is in flight: the buffer never blocks them
	results := make(chan result, len(addrs))
	busy := make([]bool, len(addrs))
	tick := time.NewTimer(probeInterval())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return -1, false
		case <-timer.C:
			return -1, true
		case r := <-results:
			busy[r.i] = false
			if r.ok {
				c.log.Debug("relay: broker accepts connections again", "addr", addrs[r.i])
				return r.i, true
			}
		case <-tick.C:
			for i, addr := range addrs {
				if busy[i] {
					continue
				}
				busy[i] = true
				go func() {
					// owns one probe connection: opens it, closes it at
					// once, and reports whether it was accepted
					results <- result{i, c.probe(pctx, addr)}
				}()
			}
			tick.Reset(probeInterval())
		}
	}
}

// probe reports whether addr accepts a TCP connection within
// probeTimeout; the connection is closed at once.
func (c *upConn) probe(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	nc, err := c.r.cfg.Dial(ctx, addr)
	if err != nil {
		return false
	}
	nc.Close()
	return true
}
