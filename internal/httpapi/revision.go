package httpapi

import (
	"net/http"
	"strconv"

	"chatrelay/internal/revision"
	"chatrelay/internal/rooms"
)

// editMessage handles PUT /api/rooms/{id}/messages/{offset}
// {"message","id"}: the sender replaces the text of their message at
// that offset (id, when given, must be its id). It answers 200 with the
// EDIT message once it is seen stored.
func (a *api) editMessage(w http.ResponseWriter, r *http.Request) error {
	room, c, ref, err := a.revisionRequest(r)
	if err != nil {
		return err
	}
	var req struct {
		Message *string `json:"message"`
		ID      string  `json:"id"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Message == nil {
		return errorf(http.StatusBadRequest, "message is required: the new text")
	}
	ref.ID = req.ID
	post, err := a.opts.Revision.Edit(r.Context(), room.ID, c.actor(), ref, *req.Message)
	if err != nil {
		return moderationStatus(err)
	}
	writeJSON(w, http.StatusOK, post)
	return nil
}

// deleteMessage handles DELETE /api/rooms/{id}/messages/{offset}?id=ID:
// the sender, the room's owner, a moderator or the API key deletes the
// message at that offset. It answers 200 with the DELETE message once it
// is seen stored.
func (a *api) deleteMessage(w http.ResponseWriter, r *http.Request) error {
	room, c, ref, err := a.revisionRequest(r)
	if err != nil {
		return err
	}
	ref.ID = r.URL.Query().Get("id")
	post, err := a.opts.Revision.Delete(r.Context(), room.ID, c.actor(), ref)
	if err != nil {
		return moderationStatus(err)
	}
	writeJSON(w, http.StatusOK, post)
	return nil
}

// revisionRequest reads what both endpoints need: the room, a caller
// with credentials, and the offset.
func (a *api) revisionRequest(r *http.Request) (rooms.Room, caller, revision.Ref, error) {
	if a.opts.Revision == nil {
		return rooms.Room{}, caller{}, revision.Ref{}, errorf(http.StatusServiceUnavailable, "editing messages is not available on this server")
	}
	room, c, err := a.visibleRoom(r)
	if err != nil {
		return rooms.Room{}, caller{}, revision.Ref{}, err
	}
	if c.anonymous() {
		return rooms.Room{}, caller{}, revision.Ref{}, errorf(http.StatusUnauthorized, "sign in as the message's sender")
	}
	off, err := strconv.ParseInt(r.PathValue("offset"), 10, 64)
	if err != nil || off < 0 {
		return rooms.Room{}, caller{}, revision.Ref{}, errorf(http.StatusBadRequest, "the path names a message by its offset: /api/rooms/{id}/messages/{offset}")
	}
	return room, c, revision.Ref{Offset: off}, nil
}
