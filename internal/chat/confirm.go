package chat

import (
	"errors"

	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/confirm"
	"chatrelay/internal/router"
)

// CodeNotStored is the /user/queue/errors code of a room message that was
// not seen stored within the confirmation timeout: it replaces the
// RECEIPT of the SEND.
const CodeNotStored = "not_stored"

// CodeBusy is the code of a room message refused because too many wait
// to be seen stored on this replica (rooms.confirm.max_pending).
const CodeBusy = "busy"

// CodeUnavailable is the code of a room message the server could not take
// on (it is shutting down).
const CodeUnavailable = "unavailable"

// confirm hands msg to the Confirmer and finishes the frame with its
// verdict: the RECEIPT once the message is stored, an error otherwise.
func (h *handlers) confirm(c *router.Context, msg ChatMessage, body []byte) {
	finish := c.Later()
	timeout := h.opts.Confirm.Timeout()
	h.opts.Confirm.Send(msg.RoomID, msg.ID, body, func(err error) {
		finish(confirmError(msg, timeout.String(), err))
	})
}

// confirmError turns a Confirmer verdict into the error the sender sees.
func confirmError(msg ChatMessage, timeout string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, confirm.ErrNotStored):
		return &router.Error{Code: CodeNotStored, Message: "message " + msg.ID + " was not seen stored in room " +
			msg.RoomID + " within " + timeout + ": it may be lost, or still appear; send it again if it does not appear"}
	case errors.Is(err, rooms.ErrNotFound):
		return router.NotFound("room %q was deleted", msg.RoomID)
	case errors.Is(err, confirm.ErrBusy):
		return &router.Error{Code: CodeBusy, Message: "the server has too many room messages waiting to be stored (rooms.confirm.max_pending): message " +
			msg.ID + " was not sent; send it again shortly"}
	case errors.Is(err, confirm.ErrClosed):
		return &router.Error{Code: CodeUnavailable, Message: "the server is shutting down: message " + msg.ID + " may not be stored; send it again"}
	}
	return err
}
