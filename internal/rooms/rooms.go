// Package rooms defines chat rooms, their messages and the Store that keeps
// both in the broker: a registry every replica agrees on, a history per
// room with stream offsets, and followers that receive a room's messages
// in the one order every replica sees.
package rooms

import (
	"context"
	"errors"
	"regexp"
	"time"
)

// Room is one chat room.
type Room struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy"`
	// Private rooms admit only their owner (CreatedBy) and Members.
	Private bool `json:"private,omitempty"`
	// Direct marks the private room of a conversation between two users
	// (direct.go): CreatedBy, who wrote first, and its one member.
	Direct bool `json:"direct,omitempty"`
	// Members of a private room besides its owner, sorted; empty for a
	// public room.
	Members []string `json:"members,omitempty"`
	// Moderators may kick, ban and mute users (see Room.Role), sorted;
	// the owner assigns them.
	Moderators []string `json:"moderators,omitempty"`
	// Banned users may neither follow nor send to the room, sorted;
	// Muted users may follow it but not send (moderation.go). Neither
	// is part of the room's JSON: only the owner and the moderators see
	// them.
	Banned []string `json:"-"`
	Muted  []string `json:"-"`
	// Seq orders rooms by creation, the same on every replica (the
	// registry position): room lists page by it. Never 0 for a stored
	// room; not part of the room's JSON.
	Seq int64 `json:"-"`
	// Origin names the client address the room was created from (see
	// OriginOf), for the per-address room quota; never shown to clients.
	Origin string `json:"-"`
	// Stream is the RabbitMQ stream holding the room's history, as the
	// store recorded it ("" in stores without streams); not part of the
	// room's JSON.
	Stream string `json:"-"`
}

// MessageType is the kind of a room message.
type MessageType string

// The room message types.
const (
	// Talk is an ordinary chat line.
	Talk MessageType = "TALK"
	// Enter announces that the sender joined the room.
	Enter MessageType = "ENTER"
	// Leave announces that the sender left the room.
	Leave MessageType = "LEAVE"
	// System is a message from the server; clients may not send it.
	System MessageType = "SYSTEM"
	// Edit replaces the text of an earlier TALK message (Post.Ref); the
	// server makes it (revision.go).
	Edit MessageType = "EDIT"
	// Delete removes an earlier TALK message's text and attachments,
	// leaving a tombstone (Post.Ref); the server makes it.
	Delete MessageType = "DELETE"
)

// IsRevision reports whether t changes an earlier message (EDIT,
// DELETE) instead of being one.
func (t MessageType) IsRevision() bool { return t == Edit || t == Delete }

// ClientSendable reports whether clients may send messages of type t.
func (t MessageType) ClientSendable() bool {
	return t == Talk || t == Enter || t == Leave
}

// Post is a room message as published to the room's topic (chat's
// ChatMessage): what its sender wrote, before the room's history gives it
// an offset.
type Post struct {
	ID      string      `json:"id"`
	RoomID  string      `json:"roomId"`
	Type    MessageType `json:"type"`
	Sender  string      `json:"sender"`
	Message string      `json:"message"`
	// SentAt is UTC; it is encoded as RFC 3339 with nanoseconds.
	SentAt time.Time `json:"sentAt"`
	// Attachments are the files a TALK message links to (checked by
	// ParseAttachments); absent when none.
	Attachments []Attachment `json:"attachments,omitempty"`
	// Event and Target say what a SYSTEM message of the server
	// announces (a moderation action: Event "kick", "ban", ...) and
	// whom it is about; absent otherwise.
	Event  string `json:"event,omitempty"`
	Target string `json:"target,omitempty"`
	// Ref and RefOffset name the message an EDIT or DELETE changes: its
	// id and its offset in the room's history.
	Ref       string `json:"ref,omitempty"`
	RefOffset *int64 `json:"refOffset,omitempty"`
	// EditedAt is when a message's text was last edited (absent: never);
	// Deleted marks a deleted message, a tombstone without text or
	// attachments. The room's history sets both as it applies EDIT and
	// DELETE messages (revision.go).
	EditedAt *time.Time `json:"editedAt,omitempty"`
	Deleted  bool       `json:"deleted,omitempty"`
}

// Message is a room message as the room's history delivers it: the Post's
// fields (inlined in JSON) and Offset, its position in the history (the
// RabbitMQ stream offset): increasing, not necessarily contiguous.
type Message struct {
	Post
	Offset int64 `json:"offset"`
}

// DefaultMaxMessageBytes is the default bound on a message's text
// (rooms.max_message_bytes): what the chat handlers, the push API and
// the web page use when they are given none.
const DefaultMaxMessageBytes = 4096

// Errors returned by a Store.
var (
	ErrNotFound      = errors.New("room not found")
	ErrDuplicateName = errors.New("a room with that name exists")
	// ErrDuplicateID refuses a Spec.ID that names a room already.
	ErrDuplicateID = errors.New("a room with that id exists")
	ErrInvalid     = errors.New("invalid room")
)

// validID is the safe character set of room ids: they become routing keys
// and queue names.
var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidID reports whether id may name a room.
func ValidID(id string) bool { return validID.MatchString(id) }

// Count counts, in rooms, the rooms that are not direct ones, how many of
// them are owned by user (CreatedBy; "" counts none) and how many were
// created from origin (Origin; "" counts none): what a store without
// counts of its own answers to the room creation limiter.
func Count(all []Room, user, origin string) (total, byUser, byOrigin int) {
	return count(all, false, user, origin)
}

// CountDirect counts, in rooms, the direct rooms, those user started
// (CreatedBy) and those started from origin: what a store without counts
// of its own answers to the direct conversations limiter.
func CountDirect(all []Room, user, origin string) (total, byUser, byOrigin int) {
	return count(all, true, user, origin)
}

// count counts the rooms whose Direct is direct (direct rooms have limits
// of their own), those of them user owns and those created from origin.
func count(all []Room, direct bool, user, origin string) (total, byUser, byOrigin int) {
	for _, r := range all {
		if r.Direct != direct {
			continue
		}
		total++
		if user != "" && r.CreatedBy == user {
			byUser++
		}
		if origin != "" && r.Origin == origin {
			byOrigin++
		}
	}
	return total, byUser, byOrigin
}

// Topic returns the broker destination a room's messages are published to.
func Topic(roomID string) string { return "/topic/room." + roomID }

// StreamName returns the name rooms created before stream names carried
// the room's name have for their history stream in RabbitMQ (see
// Room.Stream for a room's actual stream).
func StreamName(roomID string) string { return "room." + roomID }

// Start says where a follower's delivery begins.
type Start struct {
	// Last, when > 0, first delivers the newest Last messages.
	Last int
	// After, when >= 0, first delivers every message with a greater
	// offset. It wins over Last. Use -1 for none.
	After int64
	// Pace, when set, paces the replay of Last or After (not live
	// delivery): a replayed message is delivered only when Pace.Fits
	// it, else Follow waits (Pace.Wait) and goes on, so that a follower
	// that takes what it is given is never overrun, however long the
	// replay. Follow returns once the replay is delivered.
	Pace Pacer
}

// Pacer lets a follower take a room's replay at its own speed (see
// Start.Pace).
type Pacer interface {
	// Fits reports whether a message with a body of size bytes may be
	// delivered now. It must not block: it may be called with the
	// store's locks held.
	Fits(size int) bool
	// Wait blocks until the follower has taken some of what it was
	// given, or fails when it never will (ctx ended, the follower is
	// gone).
	Wait(ctx context.Context) error
}

// Live is the Start of a plain subscription: new messages only.
var Live = Start{After: -1}

// Store keeps rooms and their messages.
type Store interface {
	// Create adds a room (ErrDuplicateName, ErrDuplicateID, ErrInvalid).
	Create(ctx context.Context, spec Spec) (Room, error)
	// SetMembers replaces the member list of a private room and returns
	// the room as changed (ErrNotFound; ErrInvalid for a public room or
	// too many members). Followers of the room learn nothing from the
	// store: callers check Room.Allows as they deliver.
	SetMembers(ctx context.Context, id string, members []string) (Room, error)
	// Delete removes a room and its history (ErrNotFound).
	Delete(ctx context.Context, id string) error
	// Open readies a room to store messages and returns once it does
	// (ErrNotFound): every publish to a room's Topic must come after
	// one, or the broker may drop the message. A store that keeps
	// nothing per idle room (rabbitstore declares a room's stream on
	// the first Open) does the work once; later calls return at once.
	Open(ctx context.Context, id string) error
	// Get returns a room known to this replica.
	Get(id string) (Room, bool)
	// List returns every room, oldest first.
	List() []Room
	// Page returns, oldest first, up to limit of the rooms for which
	// keep is true (nil: every room) among those with a Seq above after
	// (0: from the first), and whether more such rooms follow.
	Page(after int64, limit int, keep func(Room) bool) ([]Room, bool)
	// History returns up to limit messages with offsets below before
	// (before < 0: the newest), newest first.
	History(ctx context.Context, roomID string, before int64, limit int) ([]Message, error)
	// Follow delivers the room's messages from start on, then live, in
	// the room's one order, with no gap and no duplicate, until stop is
	// called. deliver gets the message and its JSON encoding; it must not
	// block. If the store stops following the room for good (the room was
	// deleted, its broker subscription was cancelled), deliver is called
	// once more with a nil body and a Message holding only an Offset, and
	// then never again: the follower has been handed every message up to
	// that offset (-1: unknown), so that Follow with Start.After at it
	// goes on with no gap. Follow returns once the follower is attached.
	Follow(ctx context.Context, roomID string, start Start, deliver func(Message, []byte)) (stop func(), err error)
	// Close releases the store's broker resources.
	Close() error
}

// Syncer is a Store whose replica's view of the rooms can lag behind
// other replicas' changes (rabbitstore's registry tail). Sync returns
// once the view holds every change any replica made before the call, or
// ctx ends; a list answered after it misses no room created before it.
type Syncer interface {
	Sync(ctx context.Context) error
}
