package router

import (
	"context"

	"chatrelay/internal/stomp"
)

// Publisher is how handlers reach the broker. Implementations must be safe
// for concurrent use.
type Publisher interface {
	// Publish sends to a broker destination ("/topic/...", "/queue/...").
	Publish(destination string, headers stomp.Headers, body []byte) error
	// PublishToUser sends to every session of user subscribed to
	// /user/queue/<queue>, across replicas.
	PublishToUser(user, queue string, headers stomp.Headers, body []byte) error
}

// Context is one client frame addressed to an /app destination, as a
// handler sees it. It carries the request's context.Context (cancelled
// when the session ends).
type Context struct {
	context.Context
	// User is the authenticated user; SessionID the client session.
	User, SessionID string
	// Anonymous says User was generated (auth.mode none, CONNECT
	// without a login): the client has not named itself.
	Anonymous bool
	// Remote is the client's address (host:port).
	Remote string
	// Original is the destination as the client wrote it: an alias
	// (/pub/chat/message) differs from Destination.
	Original string
	// Destination is the canonical /app/... destination.
	Destination string
	// Vars holds the {variables} of the matched pattern; Dispatch sets it.
	Vars map[string]string
	// Headers are the frame's headers after the destination policy.
	Headers stomp.Headers
	// Body is the frame's body.
	Body []byte
	// Subscribe is true when the frame was a SUBSCRIBE (the counterpart of
	// @SubscribeMapping): the reply goes back once to that subscription.
	Subscribe bool
	// Broker publishes to broker destinations and users.
	Broker Publisher
	// Later, set for SEND frames, lets the handler finish the frame
	// after it returns: each call returns a finish function that must be
	// called exactly once, from any goroutine, without blocking, when
	// that part of the work is done (nil) or failed. The RECEIPT the
	// client asked for waits for every finish; an error reaches the
	// sender on /user/queue/errors, carrying the frame's receipt id, in
	// place of the RECEIPT.
	Later func() (finish func(error))
	// Claim, set for SEND frames of sessions that follow rooms, makes
	// name the session's presence name in roomID (see
	// session.Options.ClientPresence): the room is told ENTER for name
	// when that makes name present on this replica. It reports whether
	// the session follows the room at all; it must not be called with
	// locks held.
	Claim func(roomID, name string) bool
}

// Handler handles one /app frame. A non-nil reply to a SUBSCRIBE is sent
// back once to that subscription; for a SEND the caller decides what to do
// with it (handlers that publish on their own return nil). An error is
// reported to the sender on /user/queue/errors: return an *Error to choose
// the code and message the sender sees.
type Handler func(c *Context) (reply any, err error)
