package confirm

import (
	"context"
	"errors"
	"math"
	"slices"
	"time"

	"chatrelay/internal/rooms"
)

// States of a watch.
const (
	// watchAttaching: the watch's attach goroutine runs (following the
	// room, or publishing what waited for it).
	watchAttaching = iota
	// watchLive: the watch follows the room; messages are published at
	// once.
	watchLive
	// watchEnded: the watch is no longer in its Confirmer.
	watchEnded
)

// Bounds of a watch's attempts to follow its room.
const (
	attachRetryMin = 100 * time.Millisecond
	attachRetryMax = time.Second
)

// watch follows one room on behalf of the messages waiting to be seen in
// it: one follower of the room's feed per room, however many messages
// wait. It lingers for a Timeout after the last one was seen, so that a
// room sent to again is still followed. Every field is guarded by c.mu.
type watch struct {
	c    *Confirmer
	room string

	state int
	// followed: an attachment has been live (later ones resume from
	// the cursor).
	followed bool
	// gen numbers the watch's attachments: deliveries of an older one
	// are ignored.
	gen    int
	stop   func()
	cursor int64 // highest offset delivered to the watch; -1 none
	// pending holds the messages waiting to be seen, by id.
	pending map[string]*pending
	// queue holds, in Send order, the messages waiting for the watch to
	// be live before their first publish.
	queue []*pending
	idle  *time.Timer
}

// newWatch returns a watch of room in the attaching state.
func newWatch(c *Confirmer, room string) *watch {
	return &watch{c: c, room: room, state: watchAttaching, cursor: -1, pending: make(map[string]*pending)}
}

// busy stops the linger timer: a message waits. Caller holds c.mu.
func (w *watch) busy() {
	if w.idle != nil {
		w.idle.Stop()
		w.idle = nil
	}
}

// resolve takes p out of the watch (once), and starts the linger timer
// when the live watch then waits for nothing. Caller holds c.mu.
func (w *watch) resolve(p *pending) {
	if p.resolved {
		return
	}
	p.resolved = true
	p.timer.Stop()
	delete(w.pending, p.id)
	w.c.settled()
	if i := slices.Index(w.queue, p); i >= 0 {
		w.queue = slices.Delete(w.queue, i, i+1)
	}
	w.linger()
}

// linger starts the linger timer when the live watch waits for nothing.
// Caller holds c.mu.
func (w *watch) linger() {
	if len(w.pending) > 0 || w.state != watchLive || w.idle != nil {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(w.c.opts.Timeout, func() {
		// runs on the timer's goroutine; owns nothing: ends the
		// watch if nothing came to wait meanwhile
		w.c.mu.Lock()
		if w.idle != t || len(w.pending) > 0 || w.state != watchLive {
			w.c.mu.Unlock()
			return
		}
		stop := w.end()
		w.c.mu.Unlock()
		stop()
	})
	w.idle = t
}

// end removes the watch from its Confirmer and returns the stop of its
// attachment (nil if none), to call without c.mu. Caller holds c.mu.
func (w *watch) end() func() {
	if w.c.watches[w.room] == w {
		delete(w.c.watches, w.room)
	}
	w.state = watchEnded
	w.busy()
	stop := w.stop
	w.stop = nil
	w.gen++
	return stop
}

// start returns where a new attachment begins: the newest message, for a
// cursor, on the first; after the cursor on later ones, so that nothing
// delivered meanwhile is missed (the feed replays it). Caller holds c.mu.
func (w *watch) start() rooms.Start {
	switch {
	case !w.followed:
		return rooms.Start{Last: 1, After: -1}
	case w.cursor >= 0:
		return rooms.Start{After: w.cursor}
	default:
		// the room had no message when first followed: replay all
		// the feed keeps
		return rooms.Start{Last: math.MaxInt32, After: -1}
	}
}

// lastDeadline returns the latest deadline of the waiting messages.
// Caller holds c.mu.
func (w *watch) lastDeadline() time.Time {
	var d time.Time
	for _, p := range w.pending {
		if p.deadline.After(d) {
			d = p.deadline
		}
	}
	return d
}

// attach follows the room until it succeeds, the room is gone, or no
// message waits any more; then it publishes what waited, in order, and
// makes the watch live. It runs on the watch's attach goroutine: one at
// a time, while the state is watchAttaching.
func (w *watch) attach() {
	c := w.c
	retry := attachRetryMin
	for {
		c.mu.Lock()
		if w.state == watchEnded {
			c.mu.Unlock()
			return
		}
		if len(w.pending) == 0 {
			stop := w.end()
			c.mu.Unlock()
			if stop != nil {
				stop()
			}
			return
		}
		w.gen++
		gen, start, deadline := w.gen, w.start(), w.lastDeadline()
		c.mu.Unlock()

		// the room is opened before the watch goes live (unless it takes
		// posts), so that no publish reaches a room without its stream
		err := c.ready(w.room, 0, deadline)
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		var stop func()
		if err == nil {
			stop, err = c.opts.Rooms.Follow(ctx, w.room, start, func(m rooms.Message, body []byte) {
				w.deliver(gen, m, body)
			})
		}
		cancel()
		if err == nil && w.flush(gen, stop) {
			return
		}
		if errors.Is(err, rooms.ErrNotFound) {
			w.fail(err)
			return
		}
		if err != nil {
			c.log.Warn("confirm: cannot follow the room yet; retrying", "room", w.room, "err", err)
			time.Sleep(retry)
			retry = min(2*retry, attachRetryMax)
		}
	}
}

// flush adopts a new attachment: it publishes the messages that waited
// for it, in order (and those Sent meanwhile), and makes the watch live.
// It reports false, having stopped the attachment, when that already
// ended: attach then tries again.
func (w *watch) flush(gen int, stop func()) bool {
	c := w.c
	c.mu.Lock()
	for {
		if w.gen != gen || w.state == watchEnded {
			c.mu.Unlock()
			stop()
			return w.state == watchEnded
		}
		w.stop = stop
		if len(w.queue) == 0 {
			break
		}
		batch := w.queue
		w.queue = nil
		for _, p := range batch {
			p.sends++
		}
		c.mu.Unlock()
		for _, p := range batch {
			c.publish(w.room, p)
		}
		c.mu.Lock()
	}
	w.state, w.followed = watchLive, true
	w.linger()
	c.mu.Unlock()
	return true
}

// fail ends the watch and every waiting message with err.
func (w *watch) fail(err error) {
	c := w.c
	c.mu.Lock()
	var failed []*pending
	for _, p := range w.pending {
		failed = append(failed, p)
	}
	for _, p := range failed {
		w.resolve(p)
	}
	stop := w.end()
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	for _, p := range failed {
		p.done(err)
	}
}

// deliver is the watch's follower of the room's feed (called with the
// feed's lock held): a message with a waiting id resolves it; the end of
// the feed starts a new attachment while messages wait.
func (w *watch) deliver(gen int, m rooms.Message, body []byte) {
	c := w.c
	c.mu.Lock()
	if gen != w.gen || w.state == watchEnded {
		c.mu.Unlock()
		return
	}
	if body == nil {
		// the feed ended (its tail failed): follow again, from the
		// cursor, off the feed's goroutine
		w.gen++
		w.stop = nil
		relive := w.state == watchLive
		w.state = watchAttaching
		w.busy()
		c.mu.Unlock()
		if relive {
			go w.attach() // owns the watch's attachment until it is live
		}
		return
	}
	w.cursor = max(w.cursor, m.Offset)
	p := w.pending[m.ID]
	if p == nil || p.sends == 0 {
		c.mu.Unlock()
		return
	}
	w.resolve(p)
	sends, took := p.sends, time.Since(p.start)
	c.mu.Unlock()
	c.stored.Add(1)
	c.log.Debug("confirm: message stored", "room", w.room, "id", p.id, "publishes", sends, "took", took)
	p.done(nil)
}
