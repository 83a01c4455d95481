package session

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"chatrelay/internal/destination"
	"chatrelay/internal/stomp"
)

// Durable topic subscriptions. RabbitMQ keeps a topic subscription's
// queue across disconnects when the SUBSCRIBE says durable:true (or
// persistent:true) and names it after the subscription id; UNSUBSCRIBE
// with durable:true deletes it. Behind the relay the upstream
// subscription id is the relay's, not the client's, so the session names
// the queue itself (x-queue-name): the same name from every session and
// replica for one user, destination and id, so the subscription resumes
// where it was; a different one for every user, so that no user reads
// another's backlog. A client may name the queue itself when the policy
// allows x-queue-name (never one of the server's reserved names). The
// embedded broker has no durable subscriptions: there the SUBSCRIBE is
// refused instead of silently losing what comes while the client is
// away. Both only when the policy lets the durable header through.

// durablePrefix starts the names of the queues behind durable topic
// subscriptions; queue names starting with chatrelay. are the server's
// own, so no client reaches them as /queue/....
const durablePrefix = "chatrelay.durable."

// durableRequested reports whether h asks for a durable subscription (or,
// on UNSUBSCRIBE, for its deletion), in a spelling RabbitMQ reads as true.
func durableRequested(h stomp.Headers) bool {
	for _, k := range []string{"durable", "persistent"} {
		if v := h.Value(k); v == "true" || v == "True" {
			return true
		}
	}
	return false
}

// durableQueueName names the queue of user's durable subscription id to
// dest.
func durableQueueName(user, dest, id string) string {
	sum := sha256.Sum256([]byte(user + "\x00" + dest + "\x00" + id))
	return durablePrefix + base64.RawURLEncoding.EncodeToString(sum[:18])
}

// durableTopic reports whether a SUBSCRIBE to target with headers is a
// durable topic subscription.
func durableTopic(target destination.Target, headers stomp.Headers) bool {
	return target.Kind == destination.Broker && strings.HasPrefix(target.Destination, "/topic/") && durableRequested(headers)
}

// prepareDurable readies the headers of the durable topic subscription
// sub: it names its queue unless the client did. It fails, having sent
// the ERROR, when the broker has no durable subscriptions.
func (s *Session) prepareDurable(f *stomp.Frame, sub *subscription, headers stomp.Headers) (stomp.Headers, error) {
	if !s.opts.DurableTopics {
		return nil, s.failFrame(f, Close{
			Code:    ClosePolicy,
			Message: "destination refused: " + sub.target.Original,
			Detail:  "durable topic subscriptions need broker.mode rabbitmq: the embedded broker keeps nothing for a subscriber that is away",
		})
	}
	sub.durable = true
	if headers.Value("x-queue-name") == "" {
		headers = headers.Set("x-queue-name", durableQueueName(s.user, sub.target.Destination, sub.id))
	}
	return headers, nil
}
