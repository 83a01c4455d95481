// Package revision edits and deletes room messages for the STOMP routes
// (chat) and the REST API (httpapi): a sender edits or deletes their own
// TALK messages, and a room's owner, its moderators and the API key
// delete anyone's. A change is an EDIT or DELETE message stored in the
// room's history after the one it changes (rooms/revision.go); the
// history then serves the current version to every reader, and live
// subscribers get the change itself. The RECEIPT (or the REST answer)
// comes once the change is seen stored.
package revision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"chatrelay/internal/moderation"
	"chatrelay/internal/rooms"
)

// Store is what the Service needs of the room store.
type Store interface {
	rooms.Getter
	rooms.Revisable
}

// Storer publishes a room message and returns once it is seen stored
// (confirm.Confirmer.Store).
type Storer interface {
	Store(ctx context.Context, roomID, msgID string, body []byte) error
}

// Options configure a Service; Rooms and Messages are required.
type Options struct {
	Rooms    Store
	Messages Storer
	// Now returns the current time (default time.Now).
	Now func() time.Time
	// NewID returns a new message id (default a random UUID).
	NewID func() string
	// MaxMessageBytes bounds an edited text (default
	// rooms.DefaultMaxMessageBytes).
	MaxMessageBytes int
}

// Service edits and deletes messages.
type Service struct{ opts Options }

// New returns a Service.
func New(opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = uuid.NewString
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = rooms.DefaultMaxMessageBytes
	}
	return &Service{opts: opts}
}

// Ref names the message to change: its offset in the room's history and,
// when the client knows it, its id (checked).
type Ref struct {
	Offset int64
	ID     string
}

// errorf returns a refusal of kind.
func errorf(kind moderation.Kind, format string, a ...any) error {
	return &moderation.Error{Kind: kind, Msg: fmt.Sprintf(format, a...)}
}

// Edit has actor replace the text of their own message ref in room
// roomID, and returns the EDIT stored.
func (s *Service) Edit(ctx context.Context, roomID string, actor moderation.Actor, ref Ref, text string) (rooms.Post, error) {
	if actor.Admin || actor.User == "" {
		return rooms.Post{}, errorf(moderation.Forbidden, "only the sender of a message may edit it")
	}
	if len(text) > s.opts.MaxMessageBytes {
		return rooms.Post{}, errorf(moderation.Invalid, "message is longer than %d bytes", s.opts.MaxMessageBytes)
	}
	if !utf8.ValidString(text) {
		return rooms.Post{}, errorf(moderation.Invalid, "message is not valid UTF-8")
	}
	room, err := s.room(roomID, actor)
	if err != nil {
		return rooms.Post{}, err
	}
	if room.IsMuted(actor.User) {
		return rooms.Post{}, errorf(moderation.Forbidden, "you are muted in room %q: you may read it, not write to it", roomID)
	}
	msg, err := s.target(ctx, roomID, ref)
	if err != nil {
		return rooms.Post{}, err
	}
	if msg.Sender != actor.User {
		return rooms.Post{}, errorf(moderation.Forbidden, "only the sender of a message may edit it; message %s is %s's", msg.ID, msg.Sender)
	}
	if strings.TrimSpace(text) == "" && len(msg.Attachments) == 0 {
		return rooms.Post{}, errorf(moderation.Invalid, "an edited message needs text (delete it instead)")
	}
	return s.store(ctx, rooms.Edit, roomID, actor, msg, text)
}

// Delete has actor delete message ref in room roomID: their own, or
// anyone's when actor is the room's owner, one of its moderators or the
// API key. It returns the DELETE stored.
func (s *Service) Delete(ctx context.Context, roomID string, actor moderation.Actor, ref Ref) (rooms.Post, error) {
	room, err := s.room(roomID, actor)
	if err != nil {
		return rooms.Post{}, err
	}
	msg, err := s.target(ctx, roomID, ref)
	if err != nil {
		return rooms.Post{}, err
	}
	if !actor.Admin && msg.Sender != actor.User && room.Role(actor.User) == "" {
		return rooms.Post{}, errorf(moderation.Forbidden, "only the sender of a message, or the owner or a moderator of room %s, may delete it", roomID)
	}
	return s.store(ctx, rooms.Delete, roomID, actor, msg, "")
}

// room returns the room actor changes a message of.
func (s *Service) room(roomID string, actor moderation.Actor) (rooms.Room, error) {
	room, ok := s.opts.Rooms.Get(roomID)
	switch {
	case !ok || (!actor.Admin && room.Private && !room.Allows(actor.User) && !room.IsBanned(actor.User)):
		return rooms.Room{}, errorf(moderation.NotFound, "room %q does not exist", roomID)
	case !actor.Admin && room.IsBanned(actor.User):
		return rooms.Room{}, errorf(moderation.Forbidden, "you are banned from room %q", roomID)
	case !actor.Admin && actor.User == "":
		return rooms.Room{}, errorf(moderation.Forbidden, "sign in to change messages")
	}
	return room, nil
}

// target returns the message ref names, if it may change.
func (s *Service) target(ctx context.Context, roomID string, ref Ref) (rooms.Message, error) {
	msg, err := s.opts.Rooms.Revisable(ctx, roomID, ref.Offset)
	switch {
	case errors.Is(err, rooms.ErrNotFound):
		return rooms.Message{}, errorf(moderation.NotFound, "room %q does not exist", roomID)
	case errors.Is(err, rooms.ErrNotRevisable):
		return rooms.Message{}, errorf(moderation.Invalid, "the message at offset %d cannot be changed: it is no chat message of room %s, it is deleted, or it is older than the newest %d or so messages", ref.Offset, roomID, rooms.DefaultEditWindow*9/10)
	case err != nil:
		return rooms.Message{}, &moderation.Error{Kind: moderation.Unavailable, Msg: "the room's history could not be read: " + err.Error(), Err: err}
	}
	if ref.ID != "" && msg.ID != ref.ID {
		return rooms.Message{}, errorf(moderation.Invalid, "the message at offset %d is not message %s", ref.Offset, ref.ID)
	}
	return msg, nil
}

// store stores the EDIT or DELETE of msg and waits until it is seen
// stored.
func (s *Service) store(ctx context.Context, typ rooms.MessageType, roomID string, actor moderation.Actor, msg rooms.Message, text string) (rooms.Post, error) {
	sender := actor.User
	if actor.Admin || sender == "" {
		sender = moderation.SystemSender
	}
	off := msg.Offset
	post := rooms.Post{
		ID:        s.opts.NewID(),
		RoomID:    roomID,
		Type:      typ,
		Sender:    sender,
		Message:   text,
		SentAt:    s.opts.Now().UTC(),
		Ref:       msg.ID,
		RefOffset: &off,
	}
	body, err := json.Marshal(post)
	if err != nil {
		return rooms.Post{}, err
	}
	if err := s.opts.Messages.Store(ctx, roomID, post.ID, body); err != nil {
		if errors.Is(err, rooms.ErrNotFound) {
			return rooms.Post{}, errorf(moderation.NotFound, "room %q was deleted", roomID)
		}
		return rooms.Post{}, &moderation.Error{Kind: moderation.Unavailable, Msg: fmt.Sprintf("the %s %s was not seen stored in room %s: it may still appear; ask again if it does not", typ, post.ID, roomID), Err: err}
	}
	return post, nil
}

// Request is the body of a STOMP edit or delete: {"offset":N,"id":"...",
// "message":"..."} (message for an edit only).
type Request struct {
	Offset  *int64  `json:"offset"`
	ID      string  `json:"id"`
	Message *string `json:"message"`
}

// ParseRequest reads an edit (edit true: message required) or delete
// request.
func ParseRequest(body []byte, edit bool, maxBytes int) (Ref, string, error) {
	if len(body) > maxBytes+1024 {
		return Ref{}, "", errorf(moderation.Invalid, "the request is longer than %d bytes", maxBytes+1024)
	}
	var req Request
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	want := `{"offset":N,"id":"message id"}`
	if edit {
		want = `{"offset":N,"id":"message id","message":"new text"}`
	}
	if err := dec.Decode(&req); err != nil {
		return Ref{}, "", errorf(moderation.Invalid, "body must be %s: %v", want, err)
	}
	if req.Offset == nil || *req.Offset < 0 {
		return Ref{}, "", errorf(moderation.Invalid, "offset is required: the message's offset (x-offset), in %s", want)
	}
	if len(req.ID) > 128 {
		return Ref{}, "", errorf(moderation.Invalid, "id is at most 128 bytes")
	}
	text := ""
	switch {
	case edit && req.Message == nil:
		return Ref{}, "", errorf(moderation.Invalid, "message is required: %s", want)
	case !edit && req.Message != nil:
		return Ref{}, "", errorf(moderation.Invalid, "a deletion takes no message: %s", want)
	case edit:
		text = *req.Message
	}
	return Ref{Offset: *req.Offset, ID: req.ID}, text, nil
}
