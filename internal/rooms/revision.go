package rooms

import (
	"context"
	"errors"
	"time"
)

// Edits and deletions. A TALK message is never changed in the room's
// history (a stream only grows): its sender edits it, or its sender or a
// moderator deletes it, by an EDIT or DELETE message that names it (Ref,
// RefOffset). Whoever reads the history gets the current version: the
// feed folds every revision it knows into the message it names (its
// text replaced and EditedAt set, or a tombstone: Deleted, no text, no
// attachments), and rewrites every revision message of that message to
// the final state as well, so no replay carries a text its sender
// deleted or replaced. Live subscribers get the EDIT and DELETE messages
// themselves and apply them by Ref.
//
// A revision counts only within the room's edit window: its own offset
// at most EditWindow above the message's (checked the same on every
// replica, as offsets are), so a read of old history knows where to look
// for the revisions of what it read.

// DefaultEditWindow is how far (in history offsets) above a message its
// revisions may come: the newest thousand or so messages of a room may be
// edited and deleted.
const DefaultEditWindow = 1000

// Revision is what the EDIT and DELETE messages of one message make of
// it: its latest text, or deleted.
type Revision struct {
	// Deleted: a DELETE came; the message stays deleted whatever follows.
	Deleted bool
	// Text is the latest EDIT's text (with Edited set).
	Text   string
	Edited bool
	// At is when the latest revision that counts was sent.
	At time.Time
}

// With returns r with revision message ev applied: a DELETE deletes for
// good, an EDIT of a message not deleted replaces its text.
func (r Revision) With(ev Post) Revision {
	switch {
	case r.Deleted:
	case ev.Type == Delete:
		return Revision{Deleted: true, At: ev.SentAt}
	case ev.Type == Edit:
		return Revision{Text: ev.Message, Edited: true, At: ev.SentAt}
	}
	return r
}

// Revised returns p (the message a revision names) in its current
// version: a tombstone when deleted, the latest text when edited.
func (p Post) Revised(r Revision) Post {
	switch {
	case r.Deleted:
		p.Message, p.Attachments, p.Deleted, p.EditedAt = "", nil, true, nil
	case r.Edited:
		at := r.At
		p.Message, p.EditedAt = r.Text, &at
	}
	return p
}

// RevisedEvent returns revision message p rewritten to the final state r
// of the message it names: an EDIT carries the latest text, and once the
// message is deleted every revision of it is a DELETE without text.
func (p Post) RevisedEvent(r Revision) Post {
	switch {
	case r.Deleted:
		p.Type, p.Message, p.Attachments = Delete, "", nil
	case r.Edited:
		p.Message = r.Text
	}
	return p
}

// InWindow reports whether revision message p, stored at offset, counts:
// it names a message below it by id and offset, at most window offsets
// below.
func (p Post) InWindow(offset int64, window int64) bool {
	return p.Ref != "" && p.RefOffset != nil && *p.RefOffset >= 0 && *p.RefOffset < offset && offset-*p.RefOffset <= window
}

// ErrNotRevisable refuses an edit or deletion of a message that is not a
// TALK message of the room within its edit window, or is deleted.
var ErrNotRevisable = errors.New("not a message that may be edited or deleted")

// Revisable is a Store that tells which messages may be edited or
// deleted (both stores are).
type Revisable interface {
	// Revisable returns the message at offset of room roomID in its
	// current version when an EDIT or DELETE of it published now would
	// count: a TALK message, not deleted, well within the edit window
	// (ErrNotRevisable otherwise, ErrNotFound for no such room).
	Revisable(ctx context.Context, roomID string, offset int64) (Message, error)
}
