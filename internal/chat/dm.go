package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"chatrelay/internal/auth"
	"chatrelay/internal/clientaddr"
	"chatrelay/internal/roomlimit"
	"chatrelay/internal/router"
	"chatrelay/internal/stomp"
)

// DMQueue is the user queue private messages are delivered to: a user
// reads them from /user/queue/messages.
const DMQueue = "messages"

// ValidUserName reports whether name may name a user: the charset
// authentication accepts at CONNECT.
func ValidUserName(name string) bool { return auth.ValidUser(name) }

// DirectMessage is a private message as delivered on /user/queue/messages.
type DirectMessage struct {
	ID      string `json:"id"`
	From    string `json:"from"`
	To      string `json:"to"`
	Message string `json:"message"`
	// SentAt is UTC; it is encoded as RFC 3339 with nanoseconds.
	SentAt time.Time `json:"sentAt"`
	// RoomID is the users' direct room, where the message is stored
	// (its history holds the conversation); absent for a message that
	// is not kept (server push).
	RoomID string `json:"roomId,omitempty"`
}

// dmRequest is the body of a SEND to /app/chat.dm. Unknown fields are
// ignored.
type dmRequest struct {
	To      *string `json:"to"`
	Message string  `json:"message"`
}

// RegisterDM adds the private message handler to r: /app/chat.dm.
func RegisterDM(r *router.Router, opts Options) {
	h := &dmHandler{opts: opts.withDefaults()}
	r.Handle("/app/chat.dm", h.send)
}

// dmHandler carries the options of the private message handler.
type dmHandler struct {
	opts Options
}

// send handles a SEND to /app/chat.dm: body {"to","message"}. With
// Options.Direct it stores the message in the users' direct room first
// (keep); either way it delivers a DirectMessage from the authenticated
// user to the recipient's sessions and the sender's (notify). It replies
// nothing.
func (h *dmHandler) send(c *router.Context) (any, error) {
	if c.Subscribe {
		return nil, router.BadRequest("%s accepts SEND frames only", c.Destination)
	}
	if c.User == "" {
		return nil, router.Forbidden("sign in to send private messages")
	}
	to, text, err := parseDM(c.Body, h.opts.MaxMessageBytes)
	if err != nil {
		return nil, err
	}
	if c.Broker == nil {
		return nil, fmt.Errorf("chat: no broker publisher")
	}
	dm := DirectMessage{
		ID:      h.opts.NewID(),
		From:    c.User,
		To:      to,
		Message: text,
		SentAt:  h.opts.Now().UTC(),
	}
	if h.opts.Direct != nil && h.opts.Confirm != nil && c.Later != nil {
		return nil, h.keep(c, dm)
	}
	return nil, notify(c.Broker, dm)
}

// keep stores dm in its users' direct room, then notifies them: the
// frame finishes (its RECEIPT) once the message is stored, so that the
// recipient finds it in the conversation's history whenever they come
// back, on any replica. Finding or creating the room and storing wait
// for the broker, so it runs off the session's reader (runLater).
func (h *dmHandler) keep(c *router.Context, dm DirectMessage) error {
	broker, address := c.Broker, clientaddr.Key(c.Remote)
	return runLater(c, func(ctx context.Context) error {
		room, err := h.opts.Direct.Room(ctx, dm.From, dm.To, address)
		var refused *roomlimit.Refusal
		switch {
		case errors.As(err, &refused):
			return &router.Error{Code: refused.Code, Message: "private message not sent: " + refused.Message}
		case err != nil:
			return fmt.Errorf("chat: private message to %s: %w", dm.To, err)
		}
		dm.RoomID = room.ID
		body, err := json.Marshal(ChatMessage{ID: dm.ID, RoomID: room.ID, Type: Talk, Sender: dm.From, Message: dm.Message, SentAt: dm.SentAt})
		if err != nil {
			return fmt.Errorf("chat: encode private message: %w", err)
		}
		// the Confirmer gives its verdict within its own timeout
		stored := make(chan error, 1)
		h.opts.Confirm.Send(room.ID, dm.ID, body, func(err error) { stored <- err })
		if err = <-stored; err == nil {
			err = notify(broker, dm)
		}
		return confirmError(ChatMessage{ID: dm.ID, RoomID: room.ID}, h.opts.Confirm.Timeout().String(), err)
	})
}

// notify delivers dm to every session of its recipient and, unless they
// are the same user, to the sender's sessions too, so that the sender's
// other tabs show what was sent.
func notify(broker router.Publisher, dm DirectMessage) error {
	body, err := json.Marshal(dm)
	if err != nil {
		return fmt.Errorf("chat: encode private message: %w", err)
	}
	headers := stomp.Headers{{Key: "content-type", Value: "application/json"}}
	if err := broker.PublishToUser(dm.To, DMQueue, headers, body); err != nil {
		return fmt.Errorf("chat: private message to %s: %w", dm.To, err)
	}
	if dm.To == dm.From {
		return nil
	}
	if err := broker.PublishToUser(dm.From, DMQueue, headers, body); err != nil {
		return fmt.Errorf("chat: private message echo to %s: %w", dm.From, err)
	}
	return nil
}

// parseDM decodes and validates a /app/chat.dm body: the recipient must be
// a valid user name and the text non-blank and at most maxBytes long.
func parseDM(body []byte, maxBytes int) (to, text string, err error) {
	var req dmRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return "", "", router.BadRequest("body must be a JSON object with to and message")
	}
	if req.To == nil || *req.To == "" {
		return "", "", router.BadRequest("to is required")
	}
	if !ValidUserName(*req.To) {
		return "", "", router.BadRequest("to must be 1 to 64 letters, digits or ._@+~-")
	}
	if len(req.Message) > maxBytes {
		return "", "", router.BadRequest("message is longer than %d bytes", maxBytes)
	}
	if strings.TrimSpace(req.Message) == "" {
		return "", "", router.BadRequest("message needs text")
	}
	return *req.To, req.Message, nil
}
