package chat

import (
	"context"
	"errors"
	"time"

	"chatrelay/internal/moderation"
	"chatrelay/internal/roomlimit"
	"chatrelay/internal/rooms"
	"chatrelay/internal/router"
)

// Moderation is what the moderation routes need.
type Moderation struct {
	// Service carries out the moderations (required).
	Service *moderation.Service
	// ValidUser checks the user names requests carry (nil: any name
	// without spaces).
	ValidUser func(string) bool
}

// laterTimeout bounds one piece of work runLater runs: a moderation (the
// store's change and its announcement seen stored), an edit, a
// deletion, finding or creating a direct room.
const laterTimeout = 30 * time.Second

// RegisterModeration adds /app/rooms/{id}/moderate ({"action","user"}:
// kick, ban, unban, mute, unmute) and /app/rooms/{id}/moderators
// ({"moderators":[...]}, the owner only) to r. The RECEIPT comes once the
// action is in effect and announced in the room; a refusal comes on
// /user/queue/errors instead.
func RegisterModeration(r *router.Router, m Moderation) {
	r.Handle("/app/rooms/{id}/moderate", m.act)
	r.Handle("/app/rooms/{id}/moderators", m.setModerators)
}

// act handles a SEND to /app/rooms/{id}/moderate.
func (m Moderation) act(c *router.Context) (any, error) {
	if err := m.check(c); err != nil {
		return nil, err
	}
	req, err := moderation.ParseRequest(c.Body, m.ValidUser)
	if err != nil {
		return nil, moderationError(err)
	}
	roomID, actor := c.Vars["id"], moderation.Actor{User: c.User}
	return nil, runLater(c, func(ctx context.Context) error {
		_, err := m.Service.Act(ctx, roomID, actor, req.Action, req.User)
		return err
	})
}

// setModerators handles a SEND to /app/rooms/{id}/moderators.
func (m Moderation) setModerators(c *router.Context) (any, error) {
	if err := m.check(c); err != nil {
		return nil, err
	}
	mods, err := moderation.ParseModerators(c.Body, m.ValidUser)
	if err != nil {
		return nil, moderationError(err)
	}
	roomID, actor := c.Vars["id"], moderation.Actor{User: c.User}
	return nil, runLater(c, func(ctx context.Context) error {
		_, err := m.Service.SetModerators(ctx, roomID, actor, mods)
		return err
	})
}

// check refuses what no moderation route takes: a SUBSCRIBE, a client
// that has not signed in.
func (m Moderation) check(c *router.Context) error { return signedInSend(c, "moderate rooms") }

// signedInSend refuses a SUBSCRIBE, and a SEND of a client that has not
// signed in (to do what).
func signedInSend(c *router.Context, what string) error {
	if c.Subscribe {
		return router.BadRequest("%s accepts SEND frames only", c.Destination)
	}
	if c.User == "" || c.Anonymous {
		return router.Forbidden("sign in to %s", what)
	}
	return nil
}

// runLater runs do off the session's reader, which it must not hold up (it
// waits for the broker), and finishes the frame with its result; without
// Context.Later (a SEND that cannot finish later) it runs do at once and
// returns its error.
func runLater(c *router.Context, do func(ctx context.Context) error) error {
	if c.Later == nil {
		ctx, cancel := context.WithTimeout(c, laterTimeout)
		defer cancel()
		return moderationError(do(ctx))
	}
	finish := c.Later()
	ctx := context.WithoutCancel(c.Context)
	go func() {
		// owns nothing: runs one moderation (bounded by
		// laterTimeout) and finishes its frame
		ctx, cancel := context.WithTimeout(ctx, laterTimeout)
		defer cancel()
		finish(moderationError(do(ctx)))
	}()
	return nil
}

// moderationError turns a moderation refusal into the error its sender
// sees on /user/queue/errors.
func moderationError(err error) error {
	if err == nil {
		return nil
	}
	var e *moderation.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Kind {
	case moderation.Invalid:
		return router.BadRequest("%s", e.Msg)
	case moderation.Forbidden:
		return router.Forbidden("%s", e.Msg)
	case moderation.NotFound:
		return router.NotFound("%s", e.Msg)
	case moderation.Limited:
		return &router.Error{Code: roomlimit.CodeRate, Message: e.Msg}
	}
	return &router.Error{Code: CodeNotStored, Message: e.Msg}
}

// MaySend refuses user a room it may not send to (nil when it may): a
// banned or muted user, a non-member of a private room.
func MaySend(room rooms.Room, user string) error {
	switch {
	case room.IsBanned(user):
		return router.Forbidden("you are banned from room %q", room.ID)
	case !room.Allows(user):
		return router.Forbidden("room %q is private: only its members may send to it", room.ID)
	case room.IsMuted(user):
		return router.Forbidden("you are muted in room %q: you may read it, not send to it", room.ID)
	}
	return nil
}
