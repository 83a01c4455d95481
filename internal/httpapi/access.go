package httpapi

import (
	"errors"
	"net/http"

	"chatrelay/internal/rooms"
)

// Identify tells who sent a request from its user credentials (HTTP Basic
// login:passcode, or a bearer token that is not the API key), with the
// server's STOMP authenticator. It returns "" and no error when the
// request carries no user credentials, and an error when it carries bad
// ones.
type Identify func(r *http.Request) (user string, err error)

// caller is who sent a request: a user, the holder of the API key (who may
// do everything), or nobody in particular.
type caller struct {
	user  string
	admin bool
}

// anonymous reports whether the caller showed no credentials.
func (c caller) anonymous() bool { return c.user == "" && !c.admin }

// caller identifies the request's sender. A bearer token equal to the API
// key makes the caller an admin; other credentials go to Options.Identify,
// and bad ones are a 401.
func (a *api) caller(r *http.Request) (caller, error) {
	if a.hasKey(r) {
		return caller{admin: true}, nil
	}
	if a.opts.Identify == nil {
		return caller{}, nil
	}
	user, err := a.opts.Identify(r)
	if err != nil {
		return caller{}, errorf(http.StatusUnauthorized, "bad credentials: %v", err)
	}
	return caller{user: user}, nil
}

// canSee reports whether c may see a room, its history and who is online
// in it: anyone for a public room; the owner, the members and the API key
// for a private one.
func (c caller) canSee(room rooms.Room) bool { return c.admin || room.Allows(c.user) }

// owns reports whether c may delete the room or change who may use it:
// the API key, or the owner when it is a user (rooms created without one
// belong to apiOwner, a name a caller cannot own them by; a direct room
// belongs to neither of its users, whose conversation it holds).
func (c caller) owns(room rooms.Room) bool {
	return c.admin || (c.user != "" && c.user == room.Owner() && room.Owner() != apiOwner && !room.Direct)
}

// refuse is the answer for a room c may not see: 401 for a caller
// without credentials, 403 for a banned user or one who is not a member
// of a private room.
func (c caller) refuse(room rooms.Room) error {
	if c.anonymous() {
		return errorf(http.StatusUnauthorized, "room %s is private: sign in as one of its members", room.ID)
	}
	if room.IsBanned(c.user) {
		return errorf(http.StatusForbidden, "you are banned from room %s", room.ID)
	}
	return errorf(http.StatusForbidden, "room %s is private: only its members may see it", room.ID)
}

// visibleRoom returns the room named by the {id} path value when the
// caller may see it.
func (a *api) visibleRoom(r *http.Request) (rooms.Room, caller, error) {
	room, err := a.room(r)
	if err != nil {
		return rooms.Room{}, caller{}, err
	}
	c, err := a.caller(r)
	if err != nil {
		return rooms.Room{}, caller{}, err
	}
	if !c.canSee(room) {
		return rooms.Room{}, caller{}, c.refuse(room)
	}
	return room, c, nil
}

// accessView is the answer of GET and PUT /api/rooms/{id}/access.
type accessView struct {
	RoomID  string   `json:"roomId"`
	Private bool     `json:"private"`
	Owner   string   `json:"owner"`
	Members []string `json:"members"`
}

func newAccessView(room rooms.Room) accessView {
	members := room.Members
	if members == nil {
		members = []string{}
	}
	return accessView{RoomID: room.ID, Private: room.Private, Owner: room.Owner(), Members: members}
}

// getAccess handles GET /api/rooms/{id}/access: who may use the room.
func (a *api) getAccess(w http.ResponseWriter, r *http.Request) error {
	room, _, err := a.visibleRoom(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newAccessView(room))
	return nil
}

// setAccess handles PUT /api/rooms/{id}/access {"members":[...]}: the
// owner (or the API key) replaces a private room's member list. Removed
// members' subscriptions end at their next message.
func (a *api) setAccess(w http.ResponseWriter, r *http.Request) error {
	room, c, err := a.visibleRoom(r)
	if err != nil {
		return err
	}
	if !c.owns(room) {
		return errorf(http.StatusForbidden, "only the owner of room %s may change its members", room.ID)
	}
	if !room.Private {
		return errorf(http.StatusConflict, "room %s is public: everyone may use it", room.ID)
	}
	if room.Direct {
		return errorf(http.StatusConflict, "room %s is a private conversation: its two users never change", room.ID)
	}
	var req struct {
		Members *[]string `json:"members"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Members == nil {
		return errorf(http.StatusBadRequest, "members is required (a list of user names)")
	}
	if err := a.checkMembers(*req.Members); err != nil {
		return err
	}
	room, err = a.opts.Store.SetMembers(r.Context(), room.ID, *req.Members)
	switch {
	case errors.Is(err, rooms.ErrNotFound):
		return errRoomNotFound
	case errors.Is(err, rooms.ErrInvalid):
		return errorf(http.StatusBadRequest, "invalid member list")
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusOK, newAccessView(room))
	return nil
}

// checkMembers validates a member list given in a request.
func (a *api) checkMembers(members []string) error {
	if len(members) > rooms.MaxMembers {
		return errorf(http.StatusBadRequest, "a room has at most %d members", rooms.MaxMembers)
	}
	for _, m := range members {
		if a.opts.ValidUser != nil && !a.opts.ValidUser(m) {
			return errorf(http.StatusBadRequest, "member %q is not a valid user name", m)
		}
	}
	return nil
}
