package chat

import (
	"context"

	"chatrelay/internal/moderation"
	"chatrelay/internal/revision"
	"chatrelay/internal/rooms"
	"chatrelay/internal/router"
)

// Revision is what the edit and delete routes need.
type Revision struct {
	// Service edits and deletes (required).
	Service *revision.Service
	// MaxMessageBytes bounds an edited text (default
	// rooms.DefaultMaxMessageBytes, as the Service's).
	MaxMessageBytes int
}

// RegisterRevision adds /app/rooms/{id}/edit ({"offset","id","message"})
// and /app/rooms/{id}/delete ({"offset","id"}) to r. The RECEIPT comes
// once the EDIT or DELETE is seen stored in the room's history; a refusal
// comes on /user/queue/errors instead.
func RegisterRevision(r *router.Router, v Revision) {
	if v.MaxMessageBytes <= 0 {
		v.MaxMessageBytes = rooms.DefaultMaxMessageBytes
	}
	r.Handle("/app/rooms/{id}/edit", v.edit)
	r.Handle("/app/rooms/{id}/delete", v.delete)
}

// edit handles a SEND to /app/rooms/{id}/edit.
func (v Revision) edit(c *router.Context) (any, error) {
	if err := signedInSend(c, "edit messages"); err != nil {
		return nil, err
	}
	ref, text, err := revision.ParseRequest(c.Body, true, v.MaxMessageBytes)
	if err != nil {
		return nil, moderationError(err)
	}
	roomID, actor := c.Vars["id"], moderation.Actor{User: c.User}
	return nil, runLater(c, func(ctx context.Context) error {
		_, err := v.Service.Edit(ctx, roomID, actor, ref, text)
		return err
	})
}

// delete handles a SEND to /app/rooms/{id}/delete.
func (v Revision) delete(c *router.Context) (any, error) {
	if err := signedInSend(c, "delete messages"); err != nil {
		return nil, err
	}
	ref, _, err := revision.ParseRequest(c.Body, false, v.MaxMessageBytes)
	if err != nil {
		return nil, moderationError(err)
	}
	roomID, actor := c.Vars["id"], moderation.Actor{User: c.User}
	return nil, runLater(c, func(ctx context.Context) error {
		_, err := v.Service.Delete(ctx, roomID, actor, ref)
		return err
	})
}
