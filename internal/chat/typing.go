package chat

import (
	"bytes"
	"encoding/json"
	"errors"

	"chatrelay/internal/roomlimit"
	"chatrelay/internal/rooms"
	"chatrelay/internal/router"
	"chatrelay/internal/stomp"
	"chatrelay/internal/typing"
)

// maxTypingBody bounds the body of a typing signal: {"typing":false}
// with room to spare.
const maxTypingBody = 256

// Typing is what the typing handler needs.
type Typing struct {
	// Rooms finds rooms (a rooms.Store is one; required).
	Rooms rooms.Getter
	// Tracker decides which signals become events (required).
	Tracker *typing.Tracker
}

// RegisterTyping adds /app/rooms/{id}/typing to r.
func RegisterTyping(r *router.Router, t Typing) {
	r.Handle("/app/rooms/{id}/typing", t.signal)
}

// typingRequest is the body of a typing signal; an empty body means
// {"typing":true}.
type typingRequest struct {
	Typing *bool `json:"typing"`
}

// signal handles a SEND to /app/rooms/{id}/typing: the signed-in user is
// typing in the room (an empty body or {"typing":true}) or stopped
// ({"typing":false}). Whatever is news is published to the room's typing
// topic (typing.Topic), never to the room itself: nothing of it is
// stored. Private rooms take signals from their members only.
func (t Typing) signal(c *router.Context) (any, error) {
	if c.Subscribe {
		return nil, router.BadRequest("%s accepts SEND frames only: subscribe to /topic/room.<id>.typing for the events", c.Destination)
	}
	if c.User == "" {
		return nil, router.Forbidden("sign in to show that you are typing")
	}
	on, err := parseTyping(c.Body)
	if err != nil {
		return nil, err
	}
	id := c.Vars["id"]
	room, ok := t.Rooms.Get(id)
	if !ok {
		return nil, router.NotFound("room %q does not exist", id)
	}
	if err := MaySend(room, c.User); err != nil {
		return nil, err
	}
	body, err := t.Tracker.Update(id, c.User, on)
	switch {
	case errors.Is(err, typing.ErrTooManyRooms):
		return nil, &router.Error{Code: roomlimit.CodeRate, Message: "you are typing in too many rooms at once; stop typing in one first"}
	case errors.Is(err, typing.ErrFull):
		return nil, &router.Error{Code: roomlimit.CodeRate, Message: "too many users are typing on this server; try again later"}
	case err != nil:
		return nil, err
	}
	if body == nil {
		return nil, nil
	}
	h := stomp.Headers{{Key: "content-type", Value: "application/json"}}
	return nil, c.Broker.Publish(typing.Topic(id), h, body)
}

// parseTyping reads a typing signal's body.
func parseTyping(body []byte) (bool, error) {
	if len(body) > maxTypingBody {
		return false, router.BadRequest("a typing signal's body is at most %d bytes: {\"typing\":true} or {\"typing\":false}", maxTypingBody)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return true, nil
	}
	var req typingRequest
	if err := json.Unmarshal(body, &req); err != nil || req.Typing == nil {
		return false, router.BadRequest("body must be empty, {\"typing\":true} or {\"typing\":false}")
	}
	return *req.Typing, nil
}
