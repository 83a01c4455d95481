package rooms

import "context"

// Creator is who asks for a room by its id on a Spring-tutorial path (a
// SUBSCRIBE to /sub/chat/room/{id}, a SEND naming that roomId).
type Creator struct {
	// User is the session's user; Anonymous says the server generated
	// it (auth.mode none, no login).
	User      string
	Anonymous bool
	// Remote is the client's address (host:port), for the per-address
	// creation limits.
	Remote string
}

// CreateByID creates the room id, named id, for by, within the room
// creation limits (a *roomlimit.Refusal when they refuse), and returns it;
// a room another replica created with that id meanwhile is returned as it
// is.
type CreateByID func(ctx context.Context, id string, by Creator) (Room, error)
