package presence

import (
	"context"
	"encoding/json"
	"time"

	"chatrelay/internal/stomp"
)

// Start starts the goroutine that publishes this replica's snapshots:
// one at once, one after each burst of changes (at most one per MinGap)
// and one every Interval. It runs until ctx is cancelled or Close is
// called. Start after the first call, or after Close, does nothing.
func (p *Presence) Start(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.life.start(ctx, p.loop)
}

// Close stops the publishing goroutine, then publishes an empty snapshot
// so that the other replicas drop this one's users at once instead of
// after Expiry. Local Join, Leave and Members keep working. Close may be
// called more than once; only the first call publishes.
func (p *Presence) Close() error {
	p.mu.Lock()
	wait, first := p.life.close()
	p.mu.Unlock()
	if !first {
		return nil
	}
	wait()
	p.publish(true)
	return nil
}

// loop is the publishing goroutine. It owns the timers and the time of
// the last publication; it closes done when it returns.
func (p *Presence) loop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	last, size := p.publish(false)
	tick := p.opts.After(p.opts.Interval)
	var coalesce <-chan time.Time // non-nil while a change waits for MinGap
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.changed:
			if coalesce != nil || !p.isDirty() {
				continue
			}
			if wait := p.gap(size) - p.opts.Now().Sub(last); wait > 0 {
				coalesce = p.opts.After(wait)
				continue
			}
			last, size = p.publish(false)
		case <-coalesce:
			coalesce = nil
			if p.isDirty() {
				last, size = p.publish(false)
			}
		case <-tick:
			last, size = p.publish(false)
			tick = p.opts.After(p.opts.Interval)
		}
	}
}

// gap is the least time between a snapshot of size bytes and the next
// one triggered by a change: MinGap, or longer for a snapshot so big that
// MinGap would send more than MaxChangeBytesPerSecond.
func (p *Presence) gap(size int) time.Duration {
	g := time.Duration(float64(size) / float64(p.opts.MaxChangeBytesPerSecond) * float64(time.Second))
	return max(g, p.opts.MinGap)
}

// isDirty reports whether local state changed since the last snapshot.
func (p *Presence) isDirty() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dirty
}

// publish sends the local state to the other replicas; with empty true it
// sends an empty snapshot instead (the farewell of Close) and waits up to
// farewellTimeout (real time) for the broker to accept it. Failures are
// logged: the next snapshot, or expiry, repairs any loss. It returns the
// time the snapshot was taken and its size in bytes.
func (p *Presence) publish(empty bool) (now time.Time, size int) {
	now = p.opts.Now()
	if p.opts.Publisher == nil {
		p.mu.Lock()
		p.dirty = false
		p.mu.Unlock()
		return now, 0
	}
	p.mu.Lock()
	if p.life.closed && !empty {
		p.mu.Unlock()
		return now, 0
	}
	p.seq++
	s := snapshot{Replica: p.opts.ReplicaID, Seq: p.seq, At: now.UTC(), Rooms: map[string][]string{}}
	if !empty {
		s.Rooms = p.localSnapshot()
	}
	p.expire(now)
	p.mu.Unlock()

	body, err := json.Marshal(s)
	if err != nil { // unreachable: strings, numbers and a time
		p.opts.Logger.Error("presence: encode snapshot", "err", err)
		return now, 0
	}
	headers := stomp.Headers{{Key: "content-type", Value: "application/json"}}
	var onAccepted func(error)
	var accepted chan error
	if empty {
		accepted = make(chan error, 1)
		onAccepted = func(err error) {
			select {
			case accepted <- err:
			default:
			}
		}
	}
	if err := p.opts.Publisher.Publish(Topic, headers, body, onAccepted); err != nil {
		// the relay logs broker outages; this repeats every interval
		p.opts.Logger.Debug("presence: publish snapshot", "replica", p.opts.ReplicaID, "err", err)
		return now, len(body)
	}
	if empty {
		select {
		case err := <-accepted:
			if err != nil {
				p.opts.Logger.Warn("presence: farewell snapshot not accepted", "err", err)
			}
		case <-time.After(farewellTimeout):
			p.opts.Logger.Warn("presence: farewell snapshot not accepted in time")
		}
	}
	return now, len(body)
}

// farewellTimeout bounds how long Close waits for the broker to accept
// the empty snapshot.
const farewellTimeout = 2 * time.Second
