package session

import (
	"errors"
	"log/slog"
	"strconv"
	"time"

	"chatrelay/internal/i18n"
	"chatrelay/internal/rooms"
)

// A room subscription outlives the feed under it. The store ends a feed
// for good when the room's broker subscription is cancelled (a RabbitMQ
// node lost, the stream moving) or the room is deleted; the session then
// follows the room again from where the feed ended, so that its client
// sees neither a gap nor a duplicate and its socket stays open. Only when
// that fails for refollowTimeout, or the room is gone, does the
// subscription end, on /user/queue/errors; a client that has no such
// subscription is told by closing the session, the one signal it cannot
// miss.

// refollowTimeout bounds how long a room subscription whose feed ended
// tries to follow the room again.
const refollowTimeout = 30 * time.Second

// refollowBackoff bounds the wait between two tries.
const (
	refollowFirstWait = 200 * time.Millisecond
	refollowMaxWait   = 2 * time.Second
)

// roomEnded handles the end of the feed under room subscription sub,
// which had been handed every message up to offset at (-1: unknown). It
// must not block: it runs in the store's delivery.
func (s *Session) roomEnded(sub *subscription, at int64) {
	s.subsMu.RLock()
	live := s.subs[sub.id] == sub && sub.stop != nil
	s.subsMu.RUnlock()
	if !live || s.ctx.Err() != nil {
		return
	}
	s.log(slog.LevelWarn, "room feed ended; following the room again", "room", sub.room, "subscription", sub.id, "after", at)
	// the goroutine owns nothing but its Follow calls; it ends once the
	// subscription follows the room again, has ended, or the session has
	go s.refollow(sub, at)
}

// refollow follows sub's room again after offset at, retrying until
// refollowTimeout; it ends the subscription when that fails.
func (s *Session) refollow(sub *subscription, at int64) {
	deadline := time.Now().Add(refollowTimeout)
	wait := refollowFirstWait
	for {
		start := rooms.Start{After: at, Pace: s.newRoomPacer(sub)}
		stop, err := s.opts.Rooms.Follow(s.ctx, sub.room, start, func(m rooms.Message, body []byte) {
			s.deliverRoom(sub, m, body)
		})
		if err == nil {
			s.subsMu.Lock()
			live := s.subs[sub.id] == sub && sub.stop != nil
			if live {
				sub.stop = stop
			}
			s.subsMu.Unlock()
			if !live {
				stop() // unsubscribed meanwhile: leaveRoom did the rest
				return
			}
			s.log(slog.LevelInfo, "room followed again", "room", sub.room, "subscription", sub.id, "after", at)
			return
		}
		if s.ctx.Err() != nil {
			return
		}
		if errors.Is(err, rooms.ErrNotFound) || time.Now().Add(wait).After(deadline) {
			s.endRoomSubscription(sub, at, err)
			return
		}
		s.log(slog.LevelWarn, "room not followed again yet; retrying", "room", sub.room, "subscription", sub.id, "err", err, "in", wait)
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, refollowMaxWait)
	}
}

// endRoomSubscription ends room subscription sub, which could not follow
// its room again after offset at, and tells the client.
func (s *Session) endRoomSubscription(sub *subscription, at int64, err error) {
	if !s.dropSubIf(sub) {
		return
	}
	s.leaveRoom(sub)
	e := &errorText{code: CodeSubscriptionEnded, key: CodeSubscriptionEnded + ".room_deleted", args: []string{"room", sub.room}}
	if !errors.Is(err, rooms.ErrNotFound) {
		e = &errorText{code: CodeSubscriptionEnded, key: CodeSubscriptionEnded + ".refollow",
			args: []string{"room", sub.room, "timeout", refollowTimeout.String(), "offset", strconv.FormatInt(at, 10)}}
	}
	s.log(slog.LevelWarn, "room subscription ended", "room", sub.room, "subscription", sub.id, "err", err)
	if !s.subscriptionError(sub, e) {
		s.fail(nil, Close{
			Code:    CloseServerError,
			Message: "room subscription ended",
			Detail:  e.text(i18n.En),
		})
	}
}
