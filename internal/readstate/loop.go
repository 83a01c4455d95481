package readstate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"time"

	"chatrelay/internal/rooms/feed"
)

// refollowAfter is the pause before the log is followed again after its
// tail failed.
const refollowAfter = time.Second

// syncSink passes the log's records to the Service and says when the
// log's end as of Follow was reached. After, when >= 0, is where the
// Follow started: a record at or below it means the log was made anew
// (deleted and declared again), whose offsets start over.
type syncSink struct {
	s      *Service
	synced chan struct{}
	after  int64
	fresh  bool // a record below after was seen
}

func (k *syncSink) Record(r feed.Record) {
	if k.after >= 0 && !k.fresh && r.Offset <= k.after {
		k.fresh = true
		k.s.logRestarted()
	}
	k.s.Record(r)
}
func (k *syncSink) Failed(err error) { k.s.Failed(err) }
func (k *syncSink) Synced() {
	select {
	case <-k.synced:
	default:
		close(k.synced)
	}
}

// Start loads the positions from the log (see the package comment) and
// starts the goroutine that flushes, snapshots and keeps following it.
// It fails when the log does not answer within Options.StartTimeout.
func (s *Service) Start(ctx context.Context) error {
	if s.opts.Log == nil || s.opts.Current == nil {
		return errors.New("readstate: Log and Current are required")
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.StartTimeout)
	defer cancel()
	since := s.opts.Now().Add(-2*s.opts.SnapshotEvery - time.Minute)
	if err := s.follow(ctx, -1, since); err != nil {
		return err
	}
	if !s.covered() {
		// no snapshot in the window holds what came before it: the
		// whole log, then (positions only grow: reading twice is safe)
		slog.Debug("readstate: no recent snapshot covers the log; reading it whole")
		s.stopTail()
		s.mu.Lock()
		s.applied, s.firstApplied = -1, -1
		s.lastSnapshot = time.Time{}
		s.mu.Unlock()
		if err := s.follow(ctx, -1, time.Time{}); err != nil {
			return err
		}
	}
	s.started = true
	go s.run() // owns flushes, snapshots and following the log again after a failure
	return nil
}

// follow starts a tail of the log and waits until it is synced.
func (s *Service) follow(ctx context.Context, after int64, since time.Time) error {
	sink := &syncSink{s: s, synced: make(chan struct{}), after: -1}
	stop, err := s.opts.Log.Follow(after, since, sink)
	if err != nil {
		return fmt.Errorf("readstate: following the log: %w", err)
	}
	select {
	case <-sink.synced:
		s.stopTail = stop
		return nil
	case err := <-s.tailFailed:
		stop()
		return fmt.Errorf("readstate: following the log: %w", err)
	case <-ctx.Done():
		stop()
		return fmt.Errorf("readstate: reading the log: %w", ctx.Err())
	}
}

// Close stops the Service's goroutine and its tail; positions not yet
// flushed are lost (a client sets them again as it reads on).
func (s *Service) Close() {
	if !s.started {
		return
	}
	close(s.stop)
	<-s.done
}

// run flushes queued positions, waits for them to be read back, writes
// snapshots, and follows the log again when its tail fails.
func (s *Service) run() {
	defer close(s.done)
	defer func() { s.stopTail() }()
	flush := time.NewTicker(s.opts.Flush)
	defer flush.Stop()
	snap := time.NewTimer(s.snapshotDelay(true))
	defer snap.Stop()
	refollow := time.NewTimer(time.Hour)
	refollow.Stop()
	defer refollow.Stop()
	var inflight []Position
	var deadline time.Time
	for {
		select {
		case <-s.stop:
			return
		case <-flush.C:
			if inflight != nil && s.opts.Now().After(deadline) {
				slog.Warn("readstate: a flush was not read back in time; writing its positions again", "positions", len(inflight))
				s.requeue(inflight)
				inflight = nil
			}
			if inflight == nil {
				inflight = s.flush()
				deadline = s.opts.Now().Add(s.opts.ConfirmTimeout)
			}
		case <-s.confirmed:
			if inflight != nil {
				if s.opts.Stored != nil {
					s.opts.Stored(inflight)
				}
				inflight = nil
			}
		case err := <-s.tailFailed:
			slog.Warn("readstate: the log's tail failed; following it again", "err", err, "in", refollowAfter)
			s.stopTail()
			s.stopTail = func() {}
			refollow.Reset(refollowAfter)
		case <-refollow.C:
			s.mu.Lock()
			after := s.applied
			s.mu.Unlock()
			stop, err := s.opts.Log.Follow(after, time.Time{}, &syncSink{s: s, synced: make(chan struct{}), after: after})
			if err != nil {
				slog.Warn("readstate: following the log again failed; retrying", "err", err, "in", refollowAfter)
				refollow.Reset(refollowAfter)
				continue
			}
			s.stopTail = stop
		case <-snap.C:
			s.snapshot()
			snap.Reset(s.snapshotDelay(false))
		case <-s.restarted:
			// a new log holds none of the positions: write them all
			slog.Warn("readstate: the log was made anew; writing a snapshot of every position into it")
			snap.Reset(s.opts.Flush)
		}
	}
}

// logRestarted takes a log made anew (its offsets start over): records
// are applied from its first one, and a snapshot is due. It runs on the
// log's goroutine.
func (s *Service) logRestarted() {
	s.mu.Lock()
	s.applied, s.lastSnapshot = -1, time.Time{}
	s.mu.Unlock()
	select {
	case s.restarted <- struct{}{}:
	default:
	}
}

// snapshotDelay is the time until the next snapshot: soon after a start
// that found none recent, else SnapshotEvery with a tenth of jitter, so
// that replicas started together do not snapshot together.
func (s *Service) snapshotDelay(first bool) time.Duration {
	s.mu.Lock()
	last := s.lastSnapshot
	s.mu.Unlock()
	every := s.opts.SnapshotEvery
	jitter := time.Duration(mathrand.Int64N(int64(every/10) + 1))
	if first && (last.IsZero() || s.opts.Now().Sub(last) > every) {
		return s.opts.Flush + jitter/100
	}
	return every - every/20 + jitter
}

// flush appends the queued positions as one record and returns them (nil
// when none were queued, or the append failed: they stay queued).
func (s *Service) flush() []Position {
	s.mu.Lock()
	if len(s.pending) == 0 {
		s.mu.Unlock()
		return nil
	}
	batch := make([]Position, 0, len(s.pending))
	for k, o := range s.pending {
		batch = append(batch, Position{Room: k.room, Seq: k.seq, User: k.user, Offset: o})
	}
	clear(s.pending)
	id := newID()
	s.waiting = id
	select {
	case <-s.confirmed: // a stale signal
	default:
	}
	s.mu.Unlock()
	body, _ := json.Marshal(record{ID: id, Positions: batch}) // plain data: cannot fail
	if err := s.opts.Log.Append(body); err != nil {
		slog.Warn("readstate: appending positions failed; retrying", "err", err, "positions", len(batch))
		s.requeue(batch)
		return nil
	}
	return batch
}

// requeue queues positions again whose record was not read back, unless
// newer ones were set meanwhile.
func (s *Service) requeue(batch []Position) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waiting = ""
	for _, p := range batch {
		k := userKey{roomKey{p.Room, p.Seq}, p.User}
		if cur, ok := s.pending[k]; !ok || cur < p.Offset {
			s.pending[k] = p.Offset
		}
	}
}

// snapshot appends every position of a room that still exists, in parts,
// unless a complete snapshot was applied within half the interval; it
// also forgets the positions of rooms that are gone.
func (s *Service) snapshot() {
	s.mu.Lock()
	if !s.lastSnapshot.IsZero() && s.opts.Now().Sub(s.lastSnapshot) < s.opts.SnapshotEvery/2 {
		s.mu.Unlock()
		return
	}
	keys := make([]roomKey, 0, len(s.rooms))
	for k := range s.rooms {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	gone := make(map[roomKey]bool)
	for _, k := range keys {
		if seq, ok := s.opts.Current(k.room); !ok || seq != k.seq {
			gone[k] = true
		}
	}
	s.mu.Lock()
	for k := range gone {
		s.count -= len(s.rooms[k])
		delete(s.rooms, k)
	}
	through := s.applied
	var all []Position
	for k, users := range s.rooms {
		for u, o := range users {
			all = append(all, Position{Room: k.room, Seq: k.seq, User: u, Offset: o})
		}
	}
	s.lastSnapshot = s.opts.Now()
	s.mu.Unlock()
	id := newID()
	parts := max(1, (len(all)+s.opts.SnapshotPart-1)/s.opts.SnapshotPart)
	for i := range parts {
		part := all[min(i*s.opts.SnapshotPart, len(all)):min((i+1)*s.opts.SnapshotPart, len(all))]
		body, _ := json.Marshal(record{Snapshot: id, Part: i, Parts: parts, Through: through, Positions: part})
		if err := s.opts.Log.Append(body); err != nil {
			slog.Warn("readstate: writing a snapshot failed; the next one will", "err", err)
			s.mu.Lock()
			s.lastSnapshot = time.Time{}
			s.mu.Unlock()
			return
		}
	}
}

// newID returns a random record id.
func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
