package chat

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"chatrelay/internal/auth"
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

// send handles a SEND to /app/chat.dm: body {"to","message"}. It delivers
// a DirectMessage from the authenticated user to every session of the
// recipient and, unless they are the same user, to the sender's sessions
// too, so that the sender's other tabs show what was sent. It replies
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
	body, err := json.Marshal(DirectMessage{
		ID:      h.opts.NewID(),
		From:    c.User,
		To:      to,
		Message: text,
		SentAt:  h.opts.Now().UTC(),
	})
	if err != nil {
		return nil, fmt.Errorf("chat: encode private message: %w", err)
	}
	headers := stomp.Headers{{Key: "content-type", Value: "application/json"}}
	if err := c.Broker.PublishToUser(to, DMQueue, headers, body); err != nil {
		return nil, fmt.Errorf("chat: private message to %s: %w", to, err)
	}
	if to == c.User {
		return nil, nil
	}
	if err := c.Broker.PublishToUser(c.User, DMQueue, headers, body); err != nil {
		return nil, fmt.Errorf("chat: private message echo to %s: %w", c.User, err)
	}
	return nil, nil
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
