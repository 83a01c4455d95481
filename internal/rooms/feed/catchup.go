package feed

import (
	"context"
	"slices"

	"chatrelay/internal/rooms"
)

// Bounds of catch-up work.
const (
	// maxFillTries bounds how often a resuming follower tries to fill the
	// ring before it reads its gap straight from the log instead.
	maxFillTries = 3
	// maxStepBack bounds the backward reads of one Last or History call;
	// the read width doubles per step.
	maxStepBack = 8
	// stepSlack is added to every backward read for markers and offsets
	// skipped at segment boundaries.
	stepSlack = 8
	// replayChunk bounds how many ring entries one replay step copies
	// out of the ring to hand over without the feed's lock.
	replayChunk = 64
)

// follow waits for the feed's sync, replays what start asks for and
// attaches the follower, all without a gap or a duplicate: the replay
// runs without the feed's lock, and the attach happens under it once the
// follower has every message the ring holds, so no live message can slip
// between them. The replay is paced by start.Pace.
func (f *roomFeed) follow(ctx context.Context, start rooms.Start, deliver func(rooms.Message, []byte)) (func(), error) {
	if err := f.waitSynced(ctx); err != nil {
		return nil, err
	}
	fl := &follower{deliver: deliver, pace: start.Pace, after: -1}
	switch {
	case start.After >= 0:
		return f.followAfter(ctx, fl, start.After)
	case start.Last > 0:
		return f.followLast(ctx, fl, min(start.Last, f.set.cfg.Buffer))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return f.attach(fl), nil
}

// followAfter replays every message with an offset above cursor, then
// attaches. A gap older than the ring is filled into the ring when it
// fits, else read from the log straight to the follower (bounded by the
// Source's read buffer, not by the gap), repeatedly until the ring covers
// the cursor. The replay goes at the follower's pace: from the ring in
// chunks of up to replayChunk entries copied out under the lock and
// handed over without it, so that joiners replay side by side and live
// messages are not held up (the ring itself keeps what arrives
// meanwhile, and the next chunk starts after the cursor), and from the
// log one message at a time, the read held meanwhile (the broker sends
// no more than the read's credit). Only once the ring holds nothing after
// the cursor does the follower attach, under the lock, so no live message
// slips between replay and attach. When the ring moves on past the
// cursor meanwhile, the rest is read from the log. A message id is
// replayed once (see ids.go).
func (f *roomFeed) followAfter(ctx context.Context, fl *follower, cursor int64) (func(), error) {
	if err := f.ensureRingFinal(ctx); err != nil {
		return nil, err
	}
	fills := 0
	seen := newIDWindow(catchupIDs) // ids replayed from the log itself
	var chunk []entry               // ring entries copied out for the replay
	for {
		if err := ctx.Err(); err != nil {
			return nil, err // the follower went away during its replay
		}
		f.mu.Lock()
		if f.err != nil {
			f.mu.Unlock()
			return nil, f.err
		}
		if cursor+1 >= f.coverFrom || f.atStart {
			i := f.ring.firstAfter(cursor)
			if i == f.ring.len() {
				fl.after = max(cursor, fl.after)
				stop := f.attach(fl)
				f.mu.Unlock()
				return stop, nil
			}
			chunk = f.ring.copyFrom(i, chunk[:0], replayChunk)
			f.mu.Unlock()
			var err error
			if cursor, err = f.replay(ctx, fl, chunk, &seen); err != nil {
				return nil, err
			}
			continue
		}
		from, to, free := cursor+1, f.coverFrom, int64(f.ring.free())
		f.mu.Unlock()
		if fills < maxFillTries && to-from <= free {
			fills++
			if err := f.fill(ctx, from); err != nil {
				return nil, err
			}
			continue
		}
		// the gap's messages go out in their current version: its
		// revisions are read first (revise.go)
		rv, err := f.gapRevisions(ctx, from)
		if err != nil {
			return nil, err
		}
		var paceErr error
		err = f.src.ReadRange(ctx, from, to, func(r Record) {
			if paceErr != nil || r.Offset <= cursor || r.Offset >= to {
				return
			}
			if e, ok := f.decode(r); ok && !f.repeated(&e, &seen) {
				rv.fold(&e)
				if paceErr = fl.sendPaced(ctx, &e); paceErr != nil {
					return
				}
			}
			cursor = r.Offset
		})
		if paceErr != nil {
			return nil, paceErr
		}
		if err != nil {
			return nil, err
		}
		cursor = max(cursor, to-1)
	}
}

// replay hands the follower the ring entries copied out in chunk (oldest
// first, all after its cursor) at its pace, without the feed's lock, and
// returns the new cursor: the offset of the last entry. An entry whose id
// the log read already replayed (seen) is skipped.
func (f *roomFeed) replay(ctx context.Context, fl *follower, chunk []entry, seen *idWindow) (int64, error) {
	for i := range chunk {
		e := &chunk[i]
		if e.msg.ID == "" || !seen.has(e.msg.ID) {
			if err := fl.sendPaced(ctx, e); err != nil {
				return 0, err
			}
		}
	}
	return chunk[len(chunk)-1].msg.Offset, nil
}

// repeated reports whether e, read from the log below the ring, repeats
// a message id: one the feed delivers at another offset, or one already
// in seen (the ids this read has passed on). Otherwise it adds e's id to
// seen.
func (f *roomFeed) repeated(e *entry, seen *idWindow) bool {
	id := e.msg.ID
	if id == "" {
		return false
	}
	f.mu.Lock()
	other := f.ids.other(id, e.msg.Offset)
	f.mu.Unlock()
	if other || seen.has(id) {
		return true
	}
	seen.add(id, e.msg.Offset)
	return false
}

// followLast replays the newest n messages (n <= the ring size; the
// revisions among them do not count, and come too), then
// attaches. While the ring holds fewer and older ones exist, it fills the
// ring backwards with reads that double in width. Once it knows where the
// n messages start it replays from there as followAfter does (paced), so
// messages that arrive meanwhile come after them, none missing.
func (f *roomFeed) followLast(ctx context.Context, fl *follower, n int) (func(), error) {
	for tries := 0; ; tries++ {
		f.mu.Lock()
		if f.err != nil {
			f.mu.Unlock()
			return nil, f.err
		}
		i, k := f.nthNewestMessage(n) // revisions do not count
		if k >= n || f.atStart || tries > maxStepBack {
			cursor := f.last // nothing to replay
			if f.ring.len() > 0 {
				cursor = f.ring.at(i).msg.Offset - 1
			}
			f.mu.Unlock()
			return f.followAfter(ctx, fl, cursor)
		}
		from := max(0, f.coverFrom-stepWidth(n-k, tries))
		f.mu.Unlock()
		if err := f.fill(ctx, from); err != nil {
			return nil, err
		}
	}
}

// stepWidth is the width of the tries-th backward read for need messages.
func stepWidth(need, tries int) int64 {
	return int64(need+stepSlack) << min(tries, maxStepBack)
}

// fill reads the log from `from` up to the ring's coverage and puts what
// it finds in front of the ring (the newest of it, as much as fits), so
// that the ring then covers the log from `from` on. When the coverage
// moved during the read (the ring evicted, or another fill got there
// first) it changes nothing: callers re-check and retry.
func (f *roomFeed) fill(ctx context.Context, from int64) error {
	f.readMu.Lock()
	defer f.readMu.Unlock()
	f.mu.Lock()
	to, free, done := f.coverFrom, f.ring.free(), f.atStart || from >= f.coverFrom
	f.mu.Unlock()
	if done || free == 0 {
		return nil
	}
	var got []entry
	records := 0
	dropped := int64(-1) // the newest offset trimmed away, if any
	seen := newIDWindow(catchupIDs)
	err := f.src.ReadRange(ctx, from, to, func(r Record) {
		if r.Offset < from || r.Offset >= to {
			return
		}
		records++
		if e, ok := f.decode(r); ok {
			if e.msg.ID != "" {
				if seen.has(e.msg.ID) {
					return // the first record of an id wins
				}
				seen.add(e.msg.ID, e.msg.Offset)
			}
			got = append(got, e)
			if len(got) > 2*free {
				// only the newest free entries can be kept
				dropped = got[len(got)-free-1].msg.Offset
				got = append(got[:0], got[len(got)-free:]...)
			}
		}
	})
	if err != nil {
		return err
	}
	// what was read goes in in its current version: folded with its own
	// revisions, the ring's (revise.go) and, first, those of the edit
	// window below it (earlier revisions of the messages its revisions
	// change)
	rv := newRevisions()
	if lo := max(0, from-f.set.cfg.EditWindow); lo < from && hasRevision(got) {
		if err := f.eachRevision(ctx, lo, from, rv.add); err != nil {
			return err
		}
	}
	for i := range got {
		if got[i].isRevision() {
			rv.add(&got[i])
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if f.coverFrom != to {
		return nil
	}
	f.joinRingLocked(rv)
	for i := range got {
		rv.fold(&got[i])
	}
	for i := len(got) - 1; i >= 0; i-- {
		if f.ids.known(got[i].msg.ID) {
			// the feed delivered a later record of this id (it
			// started after this one): that one stays the only one
			continue
		}
		if !f.ring.pushFront(got[i]) {
			f.coverFrom = got[i].msg.Offset + 1
			return nil
		}
		f.ids.added(&got[i])
	}
	if dropped >= 0 {
		// the ring holds only what came after the trimmed entries
		f.coverFrom = dropped + 1
		return nil
	}
	f.coverFrom = from
	if from == 0 || (records == 0 && to-from >= 2) {
		// a range of two or more offsets holds at least one record
		// unless the log no longer retains it
		f.atStart = true
	}
	return nil
}

// MaxHistory caps the limit of one History page.
const MaxHistory = 1000

// history returns up to limit messages with offsets below before (before
// < 0: the newest), newest first. The ring answers what it covers; older
// messages are filled into the ring while they fit next to it, and read
// straight from the log (bounded backward reads) otherwise.
func (f *roomFeed) history(ctx context.Context, before int64, limit int) ([]rooms.Message, error) {
	if limit <= 0 {
		return []rooms.Message{}, nil
	}
	limit = min(limit, MaxHistory)
	for tries := 0; ; tries++ {
		f.mu.Lock()
		if f.err != nil {
			f.mu.Unlock()
			return nil, f.err
		}
		b := before
		if b < 0 || b > f.last {
			b = f.last + 1
		}
		// the newest messages below b the ring holds (revisions are
		// folded into them, and not listed)
		page := make([]rooms.Message, 0, limit)
		for i := f.ring.firstAtOrAfter(b) - 1; i >= 0 && len(page) < limit; i-- {
			if e := f.ring.at(i); !e.isRevision() {
				page = append(page, e.msg)
			}
		}
		need := limit - len(page)
		bound := min(b, f.coverFrom) // older messages lie below bound
		if need == 0 || f.atStart {
			f.mu.Unlock()
			return page, nil
		}
		canFill := b >= f.coverFrom && f.ring.free() >= need && tries <= maxStepBack
		from := max(0, f.coverFrom-stepWidth(need, tries))
		f.mu.Unlock()
		if canFill {
			if err := f.fill(ctx, from); err != nil {
				return nil, err
			}
			continue
		}
		older, err := f.readBack(ctx, bound, need)
		if err != nil {
			return nil, err
		}
		for i := len(older) - 1; i >= 0; i-- {
			page = append(page, older[i].msg)
		}
		return page, nil
	}
}

// readBack reads the newest need messages below bound straight from the
// log, oldest first, with backward reads that double in width; it stops at
// the log's start or after maxStepBack reads. Of two records of one
// message id it keeps the older, and none the feed delivers at another
// offset.
func (f *roomFeed) readBack(ctx context.Context, bound int64, need int) ([]entry, error) {
	var out []entry
	var found []entry // the revisions read, in any order
	hi := bound
	for tries := 0; tries <= maxStepBack && hi > 0 && len(out) < need; tries++ {
		want := need - len(out)
		lo := max(0, hi-stepWidth(want, tries))
		var got []entry
		records := 0
		err := f.src.ReadRange(ctx, lo, hi, func(r Record) {
			if r.Offset < lo || r.Offset >= hi {
				return
			}
			records++
			if e, ok := f.decode(r); ok {
				if e.isRevision() {
					found = append(found, e)
					return
				}
				got = append(got, e)
				if len(got) > 2*want+stepSlack {
					got = append(got[:0], got[len(got)-want-stepSlack:]...)
				}
			}
		})
		if err != nil {
			return nil, err
		}
		out = f.unique(append(slices.Clip(got), out...))
		if len(out) > need {
			out = out[len(out)-need:]
		}
		if records == 0 && hi-lo >= 2 {
			break // the log retains nothing older
		}
		hi = lo
	}
	return f.foldOld(ctx, out, found, bound)
}

// foldOld gives messages read from below bound (oldest first) their
// current version: their revisions lie among those the reads found, in
// the edit window above bound (read now, up to the ring) and in the ring.
func (f *roomFeed) foldOld(ctx context.Context, out, found []entry, bound int64) ([]entry, error) {
	if len(out) == 0 {
		return out, nil
	}
	sortByOffset(found)
	rv := newRevisions()
	for i := range found {
		rv.add(&found[i])
	}
	// a message's revisions lie at most EditWindow above it
	if err := f.readRevisions(ctx, rv, bound, bound+f.set.cfg.EditWindow+1); err != nil {
		return nil, err
	}
	for i := range out {
		rv.fold(&out[i])
	}
	return out, nil
}

// unique returns the entries (oldest first) without repeated message ids:
// the oldest record of an id stays, unless the feed delivers the id at
// another offset, in which case none does.
func (f *roomFeed) unique(entries []entry) []entry {
	seen := make(map[string]struct{}, len(entries))
	out := entries[:0]
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range entries {
		if id := e.msg.ID; id != "" {
			if _, dup := seen[id]; dup || f.ids.other(id, e.msg.Offset) {
				continue
			}
			seen[id] = struct{}{}
		}
		out = append(out, e)
	}
	return out
}
