package rabbitstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/feed"
)

// Archiving: a room whose stream has had no message for
// Options.ArchiveAfter, and that holds few enough messages, has them
// stored in the registry and its stream deleted, so that the broker's
// cost follows the active rooms, not the rooms that ever had a message.
// The next Open starts the room's next epoch (epoch.go).
//
// Every replica sweeps the rooms it sees open and has not published to
// (opened) within ArchiveAfter; the registry decides which replica
// archives a room (the first closing event of the epoch). One attempt:
//
//  1. closing: publish the closing event; from then on every replica's
//     Open of the room waits (bounded by the lease). A replica that
//     published to the room within ArchiveAfter vetoes: it publishes the
//     aborted event at once (closingApplied), so an active room is never
//     fenced because its traffic went through other replicas. The
//     archiver waits ArchiveFenceGrace for every replica to apply the
//     closing (and to veto);
//  2. fence: unless the closing ended meanwhile, unbind the stream from
//     amq.topic, so nothing published to the room's topic lands in it any
//     more (a publish still in flight is unroutable: the Confirmer, which
//     sees it never stored, opens the room again and republishes it);
//  3. read the whole stream to a marker (over AMQP: one stream consumer);
//     a message younger than ArchiveAfter (a replica restarted and forgot
//     its activity), or more than ArchiveMaxMessages / ArchiveMaxBytes
//     with the room's earlier archived messages, aborts: the stream is
//     bound again and an aborted event reopens it;
//  4. publish the archived event with the messages and the next epoch's
//     base (past every offset read, markers included), read back like
//     every registry event; then, after DeleteGrace, delete the stream.
//
// A closing whose archiver dies is aborted by the first Open that finds
// its lease (ArchiveLease) run out; an archived event that comes after
// that abort or a veto is refused, and the archiver binds the stream
// again. Rooms bigger than the bounds stay on their streams and are
// looked at again after ArchiveAfter.
//
// No attempt reads a stream before its closing: on RabbitMQ 3.10 every
// stream consumer ever attached leaves about 5 KB of counters behind in
// the broker (docs/rooms-at-scale.md), so a peek per sweep at active
// rooms would cost the broker memory for ever.

// Defaults of the archive options.
const (
	// DefaultArchiveMaxMessages bounds the messages of an archived room.
	DefaultArchiveMaxMessages = 100
	// DefaultArchiveMaxBytes bounds the message bytes of an archived room.
	DefaultArchiveMaxBytes = 64 << 10
	// DefaultArchiveLease is how long a closing room waits for its
	// archiver before an Open aborts the closing.
	DefaultArchiveLease = 30 * time.Second
	// DefaultArchiveFenceGrace is the wait between the closing event and
	// the fence, for the other replicas to apply it.
	DefaultArchiveFenceGrace = time.Second
	// abortTimeout bounds the abort of an attempt that stopped.
	abortTimeout = 5 * time.Second
	// archiveConcurrency bounds the archive attempts one replica runs at
	// once: an attempt mostly waits (the fence grace, the delete grace),
	// so that many keep a replica archiving tens of rooms a second.
	archiveConcurrency = 32
)

// archiver is a Store's sweeper of quiet rooms.
type archiver struct {
	s *Store
	// skip holds, per room, when to look at it again (it was active,
	// too big, or an attempt failed)
	mu   sync.Mutex
	skip map[string]time.Time
	// archived counts the rooms this replica archived, lost the
	// archived events refused after the fence (tests)
	archived, lost int
	quit           chan struct{}
	done           chan struct{}
}

// startArchiver starts the sweeps; its stop ends them and waits for the
// attempts in progress.
func (s *Store) startArchiver() func() {
	a := &archiver{s: s, skip: make(map[string]time.Time), quit: make(chan struct{}), done: make(chan struct{})}
	go a.run() // owns the sweeps and the attempts they start
	s.arch = a
	return func() {
		close(a.quit)
		<-a.done
	}
}

// sweepEvery is how often the archiver looks for quiet rooms.
func (a *archiver) sweepEvery() time.Duration {
	return min(max(a.s.opts.ArchiveAfter/4, 100*time.Millisecond), time.Minute)
}

// run sweeps until stopped.
func (a *archiver) run() {
	defer close(a.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// owns nothing: cancels the attempts in progress once stopped
		select {
		case <-a.quit:
			cancel()
		case <-a.done:
		}
	}()
	t := time.NewTimer(a.sweepEvery())
	defer t.Stop()
	for {
		select {
		case <-a.quit:
			return
		case <-t.C:
		}
		a.sweep(ctx)
		t.Reset(a.sweepEvery())
	}
}

// sweep tries to archive every open room not skipped, archiveConcurrency
// at a time, and returns when all attempts are done.
func (a *archiver) sweep(ctx context.Context) {
	now := a.s.opts.Now()
	var wg sync.WaitGroup
	slots := make(chan struct{}, archiveConcurrency)
	a.s.forgetActivity(now)
	a.s.pruneRebound()
	for _, st := range a.s.reg.openRooms() {
		if ctx.Err() != nil {
			break
		}
		a.mu.Lock()
		until, skipped := a.skip[st.room.ID]
		a.mu.Unlock()
		// a room whose closing was aborted (on any replica) within
		// ArchiveAfter is active: no replica tries it again before then
		if skipped && now.Before(until) || a.s.recentlyActive(st.room.ID, now) || now.Sub(st.abortedAt) < a.s.opts.ArchiveAfter {
			continue
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			// owns one attempt on st's room
			defer wg.Done()
			defer func() { <-slots }()
			a.attempt(ctx, st)
		}()
	}
	wg.Wait()
	a.mu.Lock()
	for id, until := range a.skip {
		if now.After(until) {
			delete(a.skip, id)
		}
	}
	a.mu.Unlock()
}

// later skips the room until t.
func (a *archiver) later(id string, t time.Time) {
	a.mu.Lock()
	a.skip[id] = t
	a.mu.Unlock()
}

// count returns how many rooms this replica archived.
func (a *archiver) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.archived
}

// lostRaces returns how many archived events this replica published
// after its fence were refused.
func (a *archiver) lostRaces() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lost
}

// step tells the test hook where an attempt on a room is.
func (s *Store) step(name, roomID string) {
	if s.opts.archiveStep != nil {
		s.opts.archiveStep(name, roomID)
	}
}

// attempt archives one open room if it is quiet and small enough.
func (a *archiver) attempt(ctx context.Context, st roomState) {
	s := a.s
	ctx, cancel := context.WithTimeout(ctx, s.opts.ArchiveLease)
	defer cancel()
	after := s.opts.ArchiveAfter
	closer := newNonce()
	if err := s.record(ctx, event{Event: eventClosing, Room: rooms.Room{ID: st.room.ID}, At: s.opts.Now().UTC(), ID: closer, Epoch: st.epoch}); err != nil {
		if !errors.Is(err, errStale) && !errors.Is(err, rooms.ErrNotFound) {
			s.log.Warn("rooms: could not start archiving a room", "room", st.room.ID, "err", err)
		}
		a.later(st.room.ID, s.opts.Now().Add(after))
		return
	}
	st.closing, st.closer = true, closer
	s.step("closing", st.room.ID)
	outcome, err := a.fenceAndArchive(ctx, st)
	switch {
	case err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled):
		s.log.Debug("rooms: archiving a room stopped; reopening it", "room", st.room.ID)
	case err != nil:
		s.log.Warn("rooms: archiving a room failed; reopening it", "room", st.room.ID, "err", err)
		a.later(st.room.ID, s.opts.Now().Add(after))
	case outcome == archivedOutcome:
		a.mu.Lock()
		a.archived++
		a.mu.Unlock()
		return
	case outcome == endedOutcome:
		// vetoed, aborted or deleted: the room is active (or gone)
		a.later(st.room.ID, s.opts.Now().Add(after))
		return
	default:
		s.log.Debug("rooms: not archiving a room", "room", st.room.ID, "why", outcome)
	}
	// the attempt's context may have ended (the store closing): the abort
	// gets a few seconds of its own, so that the room is not left fenced
	// until its lease runs out
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	if aerr := s.abortClosing(actx, st); aerr != nil && !errors.Is(aerr, errStale) && !errors.Is(aerr, rooms.ErrNotFound) {
		// the closing's lease lets the next Open abort it
		s.log.Warn("rooms: could not reopen a room after archiving it stopped", "room", st.room.ID, "err", aerr)
	}
}

// Outcomes of fenceAndArchive besides the reasons not to archive.
const (
	archivedOutcome = "archived"
	// endedOutcome: the closing ended otherwise (an Open aborted it
	// after its lease, or the room was deleted)
	endedOutcome = "ended"
)

// fenceAndArchive does steps 3 to 5 for a room whose closing event was
// applied. It returns archivedOutcome, endedOutcome, or why the room is
// not archived, or an error; in the last two cases the caller aborts the
// closing.
func (a *archiver) fenceAndArchive(ctx context.Context, st roomState) (string, error) {
	s := a.s
	if !sleepCtx(ctx, s.opts.ArchiveFenceGrace) {
		return "", ctx.Err()
	}
	switch now, _ := s.reg.state(st.room.ID, false); {
	case !now.exists:
		return endedOutcome, nil
	case now.closing && now.closer == st.closer:
	case now.closing || now.abortedCloser == st.closer:
		return endedOutcome, nil // vetoed, or aborted, before the fence
	default:
		// the served view has not applied this closing (a registry
		// replay builds the view that did): abort it rather than leave
		// the room closing until its lease runs out
		return "closing not served", nil
	}
	if err := s.amqp.unbindStream(st.stream, rooms.StreamName(st.room.ID)); err != nil {
		return "", err
	}
	s.step("fenced", st.room.ID)
	got, err := s.readToMarker(ctx, st.stream, "first", s.opts.ArchiveMaxMessages)
	if err != nil {
		return "", err
	}
	now := s.opts.Now()
	if got.over {
		a.later(st.room.ID, now.Add(s.opts.ArchiveAfter))
		s.step("too big", st.room.ID)
		return "too many messages", nil
	}
	if newest := newestSent(got.records); now.Sub(newest) < s.opts.ArchiveAfter {
		a.later(st.room.ID, newest.Add(s.opts.ArchiveAfter))
		return "a message came", nil
	}
	keep := snapshotRecords(st.snapshot, 0, st.base, s.maxAge, now)
	records := make([]archivedRecord, 0, len(keep)+len(got.records))
	size := 0
	for _, r := range keep {
		records = append(records, archivedRecord{Offset: r.Offset, Body: r.Body})
		size += len(r.Body)
	}
	for _, r := range got.records {
		if r.Marker != "" || !json.Valid(r.Body) || s.maxAge > 0 && expired(r.Body, now.Add(-s.maxAge)) {
			continue
		}
		records = append(records, archivedRecord{Offset: st.base + r.Offset, Body: r.Body})
		size += len(r.Body)
	}
	if len(records) > s.opts.ArchiveMaxMessages || size > s.opts.ArchiveMaxBytes {
		a.later(st.room.ID, now.Add(s.opts.ArchiveAfter))
		s.step("too big", st.room.ID)
		return "too many messages", nil
	}
	// past every offset the epoch took by the marker: nothing else is
	// appended after it (the stream is fenced, no feed starts a tail on
	// a closing room, and each read attempt reads to its own marker), so
	// no record of the old stream can take the next epoch's offsets
	base := st.base + got.last + 1
	err = s.record(ctx, event{Event: eventArchived, Room: rooms.Room{ID: st.room.ID}, At: now.UTC(), ID: newNonce(),
		Epoch: st.epoch, Closer: st.closer, Base: base, Records: records})
	switch {
	case errors.Is(err, rooms.ErrNotFound):
		return endedOutcome, nil // deleted: Delete deletes the stream
	case errors.Is(err, errStale):
		// vetoed or aborted after the fence: the stream is open again,
		// and this archiver unbound it
		a.mu.Lock()
		a.lost++
		a.mu.Unlock()
		if err := s.amqp.bindStream(st.stream, rooms.StreamName(st.room.ID)); err != nil {
			return "", fmt.Errorf("rebind after a lost archive: %w", err)
		}
		return endedOutcome, nil
	case err != nil:
		return "", fmt.Errorf("publish the archived event: %w", err)
	}
	// the replicas drop their tails of the stream as they apply the
	// archived event
	sleepCtx(ctx, s.opts.DeleteGrace)
	if err := s.amqp.deleteStream(st.stream); err != nil {
		s.log.Warn("rooms: room archived, but not its stream deleted", "stream", st.stream, "err", err)
	}
	return archivedOutcome, nil
}

// collected is what readToMarker read.
type collected struct {
	records []feed.Record // bodies copied
	last    int64         // the stream offset of the last record (the marker)
	over    bool          // more chat messages than the limit: the read stopped
}

// readToMarker reads a stream from offset ("first", "last") to a marker
// it publishes: everything the stream held then. With limit > 0 it stops
// after more than limit chat messages (over).
func (s *Store) readToMarker(ctx context.Context, queue, offset string, limit int) (collected, error) {
	var got collected
	msgs := 0
	err := s.amqp.readStream(ctx, queue, offset, true, func(r feed.Record) bool {
		if len(got.records) > 0 && r.Offset <= got.last {
			return true // read again after a lost connection
		}
		r.Body = append([]byte(nil), r.Body...)
		got.records = append(got.records, r)
		got.last = r.Offset
		if r.Marker == "" {
			if msgs++; limit > 0 && msgs > limit {
				got.over = true
				return false
			}
		}
		return true
	})
	return got, err
}

// touch notes that this replica publishes to the room now (Open).
func (s *Store) touch(id string) {
	if s.opts.ArchiveAfter <= 0 {
		return
	}
	now := s.opts.Now()
	s.actMu.Lock()
	s.active[id] = now
	s.actMu.Unlock()
}

// recentlyActive reports whether this replica opened the room within
// ArchiveAfter before now.
func (s *Store) recentlyActive(id string, now time.Time) bool {
	s.actMu.Lock()
	defer s.actMu.Unlock()
	at, ok := s.active[id]
	return ok && now.Sub(at) < s.opts.ArchiveAfter
}

// forgetActivity drops the activity older than ArchiveAfter.
func (s *Store) forgetActivity(now time.Time) {
	s.actMu.Lock()
	defer s.actMu.Unlock()
	for id, at := range s.active {
		if now.Sub(at) >= s.opts.ArchiveAfter {
			delete(s.active, id)
		}
	}
}

// closingApplied vetoes a room's closing when this replica published to
// it within ArchiveAfter: the room is active.
func (s *Store) closingApplied(id string) {
	if !s.recentlyActive(id, s.opts.Now()) {
		return
	}
	go func() {
		// owns one veto: the aborted event of the room's closing
		ctx, cancel := context.WithTimeout(context.Background(), abortTimeout)
		defer cancel()
		st, _ := s.reg.state(id, false)
		if !st.closing {
			return
		}
		err := s.abortClosing(ctx, st)
		switch {
		case err == nil:
			s.vetoes.Add(1)
		case !errors.Is(err, errStale) && !errors.Is(err, rooms.ErrNotFound):
			s.log.Warn("rooms: could not keep an active room from being archived", "room", id, "err", err)
		}
	}()
}

// newestSent returns the newest sentAt of the chat messages among
// records (the zero time: none).
func newestSent(records []feed.Record) time.Time {
	var newest time.Time
	for _, r := range records {
		if r.Marker != "" {
			continue
		}
		if at := sentAt(r.Body); at.After(newest) {
			newest = at
		}
	}
	return newest
}
