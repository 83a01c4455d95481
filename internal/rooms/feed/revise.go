package feed

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"

	"chatrelay/internal/rooms"
)

// Revisions (rooms/revision.go). A feed folds every EDIT and DELETE it
// knows into the message they name, and rewrites the revision messages
// themselves to the final state, wherever it hands messages out:
//
//   - live: a revision applied to the ring changes the ring's copy of the
//     message it names and of that message's earlier revisions (new
//     encodings; copies already handed out keep theirs), then goes to the
//     followers as it is;
//   - the ring filled from the log: what was read is folded with the
//     revisions it holds and those in the ring;
//   - replays read straight from the log (a gap wider than the ring) read
//     the gap once more first, for its revisions;
//   - history read from below the ring also reads the edit window above
//     what it read (a message's revisions lie at most EditWindow above
//     it), up to the ring.
//
// A replay hands out revision messages too, in their final form, for
// messages a client had before; History returns messages only.

// revisions maps message ids to what the revisions applied so far make of
// them. A revision id applied once is not applied again: of a revision
// published twice (a republish) the first record counts, as everywhere
// in a feed.
type revisions struct {
	by   map[string]rooms.Revision
	seen map[string]struct{}
}

// newRevisions returns an empty set.
func newRevisions() revisions {
	return revisions{by: map[string]rooms.Revision{}, seen: map[string]struct{}{}}
}

// add applies revision entry e (in log order).
func (rv revisions) add(e *entry) {
	if id := e.msg.ID; id != "" {
		if _, ok := rv.seen[id]; ok {
			return
		}
		rv.seen[id] = struct{}{}
	}
	rv.by[e.msg.Ref] = rv.by[e.msg.Ref].With(e.msg.Post)
}

// fold gives e its current version: a message named by rv its revision,
// a revision message its final form.
func (rv revisions) fold(e *entry) {
	if len(rv.by) == 0 {
		return
	}
	if e.isRevision() {
		if r, ok := rv.by[e.msg.Ref]; ok {
			e.revise(e.msg.Post.RevisedEvent(r))
		}
		return
	}
	if r, ok := rv.by[e.msg.ID]; ok && e.msg.ID != "" {
		e.revise(e.msg.Post.Revised(r))
	}
}

// isRevision reports whether e is an EDIT or DELETE.
func (e *entry) isRevision() bool { return e.msg.Type.IsRevision() }

// revise replaces e's message with p and encodes it anew (never in place:
// copies of e handed out keep their bytes).
func (e *entry) revise(p rooms.Post) {
	if sameVersion(e.msg.Post, p) {
		return
	}
	m := e.msg
	m.Post = p
	data, err := json.Marshal(m)
	if err != nil {
		return
	}
	e.msg, e.data = m, data
}

// sameVersion compares the fields a revision changes.
func sameVersion(a, b rooms.Post) bool {
	return a.Type == b.Type && a.Message == b.Message && a.Deleted == b.Deleted &&
		len(a.Attachments) == len(b.Attachments) && (a.EditedAt == nil) == (b.EditedAt == nil) &&
		(a.EditedAt == nil || a.EditedAt.Equal(*b.EditedAt))
}

// joinRingLocked adds the revisions the ring holds to rv (read from the
// log below the ring, older), oldest first, and folds the result into
// the ring's revisions: a revision the ring got live before the feed had
// read an older one of the same message (a delete, say) takes the final
// form. Caller holds f.mu.
func (f *roomFeed) joinRingLocked(rv revisions) {
	for i := 0; i < f.ring.len(); i++ {
		if e := f.ring.at(i); e.isRevision() {
			rv.add(e)
		}
	}
	for i := 0; i < f.ring.len(); i++ {
		if e := f.ring.at(i); e.isRevision() {
			rv.fold(e)
		}
	}
}

// eachRevision calls fn, in log order, for every revision of the log from
// `from` up to `to`.
func (f *roomFeed) eachRevision(ctx context.Context, from, to int64, fn func(*entry)) error {
	return f.src.ReadRange(ctx, from, to, func(r Record) {
		if r.Offset < from || r.Offset >= to {
			return
		}
		if e, ok := f.decode(r); ok && e.isRevision() {
			fn(&e)
		}
	})
}

// reviseLocked applies revision e, the newest record, to the ring: e
// takes the final form, as do the ring's earlier revisions of the same
// message, and the message itself its current version. Caller holds
// f.mu.
func (f *roomFeed) reviseLocked(e *entry) {
	ref := e.msg.Ref
	var r rooms.Revision
	var earlier []int
	for i := 0; i < f.ring.len(); i++ {
		if x := f.ring.at(i); x.isRevision() && x.msg.Ref == ref {
			r = r.With(x.msg.Post)
			earlier = append(earlier, i)
		}
	}
	r = r.With(e.msg.Post)
	e.revise(e.msg.Post.RevisedEvent(r))
	for _, i := range earlier {
		x := f.ring.at(i)
		x.revise(x.msg.Post.RevisedEvent(r))
	}
	if off, ok := f.ids.lookup(ref); ok && off == *e.msg.RefOffset {
		if i := f.ring.firstAtOrAfter(off); i < f.ring.len() && f.ring.at(i).msg.Offset == off {
			x := f.ring.at(i)
			x.revise(x.msg.Post.Revised(r))
		}
	}
}

// ensureRingFinal makes the ring's revisions final before a replay hands
// them out: a feed starts with the newest few records of the log, so a
// revision it holds may have an earlier one (a delete, say) below its
// ring. Once, when the ring holds a revision, it reads the edit window
// below the ring for revisions and folds them in. (A revision that
// arrives live is folded with the ring's alone: an edit racing a delete
// of the same message may go out live with its text.)
func (f *roomFeed) ensureRingFinal(ctx context.Context) error {
	f.mu.Lock()
	if f.ringFinal || f.atStart {
		f.mu.Unlock()
		return nil
	}
	has := false
	for i := 0; i < f.ring.len() && !has; i++ {
		has = f.ring.at(i).isRevision()
	}
	to := f.coverFrom
	f.mu.Unlock()
	if !has {
		return nil // nothing to make final (yet)
	}
	rv := newRevisions()
	if err := f.readRevisions(ctx, rv, max(0, to-f.set.cfg.EditWindow), -1); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// what lies below a coverage that moved down meanwhile was folded
	// in by the fill that moved it
	f.ringFinal = true
	return nil
}

// nthNewestMessage returns the ring index of the n-th newest message
// (revisions not counted; n >= 1) and how many messages it found: fewer
// than n when the ring holds fewer (the index is then 0). Caller holds
// f.mu.
func (f *roomFeed) nthNewestMessage(n int) (int, int) {
	found := 0
	for i := f.ring.len() - 1; i >= 0; i-- {
		if !f.ring.at(i).isRevision() {
			if found++; found == n {
				return i, found
			}
		}
	}
	return 0, found
}

// gapRevisions returns the revisions a replay read straight from the log,
// from `from` on, folds in: those of the gap and of the edit window below
// it (earlier revisions of the same messages), and the ring's; the ring is
// folded with them too.
func (f *roomFeed) gapRevisions(ctx context.Context, from int64) (revisions, error) {
	rv := newRevisions()
	if err := f.readRevisions(ctx, rv, max(0, from-f.set.cfg.EditWindow), -1); err != nil {
		return revisions{}, err
	}
	return rv, nil
}

// readRevisions adds to rv, in log order, the revisions of the log from
// `from` up to the ring (or up to limit, when limit >= 0 is lower),
// reading on while the ring moves on meanwhile (it evicts what it held),
// then the ring's own; and folds rv into the ring's revisions, all under
// one hold of f.mu, so that no revision falls between the reads and the
// ring. Revisions are applied as they are read: a read holds one
// rooms.Revision per message, not every revision it met.
func (f *roomFeed) readRevisions(ctx context.Context, rv revisions, from, limit int64) error {
	for {
		f.mu.Lock()
		to := f.coverFrom
		if limit >= 0 {
			to = min(to, limit)
		}
		if from >= to {
			f.joinRingLocked(rv)
			f.mu.Unlock()
			return nil
		}
		f.mu.Unlock()
		if err := f.eachRevision(ctx, from, to, rv.add); err != nil {
			return err
		}
		from = to
	}
}

// sortByOffset sorts entries read out of order into log order.
func sortByOffset(es []entry) {
	slices.SortFunc(es, func(a, b entry) int { return cmp.Compare(a.msg.Offset, b.msg.Offset) })
}

// revisable returns the message at offset in its current version, if a
// revision of it published now would count: it is a TALK message, not
// deleted, and within the edit window below the log's end with a tenth
// of the window to spare (what arrives while the revision is stored).
func (f *roomFeed) revisable(ctx context.Context, offset int64) (rooms.Message, error) {
	f.mu.Lock()
	last, err := f.last, f.err
	f.mu.Unlock()
	if err != nil {
		return rooms.Message{}, err
	}
	window := f.set.cfg.EditWindow
	if offset < 0 || offset > last || last-offset > window-window/10 {
		return rooms.Message{}, rooms.ErrNotRevisable
	}
	page, err := f.history(ctx, offset+1, 1)
	if err != nil {
		return rooms.Message{}, err
	}
	if len(page) == 0 || page[0].Offset != offset || page[0].Type != rooms.Talk || page[0].Deleted {
		return rooms.Message{}, rooms.ErrNotRevisable
	}
	return page[0], nil
}

// decode decodes a record of the feed's room (see decode); a revision
// outside the edit window counts for nothing, like a record that is no
// message.
func (f *roomFeed) decode(r Record) (entry, bool) {
	e, ok := decode(f.room, r)
	if ok && e.isRevision() && !e.msg.InWindow(r.Offset, f.set.cfg.EditWindow) {
		return entry{}, false
	}
	return e, ok
}

// hasRevision reports whether entries hold a revision.
func hasRevision(entries []entry) bool {
	for i := range entries {
		if entries[i].isRevision() {
			return true
		}
	}
	return false
}
