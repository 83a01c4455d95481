package rabbitstore

import (
	"context"
	"sync"
	"time"

	"chatrelay/internal/rooms/feed"
)

// roomTail is a room feed's tail across the room's stream epochs
// (epoch.go): it tails the current epoch's stream with its offsets moved
// up by the epoch's base; while the room has no stream (lazy, or
// archived) it gives the feed the archived messages and reports the log
// synced; when an epoch ends it stops that stream's tail, gives the feed
// the archived messages (the feed ignores the offsets it applied already,
// so a tail that lagged behind the fence loses nothing), and starts the
// next epoch's tail from its first offset once it is opened. It starts
// no tail on a closing room's stream: the tail's marker would land after
// the archiver's, at offsets the next epoch takes; a feed that starts
// then waits for the archive or its abort.
type roomTail struct {
	src  *roomSource
	sink feed.Sink
	quit chan struct{}
	done chan struct{}

	mu      sync.Mutex
	stopped bool
	t       *tail  // the current epoch's tail, if any
	epoch   int    // t's epoch (-1: none)
	stream  string // t's stream
	// from is the room offset from which the archived messages are
	// still to be given to the feed: a room without a stream takes
	// messages posted to the registry (resident.go), each a change of
	// the room, and each change gives only the messages new since
	from int64
}

// startRoomTail starts a room's tail in the state st: the stream's tail
// from its last chunk right away (so that a failure to subscribe is the
// caller's), then the goroutine that follows the room's lifecycle.
func startRoomTail(src *roomSource, sink feed.Sink, st roomState) (*roomTail, error) {
	rt := &roomTail{src: src, sink: sink, quit: make(chan struct{}), done: make(chan struct{}), epoch: -1}
	if err := rt.begin(st, "last"); err != nil {
		return nil, err
	}
	go rt.run() // owns the epoch changes: stopping and starting the tails
	return rt, nil
}

// begin starts what the feed needs in state st when no stream tail runs.
// On a closing room it starts nothing (a tail's sync marker would land
// after the archiver's): the archive or its abort starts one. A room
// without a stream gives the feed its archived messages, which are then
// the whole log (Synced, once more if a tail stopped before its marker).
// Otherwise it tails the stream from offset ("last": the feed reads what
// lies below the last chunk through ReadRange; "first": after the
// archived messages, for an epoch opened after them). Caller holds rt.mu
// or owns rt alone.
func (rt *roomTail) begin(st roomState, offset string) error {
	switch {
	case st.closing:
		return nil
	case st.stream == "":
		rt.deliverSnapshot(st)
		rt.sink.Synced()
		return nil
	}
	if offset == "first" {
		rt.deliverSnapshot(st)
	}
	t, err := rt.src.startTail(st, offset, rt.epochSink(st))
	if err != nil {
		return err
	}
	rt.t, rt.epoch, rt.stream = t, st.epoch, st.stream
	return nil
}

// run follows the room's lifecycle until stopped or the room is gone (its
// feed is then dropped). While it waits on a closing room without a tail,
// it aborts the closing once its lease ran out, as Open does, so that a
// dead archiver leaves no feed waiting.
func (rt *roomTail) run() {
	defer close(rt.done)
	s := rt.src.s
	for {
		st, changed := s.reg.state(rt.src.room, true)
		if !st.exists {
			return
		}
		if !rt.adopt(st) {
			return
		}
		var lease *time.Timer
		var expired <-chan time.Time
		if st.closing && !rt.tailing() {
			lease = time.NewTimer(max(st.closingAt.Add(s.opts.ArchiveLease).Sub(s.opts.Now()), leaseRetry))
			expired = lease.C
		}
		select {
		case <-rt.quit:
			if lease != nil {
				lease.Stop()
			}
			return
		case <-changed:
		case <-expired:
			ctx, cancel := context.WithTimeout(context.Background(), abortTimeout)
			if err := s.expireClosing(ctx, st); err != nil {
				s.log.Warn("rooms: could not reopen a room whose archiving outlived its lease", "room", rt.src.room, "err", err)
			}
			cancel()
		}
		if lease != nil {
			lease.Stop()
		}
	}
}

// leaseRetry is the least wait before a room tail aborts a closing whose
// lease ran out (again, if its last abort failed).
const leaseRetry = time.Second

// tailing reports whether a stream tail runs.
func (rt *roomTail) tailing() bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.t != nil
}

// adopt makes the tail fit st: a tail of another epoch (or of a room that
// has no stream now) stops, and the archived messages go to the feed (in
// a room still without a stream, those posted since: resident.go); a
// new epoch's stream is tailed from its first offset. It reports false
// when the tail was stopped or could not start (the feed is then told).
func (rt *roomTail) adopt(st roomState) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.stopped {
		return false
	}
	if st.stream != "" && st.epoch == rt.epoch {
		return true // same epoch (open or closing)
	}
	if rt.t != nil {
		rt.t.stop()
		rt.t, rt.epoch, rt.stream = nil, -1, ""
	}
	if err := rt.begin(st, "first"); err != nil {
		go func() {
			// owns nothing: reports the failure off the locked section,
			// so that the sink may stop the tail
			rt.sink.Failed(err)
		}()
		return false
	}
	return true
}

// epochSink is the sink of st's stream tail.
func (rt *roomTail) epochSink(st roomState) feed.Sink {
	return &epochSink{rt: rt, stream: st.stream, base: st.base}
}

// tailFailed handles the failure of stream's tail: when the room's epoch
// on that stream is ending (closing) or over (the stream was deleted
// under a replica that had not yet applied the archive), it is no failure
// of the feed: the tail is forgotten and the next lifecycle change starts
// the right one. Otherwise the feed is told.
func (rt *roomTail) tailFailed(stream string, err error) {
	st, _ := rt.src.s.reg.state(rt.src.room, false)
	rt.mu.Lock()
	if rt.stopped {
		rt.mu.Unlock()
		return
	}
	if st.exists && (st.stream != stream || st.closing) {
		var t *tail
		if rt.stream == stream {
			t, rt.t, rt.epoch, rt.stream = rt.t, nil, -1, ""
		}
		rt.mu.Unlock()
		if t != nil {
			t.stop()
		}
		rt.src.s.log.Debug("rooms: a stream tail ended with its epoch", "room", rt.src.room, "stream", stream, "err", err)
		return
	}
	rt.mu.Unlock()
	rt.sink.Failed(err)
}

// deliverSnapshot gives the feed the room's archived messages (within
// the retention) from rt.from, oldest first. No stream tail runs
// meanwhile. A stream tail's records never move rt.from: after an epoch
// ends, the archive's messages it did not deliver (it lagged behind the
// fence) are still given.
func (rt *roomTail) deliverSnapshot(st roomState) {
	s := rt.src.s
	for _, r := range snapshotRecords(st.snapshot, rt.from, st.base, s.maxAge, s.opts.Now()) {
		rt.sink.Record(r)
	}
	rt.from = max(rt.from, st.base)
}

// stop ends the lifecycle goroutine and the current tail; no sink call
// starts after it returns.
func (rt *roomTail) stop() {
	rt.mu.Lock()
	rt.stopped = true
	t := rt.t
	rt.t = nil
	rt.mu.Unlock()
	close(rt.quit)
	<-rt.done
	if t != nil {
		t.stop()
	}
}

// epochSink is the sink of one epoch's stream tail: it moves the
// stream's offsets up by the epoch's base on the way to the feed, and
// lets the roomTail judge the tail's failure.
type epochSink struct {
	rt     *roomTail
	stream string
	base   int64
}

// Record passes r on with its room offset.
func (e *epochSink) Record(r feed.Record) {
	r.Offset += e.base
	e.rt.sink.Record(r)
}

// Synced passes on.
func (e *epochSink) Synced() { e.rt.sink.Synced() }

// Failed lets the roomTail decide (tailFailed).
func (e *epochSink) Failed(err error) { e.rt.tailFailed(e.stream, err) }
