package rabbitstore

import (
	"sync"

	"chatrelay/internal/rooms/feed"
)

// roomTail is a room feed's tail across the room's stream epochs
// (epoch.go): it tails the current epoch's stream with its offsets moved
// up by the epoch's base; while the room has no stream (lazy, or
// archived) it gives the feed the archived messages and reports the log
// synced; when an epoch ends it stops that stream's tail, gives the feed
// the archived messages (the feed ignores the offsets it applied already,
// so a tail that lagged behind the fence loses nothing), and starts the
// next epoch's tail from its first offset once it is opened.
type roomTail struct {
	src  *roomSource
	sink feed.Sink
	quit chan struct{}
	done chan struct{}

	mu      sync.Mutex
	stopped bool
	t       *tail // the current epoch's tail, if any
	epoch   int   // t's epoch
}

// startRoomTail starts a room's tail in the state st: the stream's tail
// from its last chunk right away (so that a failure to subscribe is the
// caller's), then the goroutine that follows the room's lifecycle.
func startRoomTail(src *roomSource, sink feed.Sink, st roomState) (*roomTail, error) {
	rt := &roomTail{src: src, sink: sink, quit: make(chan struct{}), done: make(chan struct{}), epoch: -1}
	if st.stream != "" {
		t, err := src.startTail(st, "last", sink)
		if err != nil {
			return nil, err
		}
		rt.t, rt.epoch = t, st.epoch
	} else {
		rt.deliverSnapshot(st)
		sink.Synced() // nothing is in a stream: the archived messages are the log
	}
	go rt.run() // owns the epoch changes: stopping and starting the tails
	return rt, nil
}

// run follows the room's lifecycle until stopped or the room is gone (its
// feed is then dropped).
func (rt *roomTail) run() {
	defer close(rt.done)
	for {
		st, changed := rt.src.s.reg.state(rt.src.room, true)
		if !st.exists {
			return
		}
		if !rt.adopt(st) {
			return
		}
		select {
		case <-rt.quit:
			return
		case <-changed:
		}
	}
}

// adopt makes the tail fit st: a tail of another epoch (or of a room that
// has no stream now) stops, and the archived messages go to the feed; a
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
		rt.t, rt.epoch = nil, -1
	}
	rt.deliverSnapshot(st)
	if st.stream == "" {
		return true
	}
	t, err := rt.src.startTail(st, "first", rt.sink)
	if err != nil {
		go func() {
			// owns nothing: reports the failure off the locked section,
			// so that the sink may stop the tail
			rt.sink.Failed(err)
		}()
		return false
	}
	rt.t, rt.epoch = t, st.epoch
	return true
}

// deliverSnapshot gives the feed the room's archived messages (within
// the retention), oldest first. No stream tail runs meanwhile.
func (rt *roomTail) deliverSnapshot(st roomState) {
	s := rt.src.s
	for _, r := range snapshotRecords(st.snapshot, 0, st.base, s.maxAge, s.opts.Now()) {
		rt.sink.Record(r)
	}
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

// baseSink moves a stream's offsets up by its epoch's base on the way to
// the feed.
type baseSink struct {
	feed.Sink
	base int64
}

// Record passes r on with its room offset.
func (b baseSink) Record(r feed.Record) {
	r.Offset += b.base
	b.Sink.Record(r)
}
