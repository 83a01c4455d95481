package chat

import (
	"context"
	"slices"

	"chatrelay/internal/readstate"
	"chatrelay/internal/roomlist"
	"chatrelay/internal/rooms"
	"chatrelay/internal/router"
)

// RoomViews is what the room list and room member handlers read.
type RoomViews struct {
	// Rooms is the replica's room store (required).
	Rooms rooms.Store
	// Members returns the users online in a room on every replica
	// (presence.Presence.Members; required).
	Members func(roomID string) []string
	// ListMaxBytes bounds the JSON of one room list page (see
	// roomlist.Build), so that a page always fits in one /app reply.
	ListMaxBytes int
	// Sync, when set, brings the replica's view of the rooms up to
	// every replica's changes before a list is answered (rooms.Syncer,
	// see roomlist.Fresh); nil for a store whose view cannot lag.
	Sync func(ctx context.Context) error
	// Summaries, when set, adds the user's unread counts and the last
	// messages to the list (readstate).
	Summaries *readstate.Summarizer
}

// RegisterRoomViews adds the room views to r: /app/rooms and
// /app/rooms/{id}/members.
func RegisterRoomViews(r *router.Router, v RoomViews) {
	r.Handle("/app/rooms", v.roomList)
	r.Handle("/app/rooms/{id}/members", v.roomMembers)
}

// roomList answers a SUBSCRIBE to /app/rooms, once, with a page of the
// rooms the user may see (public ones and the private ones it is a member
// of), oldest first: {"rooms":[...],"next":C|null}. The SUBSCRIBE's
// "limit" and "cursor" headers ask for a page as GET /api/rooms's query
// parameters do.
func (v RoomViews) roomList(c *router.Context) (any, error) {
	if !c.Subscribe {
		return nil, router.BadRequest("subscribe to %s to get the room list", c.Destination)
	}
	limit, _ := c.Headers.Get("limit")
	cursor, _ := c.Headers.Get("cursor")
	req, err := roomlist.ParseRequest(limit, cursor)
	if err != nil {
		return nil, router.BadRequest("%v", err)
	}
	roomlist.Fresh(c, v.Sync)
	keep := func(r rooms.Room) bool { return r.Allows(c.User) }
	online := func(id string) int { return len(v.Members(id)) }
	var summary func(rooms.Room) *readstate.Summary
	if v.Summaries != nil {
		summary = v.Summaries.For(c, c.User)
	}
	return roomlist.Build(v.Rooms, req, keep, online, summary, v.ListMaxBytes), nil
}

// roomMembersView answers /app/rooms/{id}/members.
type roomMembersView struct {
	RoomID  string   `json:"roomId"`
	Members []string `json:"members"`
}

// roomMembers answers a SUBSCRIBE to /app/rooms/{id}/members with the
// users online in the room on every replica, once; a private room answers
// its members only.
func (v RoomViews) roomMembers(c *router.Context) (any, error) {
	if !c.Subscribe {
		return nil, router.BadRequest("subscribe to %s to get the room's members", c.Destination)
	}
	id := c.Vars["id"]
	room, ok := v.Rooms.Get(id)
	if !ok {
		return nil, router.NotFound("room %q does not exist", id)
	}
	if !room.Allows(c.User) {
		return nil, router.Forbidden("room %q is private: only its members may see who is in it", id)
	}
	members := append([]string{}, v.Members(id)...)
	slices.Sort(members)
	return roomMembersView{RoomID: id, Members: members}, nil
}
