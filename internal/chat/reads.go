package chat

import (
	"errors"

	"chatrelay/internal/readstate"
	"chatrelay/internal/roomlimit"
	"chatrelay/internal/router"
)

// Reads is what the read position handlers need.
type Reads struct {
	// Marker sets and shows positions (required).
	Marker readstate.Marker
}

// RegisterReads adds /app/rooms/{id}/read (SEND: the user's position)
// and /app/rooms/{id}/reads (SUBSCRIBE: the room's positions, once) to r.
func RegisterReads(r *router.Router, rd Reads) {
	r.Handle("/app/rooms/{id}/read", rd.read)
	r.Handle("/app/rooms/{id}/reads", rd.positions)
}

// read handles a SEND to /app/rooms/{id}/read {"offset":N}: the
// signed-in user has read the room up to offset N. A position only moves
// forward; every session of the user, and in a private room every
// member, learns it once the broker holds it.
func (rd Reads) read(c *router.Context) (any, error) {
	if c.Subscribe {
		return nil, router.BadRequest("%s accepts SEND frames only: subscribe to /app/rooms/{id}/reads for the positions", c.Destination)
	}
	if c.User == "" {
		return nil, router.Forbidden("sign in to keep read positions")
	}
	offset, err := readstate.ParseRead(c.Body)
	if err != nil {
		return nil, router.BadRequest("%v", err)
	}
	_, err = rd.Marker.Mark(c, c.Vars["id"], c.User, offset)
	return nil, ReadError(err, c.Vars["id"])
}

// positions answers a SUBSCRIBE to /app/rooms/{id}/reads with the room's
// read positions (readstate.View), once.
func (rd Reads) positions(c *router.Context) (any, error) {
	if !c.Subscribe {
		return nil, router.BadRequest("subscribe to %s for the read positions; SEND to /app/rooms/{id}/read to set yours", c.Destination)
	}
	if c.User == "" {
		return nil, router.Forbidden("sign in to see read positions")
	}
	v, err := rd.Marker.View(c.Vars["id"], c.User)
	if err != nil {
		return nil, ReadError(err, c.Vars["id"])
	}
	return v, nil
}

// ReadError turns a readstate error into the answer a client gets.
func ReadError(err error, roomID string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, readstate.ErrNotFound):
		return router.NotFound("room %q does not exist", roomID)
	case errors.Is(err, readstate.ErrForbidden):
		return router.Forbidden("you may not read room %q", roomID)
	case errors.Is(err, readstate.ErrInvalid):
		return router.BadRequest("room %q has no message at that offset to read yet", roomID)
	case errors.Is(err, readstate.ErrFull):
		return &router.Error{Code: roomlimit.CodeRate, Message: "too many read positions on this server; try again later"}
	case errors.Is(err, readstate.ErrUnavailable):
		return &router.Error{Code: CodeNotStored, Message: "the room's history is not available right now; try again"}
	}
	return err
}
