package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"chatrelay/internal/clientaddr"
	"chatrelay/internal/readstate"
	"chatrelay/internal/roomlimit"
	"chatrelay/internal/roomlist"
	"chatrelay/internal/rooms"
)

// Limits of the room endpoints.
const (
	defaultHistoryLimit = 50
	maxHistoryLimit     = 500
)

// apiOwner owns the rooms created without a user: only the API key may
// delete or change them (a user who signs in as "api" in auth.mode none
// does not own them).
const apiOwner = "api"

// roomView is a room as listed, with the number of its members online.
type roomView struct {
	rooms.Room
	Online int `json:"online"`
}

// historyPage is the answer of GET /api/rooms/{id}/messages. Next is the
// before value of the following (older) page, null when there is none.
type historyPage struct {
	Messages []rooms.Message `json:"messages"`
	Next     *int64          `json:"next"`
}

// membersView is the answer of GET /api/rooms/{id}/members.
type membersView struct {
	RoomID  string   `json:"roomId"`
	Members []string `json:"members"`
}

// createRoom handles POST /api/rooms {"name","private","members","owner"}.
// The name is trimmed; it must be 1 to 100 characters (200 bytes of UTF-8)
// without control characters. The creator is the signed-in user, else the
// "owner" the API key names, else "api". A private room needs a creator
// who is a user: it is its owner, and with "members" the only ones
// admitted. With verified users (auth.mode static, jwt) a request needs a
// signed-in user or the API key (401). Options.Limiter's refusals are 429.
func (a *api) createRoom(w http.ResponseWriter, r *http.Request) error {
	c, err := a.caller(r)
	if err != nil {
		return err
	}
	if c.anonymous() && a.opts.VerifiedUsers {
		return errorf(http.StatusUnauthorized, "sign in to create a room")
	}
	var req createRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	room, err := a.create(r, c, req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/rooms/"+url.PathEscape(room.ID))
	writeJSON(w, http.StatusCreated, room)
	return nil
}

// createRequest is the body of POST /api/rooms.
type createRequest struct {
	Name    *string  `json:"name"`
	Private bool     `json:"private"`
	Members []string `json:"members"`
	Owner   string   `json:"owner"`
}

// create checks req, applies Options.Limiter and creates the room for c,
// the caller of r (whom the route has let create rooms).
func (a *api) create(r *http.Request, c caller, req createRequest) (rooms.Room, error) {
	if req.Name == nil || strings.TrimSpace(*req.Name) == "" {
		return rooms.Room{}, errorf(http.StatusBadRequest, "name is required")
	}
	name := strings.TrimSpace(*req.Name)
	switch {
	case !utf8.ValidString(name):
		return rooms.Room{}, errorf(http.StatusBadRequest, "name must be valid UTF-8")
	case utf8.RuneCountInString(name) > rooms.MaxNameLen:
		return rooms.Room{}, errorf(http.StatusBadRequest, "name is longer than %d characters", rooms.MaxNameLen)
	case len(name) > rooms.MaxNameBytes:
		return rooms.Room{}, errorf(http.StatusBadRequest, "name is longer than %d bytes of UTF-8", rooms.MaxNameBytes)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return rooms.Room{}, errorf(http.StatusBadRequest, "name must not contain control characters")
	}
	addr := clientaddr.Key(r.RemoteAddr)
	spec := rooms.Spec{Name: name, CreatedBy: c.user, Private: req.Private, Origin: rooms.OriginOf(addr)}
	switch {
	case req.Owner != "" && !c.admin:
		return rooms.Room{}, errorf(http.StatusForbidden, "only the API key may name another owner")
	case req.Owner != "":
		if err := a.checkMembers([]string{req.Owner}); err != nil {
			return rooms.Room{}, err
		}
		spec.CreatedBy = req.Owner
	case spec.CreatedBy == "" && req.Private:
		return rooms.Room{}, errorf(http.StatusUnauthorized, "sign in to create a private room (or name an owner with the API key)")
	case spec.CreatedBy == "":
		spec.CreatedBy = apiOwner
	}
	if len(req.Members) > 0 && !req.Private {
		return rooms.Room{}, errorf(http.StatusBadRequest, "members are for private rooms: set \"private\": true")
	}
	if err := a.checkMembers(req.Members); err != nil {
		return rooms.Room{}, err
	}
	spec.Members = req.Members
	if a.opts.Limiter != nil {
		done, refused := a.opts.Limiter.Reserve(roomlimit.Requester{
			User: c.user, Verified: a.opts.VerifiedUsers, Address: addr, Admin: c.admin,
		})
		if refused != nil {
			return rooms.Room{}, &httpError{status: http.StatusTooManyRequests, msg: refused.Message,
				code: refused.Code, key: refused.Key, retryAfter: refused.RetryAfter}
		}
		defer done()
	}
	room, err := a.opts.Store.Create(r.Context(), spec)
	switch {
	case errors.Is(err, rooms.ErrDuplicateName):
		return rooms.Room{}, errorf(http.StatusConflict, "a room with that name exists")
	case errors.Is(err, rooms.ErrInvalid):
		return rooms.Room{}, errorf(http.StatusBadRequest, "invalid room")
	case err != nil:
		return rooms.Room{}, err
	}
	return room, nil
}

// listRooms handles GET /api/rooms?limit=N&cursor=C: a page of the rooms
// the caller may see, oldest first, with their members online (see
// roomlist).
func (a *api) listRooms(w http.ResponseWriter, r *http.Request) error {
	c, err := a.caller(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	req, err := roomlist.ParseRequest(q.Get("limit"), q.Get("cursor"))
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	roomlist.Fresh(r.Context(), a.opts.Sync)
	var summary func(rooms.Room) *readstate.Summary
	if a.opts.Summaries != nil {
		summary = a.opts.Summaries.For(r.Context(), c.user)
	}
	page := roomlist.Build(a.opts.Store, req, c.canSee, func(id string) int { return len(a.membersOf(id)) }, summary, a.opts.ListMaxBytes)
	writeJSON(w, http.StatusOK, page)
	return nil
}

// getRoom handles GET /api/rooms/{id}.
func (a *api) getRoom(w http.ResponseWriter, r *http.Request) error {
	room, _, err := a.visibleRoom(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, roomView{Room: room, Online: len(a.membersOf(room.ID))})
	return nil
}

// deleteRoom handles DELETE /api/rooms/{id}: the room's owner or the API
// key deletes it (401 without credentials, 403 for another user), with
// or without a configured key.
func (a *api) deleteRoom(w http.ResponseWriter, r *http.Request) error {
	c, err := a.caller(r)
	if err != nil {
		return err
	}
	if c.anonymous() {
		return errorf(http.StatusUnauthorized, "sign in as the room's owner (or use the API key) to delete it")
	}
	room, _, err := a.visibleRoom(r)
	if err != nil {
		return err
	}
	if !c.owns(room) {
		return errorf(http.StatusForbidden, "only the owner of room %s may delete it", room.ID)
	}
	err = a.opts.Store.Delete(r.Context(), room.ID)
	switch {
	case errors.Is(err, rooms.ErrNotFound):
		return errRoomNotFound
	case err != nil:
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// history handles GET /api/rooms/{id}/messages?limit=N&before=OFFSET: up
// to limit (default 50, at most 500: more is capped) messages with offsets
// below before (default: the newest), newest first.
func (a *api) history(w http.ResponseWriter, r *http.Request) error {
	room, _, err := a.visibleRoom(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit := defaultHistoryLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return errorf(http.StatusBadRequest, "limit must be an integer from 1 to %d", maxHistoryLimit)
		}
		limit = min(n, maxHistoryLimit)
	}
	before := int64(-1)
	if s := q.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return errorf(http.StatusBadRequest, "before must be a non-negative offset")
		}
		before = n
	}
	msgs, err := a.opts.Store.History(r.Context(), room.ID, before, limit)
	switch {
	case errors.Is(err, rooms.ErrNotFound):
		return errRoomNotFound
	case err != nil:
		return err
	}
	page := historyPage{Messages: msgs}
	if page.Messages == nil {
		page.Messages = []rooms.Message{}
	}
	// A full page may have older messages behind it; offset 0 has none.
	if n := len(msgs); n == limit && msgs[n-1].Offset > 0 {
		next := msgs[n-1].Offset
		page.Next = &next
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// members handles GET /api/rooms/{id}/members: the users online in the
// room on any replica, sorted.
func (a *api) members(w http.ResponseWriter, r *http.Request) error {
	room, _, err := a.visibleRoom(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, membersView{RoomID: room.ID, Members: a.membersOf(room.ID)})
	return nil
}

// room returns the room named by the {id} path value, or errRoomNotFound
// once Options.RoomWait has passed without this replica learning of it.
func (a *api) room(r *http.Request) (rooms.Room, error) {
	id := r.PathValue("id")
	if !rooms.ValidID(id) {
		return rooms.Room{}, errRoomNotFound
	}
	room, ok := rooms.Await(r.Context(), a.opts.Store, id, a.opts.RoomWait)
	if !ok {
		return rooms.Room{}, errRoomNotFound
	}
	return room, nil
}

// membersOf returns a sorted copy of the room's members, never nil.
func (a *api) membersOf(roomID string) []string {
	if a.opts.Presence == nil {
		return []string{}
	}
	members := append([]string{}, a.opts.Presence.Members(roomID)...)
	sort.Strings(members)
	return members
}
