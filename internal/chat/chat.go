// Package chat holds the built-in chat handlers registered on the router:
// sending into a room is a SEND to /app/chat.send, whose RECEIPT comes
// once the message is seen stored (confirm.go); a private message is a
// SEND to /app/chat.dm, delivered on the user's /user/queue/messages
// (dm.go); Tutorial lets the Spring tutorials' clients use chat.send
// unchanged (tutorial.go).
package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"chatrelay/internal/rooms"
	"chatrelay/internal/router"
	"chatrelay/internal/stomp"
)

// Options tune the handlers. Zero values take defaults.
type Options struct {
	// Now returns the current time (default time.Now).
	Now func() time.Time
	// NewID returns a new message id (default a random UUID).
	NewID func() string
	// MaxMessageBytes limits a message's text (default
	// rooms.DefaultMaxMessageBytes).
	MaxMessageBytes int
	// Rooms, when set, is asked whether a room exists and who may send
	// to it: chat.send refuses unknown rooms and private rooms the sender
	// is not a member of.
	Rooms RoomLookup
	// Confirm, when set, publishes room messages until they are seen
	// stored (a confirm.Confirmer): chat.send's RECEIPT then waits for
	// that, and the sender gets a not_stored error instead when it does
	// not happen in time. Without it the RECEIPT follows the broker's.
	Confirm Confirmer
	// Language is the language of the texts the server writes into
	// ENTER and LEAVE messages sent with an empty message (SystemText;
	// default Korean).
	Language string
	// Tutorial turns on the Spring-tutorial compatibility of chat.send
	// (see tutorial.go).
	Tutorial Tutorial
	// Attachments says which attachment URLs chat.send accepts
	// (rooms.ParseAttachments; https only by default).
	Attachments rooms.AttachmentRules
	// Direct, when set with Confirm, keeps private messages: chat.dm
	// stores each in its users' direct room (found or created by
	// Direct) and notifies them once it is stored. Without it a private
	// message reaches the users' online sessions only.
	Direct DirectRooms
}

// DirectRooms finds or creates the direct room of two users (a
// direct.Service).
type DirectRooms interface {
	// Room returns the direct room of from and to; address is the
	// sender's clientaddr.Key, for the creation limits.
	Room(ctx context.Context, from, to, address string) (rooms.Room, error)
}

// Confirmer publishes a room message until it is seen stored, then calls
// done (see confirm.Confirmer.Send).
type Confirmer interface {
	Send(roomID, msgID string, body []byte, done func(error))
	// Timeout is how long a message may stay unseen in all.
	Timeout() time.Duration
}

// RoomLookup finds rooms and readies them for messages (a rooms.Store is
// one).
type RoomLookup interface {
	Get(id string) (rooms.Room, bool)
	// Open readies a room to store messages (rooms.Store.Open): a
	// message published to a room before it may be dropped.
	Open(ctx context.Context, id string) error
}

// withDefaults fills unset options.
func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewID == nil {
		o.NewID = uuid.NewString
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = rooms.DefaultMaxMessageBytes
	}
	if o.Language == "" {
		o.Language = LangKorean
	}
	return o
}

// Register adds the chat handlers to r: /app/chat.send.
func Register(r *router.Router, opts Options) {
	h := &handlers{opts: opts.withDefaults()}
	r.Handle("/app/chat.send", h.send)
}

// handlers carries the options the handlers share.
type handlers struct {
	opts Options
}

// send handles a SEND to /app/chat.send: body {"roomId","type","message"}.
// It publishes a ChatMessage to the room's topic, with the authenticated
// user as sender whatever the client wrote (but see Tutorial), and replies
// nothing. An ENTER or LEAVE with an empty message gets the server's text
// (SystemText). With a Confirmer the frame is finished later
// (router.Context.Later), once the message is seen stored or given up on
// (see confirm.go).
func (h *handlers) send(c *router.Context) (any, error) {
	if c.Subscribe {
		return nil, router.BadRequest("%s accepts SEND frames only", c.Destination)
	}
	if c.User == "" {
		return nil, router.Forbidden("sign in to send messages")
	}
	req, err := parseSend(c.Body, h.opts.MaxMessageBytes, h.opts.Attachments)
	if err != nil {
		return nil, err
	}
	roomID, typ, text := req.roomID, req.typ, req.text
	sender, err := h.sender(c, req)
	if err != nil {
		return nil, err
	}
	if h.opts.Rooms != nil {
		room, ok := h.opts.Rooms.Get(roomID)
		if !ok {
			if room, err = h.createRoom(c, roomID); err != nil {
				return nil, err
			}
		}
		if err := MaySend(room, c.User); err != nil {
			return nil, err
		}
	}
	if h.announced(c, req, sender) {
		return nil, nil
	}
	if c.Broker == nil {
		return nil, fmt.Errorf("chat: no broker publisher")
	}
	if (typ == Enter || typ == Leave) && text == "" {
		text = SystemText(typ, sender, h.opts.Language)
	}
	msg := ChatMessage{
		ID:          h.opts.NewID(),
		RoomID:      roomID,
		Type:        typ,
		Sender:      sender,
		Message:     text,
		SentAt:      h.opts.Now().UTC(),
		Attachments: req.files,
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("chat: encode message: %w", err)
	}
	if h.opts.Confirm != nil && c.Later != nil {
		h.confirm(c, msg, body)
		return nil, nil
	}
	if h.opts.Rooms != nil {
		ctx, cancel := context.WithTimeout(c, openTimeout)
		err := h.opts.Rooms.Open(ctx, roomID)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("chat: open room %s: %w", roomID, err)
		}
	}
	headers := stomp.Headers{{Key: "content-type", Value: "application/json"}}
	if err := c.Broker.Publish(RoomTopic(roomID), headers, body); err != nil {
		return nil, fmt.Errorf("chat: publish to room %s: %w", roomID, err)
	}
	return nil, nil
}
