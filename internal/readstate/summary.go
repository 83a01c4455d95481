package readstate

import (
	"context"
	"time"
	"unicode/utf8"

	"chatrelay/internal/rooms"
)

// ScanLimit bounds the newest messages a summary reads: a user with more
// unread messages than that sees UnreadMore ("300+").
const ScanLimit = 300

// previewRunes bounds a last message's preview text.
const previewRunes = 80

// Preview is a room's last message as a room list shows it.
type Preview struct {
	Offset  int64             `json:"offset"`
	Type    rooms.MessageType `json:"type"`
	Sender  string            `json:"sender"`
	Text    string            `json:"text"`
	SentAt  time.Time         `json:"sentAt"`
	Deleted bool              `json:"deleted,omitempty"`
}

// Summary is what a room list shows a user of one room: how many
// messages are unread (at least, when UnreadMore) and the last message.
type Summary struct {
	Unread     int      `json:"unread"`
	UnreadMore bool     `json:"unreadMore,omitempty"`
	Read       *int64   `json:"read,omitempty"`
	Last       *Preview `json:"lastMessage,omitempty"`
}

// Counts reports whether m counts as unread for user: a TALK or SYSTEM
// message, not deleted, that someone else sent. ENTER and LEAVE, edits
// and deletions are not messages to read.
func Counts(m rooms.Message, user string) bool {
	return (m.Type == rooms.Talk || m.Type == rooms.System) && !m.Deleted && m.Sender != user
}

// Summarize counts user's unread messages in newest (newest first, as
// rooms.Store.History returns them; more tells that older ones exist)
// above read (-1: nothing read), and previews the newest message that
// counts for anyone.
func Summarize(newest []rooms.Message, more bool, user string, read int64) Summary {
	var sum Summary
	if read >= 0 {
		r := read
		sum.Read = &r
	}
	reached := false // a message at or below read was seen
	for _, m := range newest {
		if sum.Last == nil && (m.Type == rooms.Talk || m.Type == rooms.System) {
			sum.Last = preview(m)
		}
		if m.Offset <= read {
			reached = true
		} else if Counts(m, user) {
			sum.Unread++
		}
		if reached && sum.Last != nil {
			return sum
		}
	}
	sum.UnreadMore = more && !reached
	return sum
}

// preview is m as a room list shows it.
func preview(m rooms.Message) *Preview {
	text := m.Message
	if m.Deleted {
		text = ""
	}
	if utf8.RuneCountInString(text) > previewRunes {
		runes := []rune(text)
		text = string(runes[:previewRunes]) + "…"
	}
	return &Preview{Offset: m.Offset, Type: m.Type, Sender: m.Sender, Text: text, SentAt: m.SentAt, Deleted: m.Deleted}
}

// Summarizer reads rooms' newest messages for summaries.
type Summarizer struct {
	// History reads a room's newest messages (rooms.Store.History).
	History func(ctx context.Context, roomID string, before int64, limit int) ([]rooms.Message, error)
	// Reads holds the positions.
	Reads *Service
}

// ListBudget bounds the time one room list spends on summaries: rooms
// past it are listed without one.
const ListBudget = 3 * time.Second

// For returns the summaries of one room list for user (nil for no user):
// private rooms and conversations the user is in, and public rooms the
// user has read in, get one; the others, and every room once ListBudget
// is spent, none.
func (z Summarizer) For(ctx context.Context, user string) func(rooms.Room) *Summary {
	if user == "" || z.Reads == nil {
		return nil
	}
	deadline := time.Now().Add(ListBudget)
	return func(room rooms.Room) *Summary {
		if _, read := z.Reads.Position(room.ID, room.Seq, user); !room.Private && !read {
			return nil
		}
		ctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		return z.Summary(ctx, room, user)
	}
}

// Summary returns user's summary of room, or nil when it cannot be read
// (the room gone, the broker slow: a list goes on without it).
func (z Summarizer) Summary(ctx context.Context, room rooms.Room, user string) *Summary {
	read, ok := z.Reads.Position(room.ID, room.Seq, user)
	if !ok {
		read = -1
	}
	msgs, err := z.History(ctx, room.ID, -1, ScanLimit)
	if err != nil {
		return nil
	}
	sum := Summarize(msgs, len(msgs) == ScanLimit, user, read)
	return &sum
}
