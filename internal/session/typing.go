package session

import (
	"fmt"
	"log/slog"
	"strings"

	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
)

// typingSuffix ends a room's typing topic: /topic/room.<id>.typing.
const typingSuffix = ".typing"

// typingRoomOf returns the room whose typing topic dest is, when the
// session has a room store.
func (s *Session) typingRoomOf(dest string) (string, bool) {
	if s.opts.Rooms == nil {
		return "", false
	}
	rest, ok := strings.CutPrefix(dest, roomTopicPrefix)
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, typingSuffix)
	if !ok || !rooms.ValidID(id) {
		return "", false
	}
	return id, true
}

// mayFollowTyping checks a SUBSCRIBE to a room's typing topic as a room
// SUBSCRIBE is checked: the room must exist (or appear within roomWait)
// and, when private, have the user as a member. It answers a refusal
// (an ERROR, and the error it returns) and nil when the subscription may
// go to the broker. Unlike the room's own subscription, a typing one is
// not revoked if the user later leaves a private room's members: typing
// events carry no message text.
func (s *Session) mayFollowTyping(f *stomp.Frame, sub *subscription, roomID string) error {
	room, ok := s.opts.Rooms.Get(roomID)
	if !ok {
		room, ok = rooms.Await(s.ctx, s.opts.Rooms, roomID, roomWait)
	}
	if !ok {
		s.dropSub(sub.id)
		return s.failFrame(f, Close{
			Code:    ClosePolicy,
			Message: "room not found",
			Detail:  fmt.Sprintf("%s: there is no room %s", sub.display, roomID),
		})
	}
	if !room.Allows(s.user) {
		s.dropSub(sub.id)
		s.log(slog.LevelInfo, "private room's typing refused", "room", roomID)
		return s.failFrame(f, Close{
			Code:    ClosePolicy,
			Message: "forbidden",
			Detail:  fmt.Sprintf("%s: room %s is private; only its members may subscribe", sub.display, roomID),
		})
	}
	return nil
}
