package chat

import (
	"errors"

	"chatrelay/internal/auth"
	"chatrelay/internal/roomlimit"
	"chatrelay/internal/rooms"
	"chatrelay/internal/router"
)

// Tutorial is the Spring-tutorial compatibility of chat.send (config key
// tutorial.mode). The Korean Spring STOMP chat tutorials connect without a
// login, name the user in each message's "sender", announce themselves
// with an ENTER of their own, and use room ids their own server made up.
type Tutorial struct {
	// SenderFromBody: a session whose user the server generated
	// (router.Context.Anonymous: auth.mode none without a login) sends
	// under the body's "sender", which must be a valid user name; without
	// one, under its generated name. A session with a user of its own
	// always sends under it.
	SenderFromBody bool
	// ClientPresence: an ENTER from a session that follows the room
	// names the session in the room's presence (router.Context.Claim).
	ClientPresence bool
	// Announces (with ClientPresence): presence publishes ENTER and
	// LEAVE messages (rooms.presence.messages), so a claiming ENTER is
	// not published itself: presence publishes the one ENTER, with the
	// server's text, when the name is new to the room.
	Announces bool
	// CreateRoom, when set, creates the room a SEND through an alias
	// (/pub/chat/message) names when no room has that id, within the
	// room creation limits.
	CreateRoom rooms.CreateByID
}

// CodeSender is the error code of a "sender" that is not a valid user
// name.
const CodeSender = "invalid_sender"

// sender returns the name a message of c is sent under: the session's
// user, or the body's sender under Tutorial.SenderFromBody.
func (h *handlers) sender(c *router.Context, req sendBody) (string, error) {
	if !c.Anonymous || !h.opts.Tutorial.SenderFromBody || req.sender == "" {
		return c.User, nil
	}
	if !auth.ValidUser(req.sender) {
		return "", &router.Error{Code: CodeSender, Message: "sender must be 1 to 64 letters, digits or ._@+~- (no spaces)"}
	}
	return req.sender, nil
}

// announced reports whether req is an ENTER that presence announces in
// its place: it claims sender as the session's presence name in the room
// (Tutorial.ClientPresence), and presence publishes ENTER messages.
func (h *handlers) announced(c *router.Context, req sendBody, sender string) bool {
	t := h.opts.Tutorial
	if req.typ != Enter || !t.ClientPresence || c.Claim == nil {
		return false
	}
	return c.Claim(req.roomID, sender) && t.Announces
}

// createRoom creates roomID for a SEND that named it through an alias,
// or refuses: not_found without Tutorial.CreateRoom or for a canonical
// destination, the limiter's code (rate_limited, quota_exceeded) over a
// room creation limit.
func (h *handlers) createRoom(c *router.Context, roomID string) (rooms.Room, error) {
	create := h.opts.Tutorial.CreateRoom
	if create == nil || c.Original == "" || c.Original == c.Destination {
		return rooms.Room{}, router.NotFound("room %q does not exist", roomID)
	}
	room, err := create(c, roomID, rooms.Creator{User: c.User, Anonymous: c.Anonymous, Remote: c.Remote})
	if err == nil {
		return room, nil
	}
	var refused *roomlimit.Refusal
	if errors.As(err, &refused) {
		return rooms.Room{}, &router.Error{Code: refused.Code, Message: "room " + roomID +
			" does not exist and was not created: " + refused.Message + " (" + refused.Key + ")"}
	}
	if errors.Is(err, rooms.ErrDuplicateName) {
		return rooms.Room{}, router.NotFound("room %q does not exist, and another room is named %q", roomID, roomID)
	}
	return rooms.Room{}, err
}
