package session

import (
	"log/slog"

	"chatrelay/internal/destination"
	"chatrelay/internal/relay"
	"chatrelay/internal/stomp"
)

// A broker hiccup or refusal that concerns one subscription ends that
// subscription, never the session: STOMP has no frame to fail one
// SUBSCRIBE (an ERROR closes the connection), so the client is told on
// its /user/queue/errors subscriptions, as for a rate_limited SUBSCRIBE,
// with the destination and the subscription id, and gets no RECEIPT for
// it. The id is free again: the client may subscribe again later.

// Codes of the /user/queue/errors messages about one subscription.
const (
	// CodeSubscribeRefused: the broker refused the SUBSCRIBE (its
	// broker user may not use the queue, say); nothing was subscribed.
	CodeSubscribeRefused = "subscribe_refused"
	// CodeSubscriptionEnded: the broker cancelled a subscription that
	// was in place, as when its queue is deleted.
	CodeSubscriptionEnded = "subscription_ended"
	// CodeRoomUnavailable: the room's history could not be read in
	// time (the broker may be restarting); nothing was subscribed.
	CodeRoomUnavailable = "room_unavailable"
)

// subscriptionEnded handles the relay's ERROR ending subscription id (see
// relay.Sink): the subscription is forgotten and the client told. A
// receipt-id on it stands for the SUBSCRIBE's RECEIPT, which will never
// come.
func (s *Session) subscriptionEnded(id string, f *stomp.Frame) {
	if f.Header("receipt-id") != "" {
		defer s.paid()
	}
	s.subsMu.Lock()
	sub := s.subs[id]
	if sub == nil || sub.room != "" || sub.target.Kind == destination.App {
		// unsubscribed meanwhile, and the id perhaps reused for what
		// the relay never had
		s.subsMu.Unlock()
		return
	}
	delete(s.subs, id)
	s.subsMu.Unlock()
	e := &errorText{code: CodeSubscriptionEnded, key: CodeSubscriptionEnded}
	if f.Header("message") == relay.MsgSubscribeRefused {
		e = &errorText{code: CodeSubscribeRefused, key: CodeSubscribeRefused + ".broker", args: []string{"reason", string(f.Body)}}
	}
	s.log(slog.LevelWarn, "subscription ended by the broker", "destination", sub.display, "subscription", id, "code", e.code, "detail", string(f.Body))
	s.subscriptionError(sub, e)
}

// subscriptionError tells the client on its /user/queue/errors
// subscriptions that subscription sub failed or ended, and reports
// whether it has any.
func (s *Session) subscriptionError(sub *subscription, e *errorText) bool {
	p := s.describe(sub.display, e)
	p.Subscription = sub.id
	if !s.toErrorsQueue(p.encode()) {
		s.log(slog.LevelInfo, "subscription error not delivered: no /user/queue/errors subscription", "destination", sub.display, "subscription", sub.id, "code", e.code)
		return false
	}
	return true
}
