package httpapi

import (
	"errors"
	"io"
	"net/http"

	"chatrelay/internal/moderation"
	"chatrelay/internal/roomlimit"
	"chatrelay/internal/rooms"
)

// moderationView is the answer of the moderation endpoints: the room's
// roles and sanctions, which only its owner, its moderators and the API
// key see.
type moderationView struct {
	RoomID     string   `json:"roomId"`
	Owner      string   `json:"owner"`
	Moderators []string `json:"moderators"`
	Banned     []string `json:"banned"`
	Muted      []string `json:"muted"`
}

// newModerationView describes room's moderation state.
func newModerationView(room rooms.Room) moderationView {
	list := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	return moderationView{RoomID: room.ID, Owner: room.Owner(), Moderators: list(room.Moderators),
		Banned: list(room.Banned), Muted: list(room.Muted)}
}

// actor is the moderation.Actor of caller c.
func (c caller) actor() moderation.Actor { return moderation.Actor{User: c.user, Admin: c.admin} }

// moderates reports whether c may see and change room's moderation: the
// API key, the owner, a moderator.
func (c caller) moderates(room rooms.Room) bool {
	return c.admin || (c.user != "" && room.Role(c.user) != "")
}

// getModeration handles GET /api/rooms/{id}/moderation: the room's owner,
// moderators, banned and muted users.
func (a *api) getModeration(w http.ResponseWriter, r *http.Request) error {
	room, c, err := a.visibleRoom(r)
	if err != nil {
		return err
	}
	if !c.moderates(room) {
		return errorf(http.StatusForbidden, "only the owner and the moderators of room %s see its moderation", room.ID)
	}
	writeJSON(w, http.StatusOK, newModerationView(room))
	return nil
}

// moderate handles POST /api/rooms/{id}/moderation
// {"action":"kick|ban|unban|mute|unmute","user":"name"}: the owner, a
// moderator or the API key acts on a user. It answers 200 with the
// room's moderation once the action is in effect and announced in the
// room's history.
func (a *api) moderate(w http.ResponseWriter, r *http.Request) error {
	room, c, body, err := a.moderationRequest(w, r)
	if err != nil {
		return err
	}
	req, err := moderation.ParseRequest(body, a.opts.ValidUser)
	if err != nil {
		return moderationStatus(err)
	}
	room, err = a.opts.Moderation.Act(r.Context(), room.ID, c.actor(), req.Action, req.User)
	if err != nil {
		return moderationStatus(err)
	}
	writeJSON(w, http.StatusOK, newModerationView(room))
	return nil
}

// setModerators handles PUT /api/rooms/{id}/moderators
// {"moderators":[...]}: the owner (or the API key) chooses the room's
// moderators; the answer is the room's moderation.
func (a *api) setModerators(w http.ResponseWriter, r *http.Request) error {
	room, c, body, err := a.moderationRequest(w, r)
	if err != nil {
		return err
	}
	mods, err := moderation.ParseModerators(body, a.opts.ValidUser)
	if err != nil {
		return moderationStatus(err)
	}
	room, err = a.opts.Moderation.SetModerators(r.Context(), room.ID, c.actor(), mods)
	if err != nil {
		return moderationStatus(err)
	}
	writeJSON(w, http.StatusOK, newModerationView(room))
	return nil
}

// moderationRequest reads what both changing endpoints need: the room,
// a caller who moderates it, and the body.
func (a *api) moderationRequest(w http.ResponseWriter, r *http.Request) (rooms.Room, caller, []byte, error) {
	if a.opts.Moderation == nil {
		return rooms.Room{}, caller{}, nil, errorf(http.StatusServiceUnavailable, "moderation is not available on this server")
	}
	room, c, err := a.visibleRoom(r)
	if err != nil {
		return rooms.Room{}, caller{}, nil, err
	}
	if c.anonymous() {
		return rooms.Room{}, caller{}, nil, errorf(http.StatusUnauthorized, "sign in as the owner or a moderator of room %s", room.ID)
	}
	if !c.moderates(room) {
		return rooms.Room{}, caller{}, nil, errorf(http.StatusForbidden, "only the owner and the moderators of room %s may moderate it", room.ID)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return rooms.Room{}, caller{}, nil, errorf(http.StatusBadRequest, "body is larger than %d bytes", MaxBodyBytes)
	case err != nil:
		return rooms.Room{}, caller{}, nil, errorf(http.StatusBadRequest, "body could not be read: %v", err)
	}
	return room, c, body, nil
}

// moderationStatus turns a moderation refusal into its HTTP answer.
func moderationStatus(err error) error {
	var e *moderation.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Kind {
	case moderation.Invalid:
		return errorf(http.StatusBadRequest, "%s", e.Msg)
	case moderation.Forbidden:
		return errorf(http.StatusForbidden, "%s", e.Msg)
	case moderation.NotFound:
		return errRoomNotFound
	case moderation.Limited:
		return &httpError{status: http.StatusTooManyRequests, code: roomlimit.CodeRate, msg: e.Msg}
	}
	return &httpError{status: http.StatusServiceUnavailable, code: CodeNotStored, msg: e.Msg}
}
