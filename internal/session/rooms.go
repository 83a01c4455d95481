package session

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"chatrelay/internal/destination"
	"chatrelay/internal/moderation"
	"chatrelay/internal/rooms"
	"chatrelay/internal/router"
	"chatrelay/internal/stomp"
)

// Presence is told when a session starts and stops following a room; it
// answers whether that was the user's first (or last) subscription to the
// room on this replica.
type Presence interface {
	Join(roomID, user string) (first bool)
	Leave(roomID, user string) (last bool)
}

// roomTopicPrefix starts the canonical destination of every room.
const roomTopicPrefix = "/topic/room."

// roomWait bounds how long a SUBSCRIBE waits for a room this replica does
// not know yet: one just created through another replica reaches this
// one's registry within milliseconds.
const roomWait = time.Second

// roomOf returns the room id a canonical broker destination names, when
// the session has a room store. Other topics stay plain broker topics; a
// room topic never does, even for a room this replica does not know:
// that would pass by a private room's access list.
func (s *Session) roomOf(dest string) (string, bool) {
	if s.opts.Rooms == nil {
		return "", false
	}
	id, ok := strings.CutPrefix(dest, roomTopicPrefix)
	if !ok || !rooms.ValidID(id) {
		return "", false
	}
	return id, true
}

// sideSuffixes end a room's side topics, which carry no room messages
// but events about the room: who types (/topic/room.<id>.typing) and who
// read how far (/topic/room.<id>.reads).
var sideSuffixes = []string{".typing", ".reads"}

// sideRoomOf returns the room whose side topic dest is, when the session
// has a room store: dest is the room's topic (roomOf) and one of
// sideSuffixes.
func (s *Session) sideRoomOf(dest string) (string, bool) {
	for _, suffix := range sideSuffixes {
		if topic, ok := strings.CutSuffix(dest, suffix); ok {
			return s.roomOf(topic)
		}
	}
	return "", false
}

// mayFollowSide checks a SUBSCRIBE to a room's side topic as a room
// SUBSCRIBE is checked (admitRoom): it answers a refusal (an ERROR, and
// the error it returns) and nil when the subscription may go to the
// broker. When the room's own subscription is revoked later (the user
// left a private room's members, was kicked or banned), the side ones
// end with it (endSideTopics), once the broker subscription is made.
func (s *Session) mayFollowSide(f *stomp.Frame, sub *subscription, roomID string) error {
	room, ok := s.opts.Rooms.Get(roomID)
	_, err := s.admitRoom(f, sub, roomID, room, ok)
	return err
}

// roomStart reads x-resume-after and x-history (the policy has checked
// they are integers).
func (s *Session) roomStart(h stomp.Headers) (rooms.Start, error) {
	if v, ok := h.Get(destination.ResumeHeader); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return rooms.Start{}, fmt.Errorf("%s must be an offset, not %q", destination.ResumeHeader, v)
		}
		return rooms.Start{After: n}, nil
	}
	if v, ok := h.Get(destination.HistoryHeader); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return rooms.Start{}, fmt.Errorf("%s must be a count, not %q", destination.HistoryHeader, v)
		}
		if s.opts.MaxHistory > 0 && n > s.opts.MaxHistory {
			return rooms.Start{}, fmt.Errorf("%s is limited to %d messages", destination.HistoryHeader, s.opts.MaxHistory)
		}
		return rooms.Start{Last: n, After: -1}, nil
	}
	return rooms.Live, nil
}

// subscribeRoom follows a room through the store: replay (x-history,
// x-resume-after) and live messages in the room's one order.
func (s *Session) subscribeRoom(f *stomp.Frame, sub *subscription, roomID string, h stomp.Headers) error {
	room, ok := s.opts.Rooms.Get(roomID)
	if !ok && s.mayCreateRoom(sub) {
		var err error
		if room, err = s.opts.CreateRoom(s.ctx, roomID, s.creator()); err != nil {
			s.dropSub(sub.id)
			if s.ctx.Err() != nil {
				return ErrClosed
			}
			s.log(slog.LevelInfo, "room not created", "room", roomID, "err", err)
			return s.failFrame(f, Close{
				Code:    ClosePolicy,
				Message: "room not created",
				Detail:  fmt.Sprintf("%s: there is no room %s, and it could not be created: %v", sub.display, roomID, err),
			})
		}
		ok = true
	}
	room, err := s.admitRoom(f, sub, roomID, room, ok)
	if err != nil {
		return err
	}
	start, err := s.roomStart(h)
	if err != nil {
		s.dropSub(sub.id)
		return s.failFrame(f, Close{
			Code:    CloseProtocol,
			Message: "invalid room subscription",
			Detail:  err.Error(),
		})
	}
	sub.header = subscriptionHeader(sub.id, s.writeVersion())
	sub.since = time.Now()
	start.Pace = s.newRoomPacer(sub)
	stop, err := s.opts.Rooms.Follow(s.ctx, roomID, start, func(m rooms.Message, body []byte) {
		s.deliverRoom(sub, m, body)
	})
	if err != nil {
		s.dropSub(sub.id)
		return s.roomFailed(f, sub, roomID, err)
	}
	// join before the subscription can be left, so Leave never
	// precedes Join
	as, shown := s.presenceName(roomID)
	if s.opts.Presence != nil && s.opts.Presence.Join(roomID, as) && shown && s.opts.OnPresence != nil {
		s.opts.OnPresence(roomID, as, true)
	}
	s.subsMu.Lock()
	sub.room, sub.stop, sub.private = roomID, stop, room.Private
	sub.as, sub.shown = as, shown
	s.subsMu.Unlock()
	if s.ctx.Err() != nil {
		// the session ended while Follow ran; finish may have missed it
		s.leaveRoom(sub)
		return ErrClosed
	}
	s.receipt(f.Header("receipt"))
	return nil
}

// admitRoom finishes the lookup of a SUBSCRIBE's room (room and ok are
// what the store's Get said): a room this replica does not know yet is
// awaited for roomWait, and one still missing, or private without the
// user as a member, refuses sub (an ERROR; the error returned says the
// frame failed). It returns the room to follow.
func (s *Session) admitRoom(f *stomp.Frame, sub *subscription, roomID string, room rooms.Room, ok bool) (rooms.Room, error) {
	if !ok {
		room, ok = rooms.Await(s.ctx, s.opts.Rooms, roomID, roomWait)
	}
	if !ok {
		s.dropSub(sub.id)
		return room, s.failFrame(f, Close{
			Code:    ClosePolicy,
			Message: "room not found",
			Detail:  fmt.Sprintf("%s: there is no room %s", sub.display, roomID),
		})
	}
	if room.IsBanned(s.user) {
		s.dropSub(sub.id)
		s.log(slog.LevelInfo, "banned user refused", "room", roomID, "destination", sub.display)
		return room, s.failFrame(f, Close{
			Code:    ClosePolicy,
			Message: "forbidden",
			Detail:  fmt.Sprintf("%s: you are banned from room %s", sub.display, roomID),
		})
	}
	if !room.Allows(s.user) {
		s.dropSub(sub.id)
		s.log(slog.LevelInfo, "private room refused", "room", roomID, "destination", sub.display)
		return room, s.failFrame(f, Close{
			Code:    ClosePolicy,
			Message: "forbidden",
			Detail:  fmt.Sprintf("%s: room %s is private; only its members may subscribe", sub.display, roomID),
		})
	}
	return room, nil
}

// roomFailed answers a room SUBSCRIBE whose Follow failed. A room deleted
// meanwhile is refused like one that never was; anything else (the feed
// did not learn where the room's log ends in time, the log could not be
// read: the broker is away or restarting) fails that subscription alone,
// on /user/queue/errors, and the session goes on.
func (s *Session) roomFailed(f *stomp.Frame, sub *subscription, roomID string, err error) error {
	if s.ctx.Err() != nil {
		return ErrClosed
	}
	if errors.Is(err, rooms.ErrNotFound) {
		return s.failFrame(f, Close{
			Code:    ClosePolicy,
			Message: "room not found",
			Detail:  fmt.Sprintf("%s: there is no room %s", sub.display, roomID),
		})
	}
	s.log(slog.LevelWarn, "room subscription failed", "room", roomID, "subscription", sub.id, "err", err)
	s.subscriptionError(sub, &errorText{code: CodeRoomUnavailable, key: CodeRoomUnavailable, args: []string{"room", roomID}})
	return nil
}

// deliverRoom queues one room message for a room subscription, unless the
// subscription has ended meanwhile.
func (s *Session) deliverRoom(sub *subscription, m rooms.Message, body []byte) {
	s.subsMu.RLock()
	live, private := s.subs[sub.id] == sub, sub.private
	// replayed: delivered before Follow returned (sub.stop set after)
	replayDone := sub.stop != nil
	s.subsMu.RUnlock()
	if !live {
		return
	}
	if body != nil && m.Type == rooms.System && m.Target == s.user && s.endsSubscription(sub, &m, replayDone) {
		// the user sees the announcement, then the subscription ends
		s.queueRoomMessage(sub, &m, body)
		s.revoke(sub, router.CodeForbidden+"."+m.Event, "room", sub.room, "subscription", sub.id, "by", m.Sender)
		return
	}
	if private && body != nil {
		if room, ok := s.opts.Rooms.Get(sub.room); ok && !room.Allows(s.user) {
			key := router.CodeForbidden + ".private_revoked"
			if room.IsBanned(s.user) {
				key = router.CodeForbidden + ".banned"
			}
			s.revoke(sub, key, "room", sub.room, "subscription", sub.id)
			return
		}
	}
	if body == nil {
		// the store stopped following the room (see refollow.go)
		s.roomEnded(sub, m.Offset)
		return
	}
	if len(body) == 0 {
		// never from a feed (a message is JSON); encoded whole, as before
		s.enqueue(stomp.New(stomp.MESSAGE,
			"destination", sub.display,
			"subscription", sub.id,
			"message-id", m.ID,
			"x-offset", strconv.FormatInt(m.Offset, 10),
			"content-type", "application/json",
		))
		return
	}
	s.queueRoomMessage(sub, &m, body)
}

// revoke ends a room subscription the user may no longer have: the owner
// removed the user from a private room, or a moderator kicked or banned
// the user. The subscription stops, with the session's subscriptions to
// the room's side topics (STOMP cannot tell the client, so the
// session's /user/queue/errors does, with the text of key and args) and
// the session goes on. It must not block: it runs in the store's
// delivery.
func (s *Session) revoke(sub *subscription, key string, args ...string) {
	if s.dropSubIf(sub) {
		// leaveRoom stops the follower, which waits for this delivery
		// to return: it runs on its own goroutine, which owns nothing
		// and ends with it. The room's side subscriptions end too.
		go func() {
			s.leaveRoom(sub)
			s.endSideTopics(sub.room)
		}()
		s.userError(sub.display, &errorText{code: router.CodeForbidden, key: key, args: args})
	}
}

// endSideTopics ends the session's subscriptions to roomID's side
// topics, as revoke ends its room subscription: no more of who types or
// reads there.
func (s *Session) endSideTopics(roomID string) {
	var ids []string
	s.subsMu.Lock()
	for id, sub := range s.subs {
		if sub.target.Kind != destination.Broker || sub.room != "" || !sub.upstream {
			continue // not a side subscription, or one the reader is still making
		}
		if r, ok := s.sideRoomOf(sub.target.Destination); ok && r == roomID {
			ids = append(ids, id)
			delete(s.subs, id)
		}
	}
	s.subsMu.Unlock()
	for _, id := range ids {
		if err := s.up().Unsubscribe(id, ""); err != nil {
			s.log(slog.LevelDebug, "side topic subscription not ended upstream", "room", roomID, "subscription", id, "err", err)
		}
	}
}

// endsSubscription reports whether m, a SYSTEM message about this
// session's user, ends sub: a kick or a ban that is news (delivered live,
// once the replay is done; or, while the subscription is attaching,
// announced after it began by the clock), not history replayed; or a ban
// still in force.
func (s *Session) endsSubscription(sub *subscription, m *rooms.Message, live bool) bool {
	if !moderation.Action(m.Event).Ends() {
		return false
	}
	if live || !m.SentAt.Before(sub.since) {
		return true
	}
	room, ok := s.opts.Rooms.Get(sub.room)
	return m.Event == string(moderation.Ban) && ok && room.IsBanned(s.user)
}

// dropSubIf forgets sub if it is still the session's subscription of its
// id, and reports whether it was.
func (s *Session) dropSubIf(sub *subscription) bool {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	if s.subs[sub.id] != sub {
		return false
	}
	delete(s.subs, sub.id)
	return true
}

// leaveRoom ends a room subscription: the store stops delivering and
// presence learns the user left.
func (s *Session) leaveRoom(sub *subscription) {
	s.subsMu.Lock()
	stop := sub.stop
	sub.stop = nil
	s.subsMu.Unlock()
	if stop == nil {
		return
	}
	stop()
	// the name is read under claimMu: a claim moving it finishes first
	s.claimMu.Lock()
	defer s.claimMu.Unlock()
	s.subsMu.RLock()
	room, as, shown := sub.room, sub.as, sub.shown
	s.subsMu.RUnlock()
	if s.opts.Presence != nil && s.opts.Presence.Leave(room, as) && shown && s.opts.OnPresence != nil {
		s.opts.OnPresence(room, as, false)
	}
}

// leaveAllRooms ends every room subscription when the session ends.
func (s *Session) leaveAllRooms() {
	s.subsMu.RLock()
	var subs []*subscription
	for _, sub := range s.subs {
		if sub.stop != nil {
			subs = append(subs, sub)
		}
	}
	s.subsMu.RUnlock()
	for _, sub := range subs {
		s.leaveRoom(sub)
	}
}
