package httpapi

import (
	"errors"
	"io"
	"net/http"

	"chatrelay/internal/chat"
	"chatrelay/internal/readstate"
)

// readAnswer is the answer of PUT /api/rooms/{id}/read: the user's
// position in the room now (not lower than before).
type readAnswer struct {
	RoomID string `json:"roomId"`
	Offset int64  `json:"offset"`
}

// setRead handles PUT /api/rooms/{id}/read {"offset":N}: the signed-in
// user has read the room up to offset N (lowered to the room's newest
// message). It answers the user's position; every session of the user
// learns it on /user/queue/reads once the broker holds it.
func (a *api) setRead(w http.ResponseWriter, r *http.Request) error {
	room, c, err := a.readsRequest(r)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		return errorf(http.StatusBadRequest, "body could not be read: %v", err)
	}
	offset, err := readstate.ParseRead(body)
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	pos, err := a.opts.Reads.Mark(r.Context(), room, c.user, offset)
	if err != nil {
		return readStatus(err)
	}
	writeJSON(w, http.StatusOK, readAnswer{RoomID: room, Offset: pos})
	return nil
}

// getReads handles GET /api/rooms/{id}/reads: the room's read positions
// (readstate.View): every member's in a private room or a conversation,
// the caller's own in a public room.
func (a *api) getReads(w http.ResponseWriter, r *http.Request) error {
	room, c, err := a.readsRequest(r)
	if err != nil {
		return err
	}
	v, err := a.opts.Reads.View(room, c.user)
	if err != nil {
		return readStatus(err)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// readsRequest checks what both read endpoints need: read positions on
// this server, a room the caller may see, and a signed-in user (the API
// key reads nothing).
func (a *api) readsRequest(r *http.Request) (string, caller, error) {
	if a.opts.Reads == nil {
		return "", caller{}, errorf(http.StatusServiceUnavailable, "read positions are not available on this server")
	}
	room, c, err := a.visibleRoom(r)
	if err != nil {
		return "", caller{}, err
	}
	if c.user == "" {
		return "", caller{}, errorf(http.StatusUnauthorized, "sign in: read positions are a user's")
	}
	return room.ID, c, nil
}

// readStatus turns a readstate refusal into its HTTP answer.
func readStatus(err error) error {
	switch {
	case errors.Is(err, readstate.ErrNotFound):
		return errRoomNotFound
	case errors.Is(err, readstate.ErrForbidden):
		return errorf(http.StatusForbidden, "you may not read this room")
	case errors.Is(err, readstate.ErrInvalid):
		return errorf(http.StatusBadRequest, "the room has no message to read yet")
	case errors.Is(err, readstate.ErrFull):
		return &httpError{status: http.StatusTooManyRequests, msg: "too many read positions on this server; try again later", code: "rate_limited", key: "rooms.reads.max_positions"}
	case errors.Is(err, readstate.ErrUnavailable):
		return &httpError{status: http.StatusServiceUnavailable, msg: "the room's history is not available right now; try again", code: chat.CodeNotStored}
	}
	return err
}
