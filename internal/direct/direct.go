// Package direct keeps private conversations: the messages two users
// send each other (/app/chat.dm) are stored in their direct room
// (rooms.DirectID), created on the first message within limits of its
// own (rooms.direct.*: a rate and a quota per user and per address, and a
// cap on all direct rooms), counted apart from the other rooms. Either
// user, on any replica, then reads the conversation's history as any
// room's; nobody else may.
package direct

import (
	"context"
	"errors"
	"fmt"
	"time"

	"chatrelay/internal/roomlimit"
	"chatrelay/internal/rooms"
)

// Store is what the Service needs of the room store (both stores are
// one).
type Store interface {
	rooms.Getter
	Create(ctx context.Context, spec rooms.Spec) (rooms.Room, error)
	List() []rooms.Room
	// CountDirect counts the direct rooms, those user started and those
	// started from origin.
	CountDirect(user, origin string) (total, byUser, byOrigin int)
}

// counter shows a Store's direct rooms to a roomlimit.Limiter.
type counter struct{ s Store }

// List implements roomlimit.Lister (unused: CountRooms answers).
func (c counter) List() []rooms.Room { return c.s.List() }

// CountRooms implements roomlimit.Counter with the direct rooms.
func (c counter) CountRooms(user, origin string) (total, byUser, byOrigin int) {
	return c.s.CountDirect(user, origin)
}

// Options configure a Service; Rooms is required.
type Options struct {
	Rooms Store
	// Limits bound new conversations (Section "rooms.direct").
	Limits roomlimit.Limits
	// Verified says user names are checked (auth.mode static or jwt):
	// without it the address limits apply too.
	Verified bool
	// Wait bounds how long a conversation another replica is creating
	// is waited for (default a second).
	Wait time.Duration
}

// Service finds and creates direct rooms.
type Service struct {
	opts Options
	lim  *roomlimit.Limiter
}

// New returns a Service.
func New(opts Options) *Service {
	if opts.Limits.Section == "" {
		opts.Limits.Section = "rooms.direct"
	}
	if opts.Wait <= 0 {
		opts.Wait = time.Second
	}
	return &Service{opts: opts, lim: roomlimit.New(opts.Limits, counter{opts.Rooms})}
}

// Room returns the direct room of from and to, creating it when there is
// none yet: from starts it, from address (a clientaddr.Key) for the
// address limits. A refusal by the limits is a *roomlimit.Refusal.
func (s *Service) Room(ctx context.Context, from, to, address string) (rooms.Room, error) {
	id := rooms.DirectID(from, to)
	if r, ok := s.opts.Rooms.Get(id); ok {
		return r, nil
	}
	done, refused := s.lim.Reserve(roomlimit.Requester{User: from, Verified: s.opts.Verified, Address: address})
	if refused != nil {
		return rooms.Room{}, refused
	}
	defer done()
	spec := rooms.DirectSpec(from, to)
	spec.Origin = rooms.OriginOf(address)
	r, err := s.opts.Rooms.Create(ctx, spec)
	if errors.Is(err, rooms.ErrDuplicateID) {
		// the other user's first message, through another replica
		if r, ok := rooms.Await(ctx, s.opts.Rooms, id, s.opts.Wait); ok {
			return r, nil
		}
	}
	if err != nil {
		return rooms.Room{}, fmt.Errorf("direct: conversation of %s and %s: %w", from, to, err)
	}
	return r, nil
}
