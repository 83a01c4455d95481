package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"chatrelay/internal/rooms"
)

// Errors of a feed.
var (
	// ErrClosed means the feed (its room deleted, or its Set closed) has
	// ended.
	ErrClosed = errors.New("feed closed")
	// ErrNotSynced means the feed did not learn where its log ends in
	// time.
	ErrNotSynced = errors.New("room feed not ready in time")
)

// roomFeed is one room's feed on this replica: the tail of the room's log, a
// ring of its newest messages and the followers. It implements Sink for
// its Source's tail.
type roomFeed struct {
	room string
	src  Source
	set  *Set
	log  *slog.Logger

	readMu sync.Mutex // serialises range reads that fill the ring

	mu sync.Mutex
	// ring holds the newest messages, oldest first.
	ring ring
	// ids knows the message ids of the ring and of recent evictions:
	// a record of a known id is a duplicate (see ids.go).
	ids idIndex
	// coverFrom: every record of the log with offset >= coverFrom has
	// been applied (-1 until the first record or Synced).
	coverFrom int64
	// last is the highest offset applied (markers included), -1 none.
	last int64
	// atStart: the log holds nothing older than coverFrom.
	atStart bool
	// ringFinal: the ring's revisions are in their final form, folded
	// with every revision of the log below coverFrom that could change
	// them (see ensureRingFinal)
	ringFinal bool
	synced    bool
	syncedCh  chan struct{} // closed on Synced or when the feed ends
	err       error         // why the feed ended; nil while it runs
	stopTail  func()
	// followers get every message applied after they attached.
	followers map[*follower]struct{}
	// users counts followers plus calls in progress; at zero the idle
	// timer runs.
	users int
	idle  *time.Timer
}

// follower is one attached Follow.
type follower struct {
	deliver func(rooms.Message, []byte)
	// pace paces the replay before the follower attaches (nil: none)
	pace rooms.Pacer
	// after: messages at or below this offset are not for this follower
	// (Start.After beyond the log's end).
	after   int64
	stopped atomic.Bool
}

// send hands e to the follower unless it has stopped.
func (fl *follower) send(e *entry) {
	if e.msg.Offset > fl.after && !fl.stopped.Load() {
		fl.deliver(e.msg, e.data)
	}
}

// fits reports whether the follower can take replayed entry e now; it
// never blocks.
func (fl *follower) fits(e *entry) bool {
	return fl.pace == nil || fl.pace.Fits(len(e.data))
}

// wait blocks until the follower can take more of its replay.
func (fl *follower) wait(ctx context.Context) error {
	if fl.pace == nil {
		return nil
	}
	return fl.pace.Wait(ctx)
}

// sendPaced hands replayed entry e to the follower once it fits, waiting
// as long as it takes.
func (fl *follower) sendPaced(ctx context.Context, e *entry) error {
	for !fl.fits(e) {
		if err := fl.wait(ctx); err != nil {
			return err
		}
	}
	fl.send(e)
	return nil
}

// newRoomFeed returns a feed of roomID that is not started.
func newRoomFeed(s *Set, roomID string, src Source) *roomFeed {
	return &roomFeed{
		room:      roomID,
		src:       src,
		set:       s,
		log:       s.cfg.Logger.With("room", roomID),
		ring:      newRing(s.cfg.Buffer),
		ids:       newIDIndex(recentIDs(s.cfg.Buffer)),
		coverFrom: -1,
		last:      -1,
		syncedCh:  make(chan struct{}),
		followers: make(map[*follower]struct{}),
	}
}

// start starts the tail; on failure the feed is ended with the error.
func (f *roomFeed) start() {
	stop, err := f.src.Tail(f)
	f.mu.Lock()
	if f.err != nil || err != nil {
		f.mu.Unlock()
		if stop != nil {
			stop()
		}
		if err != nil {
			f.end(fmt.Errorf("room %s: start feed: %w", f.room, err))
		}
		return
	}
	f.stopTail = stop
	f.mu.Unlock()
}

// Record applies the next record of the log and delivers a message to
// every follower, unless it repeats a message id the feed delivers
// already.
func (f *roomFeed) Record(r Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil || r.Offset <= f.last {
		return
	}
	if f.coverFrom < 0 {
		f.coverFrom = r.Offset
		f.atStart = r.Offset == 0
	}
	f.last = r.Offset
	e, ok := f.decode(r)
	if !ok {
		if r.Marker == "" {
			f.log.Debug("feed: skipping a record that is no chat message", "offset", r.Offset)
		}
		return
	}
	if f.ids.known(e.msg.ID) {
		f.log.Debug("feed: skipping a duplicate message", "offset", r.Offset, "id", e.msg.ID)
		return
	}
	f.ids.added(&e)
	if e.isRevision() {
		f.reviseLocked(&e)
	}
	if old, evicted := f.ring.pushBack(e); evicted {
		f.ids.evicted(&old)
		f.coverFrom = old.msg.Offset + 1
		f.atStart = false
	}
	for fl := range f.followers {
		fl.send(&e)
	}
}

// Synced marks the log's end as known and releases waiting users.
func (f *roomFeed) Synced() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.synced || f.err != nil {
		return
	}
	if f.coverFrom < 0 {
		// nothing before the tail's start: the log was empty
		f.coverFrom, f.atStart = 0, true
	}
	f.synced = true
	close(f.syncedCh)
}

// Failed ends the feed; its Set forgets it so that the next user starts a
// new one.
func (f *roomFeed) Failed(err error) {
	f.log.Warn("feed: tail failed", "err", err)
	f.end(fmt.Errorf("room %s: %w", f.room, err))
}

// end stops the feed with err (once): the tail stops, followers get
// nothing more (each is told once, with the zero Message and a nil body),
// waiting users fail, and the Set forgets the feed.
func (f *roomFeed) end(err error) {
	f.mu.Lock()
	if f.err != nil {
		f.mu.Unlock()
		return
	}
	stop, told := f.endLocked(err)
	f.mu.Unlock()
	f.afterEnd(stop, told)
}

// endLocked marks the feed ended and detaches everything; it returns the
// tail's stop and the followers to tell. Caller holds f.mu and has
// checked f.err is nil.
func (f *roomFeed) endLocked(err error) (func(), []*follower) {
	f.err = err
	stop := f.stopTail
	f.stopTail = nil
	if !f.synced {
		close(f.syncedCh)
	}
	told := make([]*follower, 0, len(f.followers))
	for fl := range f.followers {
		if !fl.stopped.Swap(true) {
			told = append(told, fl)
		}
	}
	f.followers = nil
	if f.idle != nil {
		f.idle.Stop()
		f.idle = nil
	}
	return stop, told
}

// afterEnd finishes end outside f.mu.
func (f *roomFeed) afterEnd(stop func(), told []*follower) {
	f.set.forget(f)
	if stop != nil {
		stop()
	}
	// every follower was handed what the feed applied up to f.last,
	// which no longer changes: the end says where to follow on from
	f.mu.Lock()
	last := f.last
	f.mu.Unlock()
	for _, fl := range told {
		fl.deliver(rooms.Message{Offset: last}, nil)
	}
}

// waitSynced waits until the feed knows its log's end, bounded by ctx and
// the Set's SyncTimeout.
func (f *roomFeed) waitSynced(ctx context.Context) error {
	select {
	case <-f.syncedCh:
		// already synced: asking ctx for its Done channel would make one,
		// which a session's context then keeps for the session's life
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.err
	default:
	}
	t := time.NewTimer(f.set.cfg.SyncTimeout)
	defer t.Stop()
	select {
	case <-f.syncedCh:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("room %s: %w", f.room, ErrNotSynced)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// acquire counts a user in and stops the idle timer; it reports false
// when the feed has ended.
func (f *roomFeed) acquire() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false
	}
	f.users++
	if f.idle != nil {
		f.idle.Stop()
		f.idle = nil
	}
	return true
}

// release counts a user out; the last one starts the idle timer.
func (f *roomFeed) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users--
	if f.users > 0 || f.err != nil || f.set.cfg.Idle < 0 {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(f.set.cfg.Idle, func() {
		// runs on the timer's goroutine; owns nothing: ends the feed
		// if no user came back meanwhile
		// (checked and marked in one locked section, so no user can
		// join a feed that is about to end)
		f.mu.Lock()
		if f.idle != t || f.users != 0 || f.err != nil {
			f.mu.Unlock()
			return
		}
		stop, told := f.endLocked(ErrClosed)
		f.mu.Unlock()
		f.afterEnd(stop, told)
	})
	f.idle = t
}

// detach removes a stopped follower and counts it out.
func (f *roomFeed) detach(fl *follower) {
	f.mu.Lock()
	_, ok := f.followers[fl]
	delete(f.followers, fl)
	f.mu.Unlock()
	if ok {
		f.release()
	}
}

// attach makes fl a live follower. Caller holds f.mu; the feed has not
// ended.
func (f *roomFeed) attach(fl *follower) func() {
	f.followers[fl] = struct{}{}
	return func() {
		if fl.stopped.Swap(true) {
			return
		}
		go func() {
			// owns nothing: detaches the follower off the caller's
			// goroutine, so that stop may be called from deliver
			f.detach(fl)
		}()
	}
}
