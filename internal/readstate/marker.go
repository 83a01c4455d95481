package readstate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"chatrelay/internal/rooms"
)

// Errors of Marker besides ErrInvalid and ErrFull.
var (
	// ErrNotFound: no such room.
	ErrNotFound = errors.New("readstate: room not found")
	// ErrForbidden: the user may not read the room.
	ErrForbidden = errors.New("readstate: not allowed to read the room")
	// ErrUnavailable: the room's newest message could not be read.
	ErrUnavailable = errors.New("readstate: the room's history is not available")
)

// EventType is the "type" of read events.
const EventType = "READ"

// Topic is the destination of a room's read events: who read how far,
// for the per-message unread counts of private rooms and direct
// conversations.
func Topic(roomID string) string { return "/topic/room." + roomID + ".reads" }

// UserQueue is the /user/queue/<name> on which a user's sessions learn
// the positions the user set on any session.
const UserQueue = "reads"

// Event is the body of a read event: on a room's Topic, the positions
// that moved ({"type":"READ","roomId","positions":{"ann":41}}); on the
// user's queue, the user's own.
type Event struct {
	Type      string           `json:"type"`
	RoomID    string           `json:"roomId"`
	Positions map[string]int64 `json:"positions"`
}

// View is a room's read positions as a client sees them: in a private
// room or a conversation, every member's (Members lists who counts for a
// message's unread count); in a public room, the user's own only.
type View struct {
	RoomID    string           `json:"roomId"`
	Members   []string         `json:"members,omitempty"`
	Positions map[string]int64 `json:"positions"`
}

// Marker sets and shows read positions for clients, over STOMP and REST
// alike.
type Marker struct {
	// Rooms finds rooms.
	Rooms rooms.Getter
	// History reads a room's newest message (rooms.Store.History).
	History func(ctx context.Context, roomID string, before int64, limit int) ([]rooms.Message, error)
	// Reads holds the positions.
	Reads *Service
}

// Mark sets user's position in the room to offset, lowered to the room's
// newest message (a position past it would count messages not yet sent
// as read). It returns the position the user has there now.
func (m Marker) Mark(ctx context.Context, roomID, user string, offset int64) (int64, error) {
	if user == "" || offset < 0 {
		return 0, ErrInvalid
	}
	room, err := m.room(roomID, user)
	if err != nil {
		return 0, err
	}
	newest, err := m.History(ctx, roomID, -1, 1)
	if err != nil {
		return 0, ErrUnavailable
	}
	if len(newest) == 0 {
		return 0, ErrInvalid // nothing to read yet
	}
	offset = min(offset, newest[0].Offset)
	if _, err := m.Reads.Set(room.ID, room.Seq, user, offset); err != nil {
		return 0, err
	}
	pos, _ := m.Reads.Position(room.ID, room.Seq, user)
	return pos, nil
}

// View returns the room's positions as user may see them.
func (m Marker) View(roomID, user string) (View, error) {
	room, err := m.room(roomID, user)
	if err != nil {
		return View{}, err
	}
	all := m.Reads.Positions(room.ID, room.Seq)
	v := View{RoomID: room.ID, Positions: make(map[string]int64)}
	if !room.Private {
		if o, ok := all[user]; ok {
			v.Positions[user] = o
		}
		return v, nil
	}
	v.Members = Members(room)
	for _, u := range v.Members {
		if o, ok := all[u]; ok {
			v.Positions[u] = o
		}
	}
	return v, nil
}

// room finds a room user may read.
func (m Marker) room(roomID, user string) (rooms.Room, error) {
	room, ok := m.Rooms.Get(roomID)
	if !ok {
		return rooms.Room{}, ErrNotFound
	}
	if user == "" || !room.Allows(user) {
		return rooms.Room{}, ErrForbidden
	}
	return room, nil
}

// Members returns who counts in a private room's per-message unread
// counts: its owner and members, sorted.
func Members(room rooms.Room) []string {
	out := append([]string{room.Owner()}, room.Members...)
	slices.Sort(out)
	return slices.Compact(out)
}

// maxReadBody bounds the body of a read position: {"offset":N} with room
// to spare.
const maxReadBody = 256

// readRequest is the body of a read position.
type readRequest struct {
	Offset *int64 `json:"offset"`
}

// ParseRead reads the body of a read position, {"offset":N} with N >= 0;
// its errors are for the client.
func ParseRead(body []byte) (int64, error) {
	if len(body) > maxReadBody {
		return 0, fmt.Errorf("a read position's body is at most %d bytes: {\"offset\":N}", maxReadBody)
	}
	var req readRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Offset == nil || *req.Offset < 0 {
		return 0, errors.New("body must be {\"offset\":N}, N the offset of the last message read (0 or more)")
	}
	return *req.Offset, nil
}
