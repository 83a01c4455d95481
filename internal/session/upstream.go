package session

import (
	"chatrelay/internal/relay"
	"chatrelay/internal/stomp"
)

// Upstream is the broker side of one session: what the session asks of
// its connection to the relay. *relay.Client implements it; unit tests
// put a fake in its place. Its methods may be called from the session's
// reader goroutine and, for AwaitOrder, from /app handlers.
type Upstream interface {
	// Subscribe subscribes the client's id to dest with headers h.
	Subscribe(id, dest string, h stomp.Headers) error
	// Unsubscribe ends subscription id; a RECEIPT follows when receipt
	// is not empty.
	Unsubscribe(id, receipt string) error
	// UnsubscribeDurable ends subscription id and deletes its durable
	// queue.
	UnsubscribeDurable(id, receipt string) error
	// Send publishes a client SEND (or holds it in its transaction).
	Send(dest string, h stomp.Headers, body []byte) error
	// Ack and Nack settle a message delivered to the session.
	Ack(h stomp.Headers) error
	Nack(h stomp.Headers) error
	// Begin, Commit and Abort run the client's transactions; a
	// *relay.RefusedError from Commit is the broker refusing a SEND of
	// the transaction.
	Begin(tx, receipt string) error
	Commit(tx, receipt string) error
	Abort(tx, receipt string) error
	// AwaitOrder waits until the session's subscriptions are in place at
	// the broker, so that what a handler publishes next reaches them.
	AwaitOrder()
	// Close releases everything the session holds upstream.
	Close()
}

// Broker is what all sessions share of the relay: it attaches each
// session's Upstream and publishes what /app handlers send.
// RelayBroker adapts a *relay.Relay to it.
type Broker interface {
	// Attach returns the upstream of a session; frames from the broker
	// for it go to sink.
	Attach(sink relay.Sink) Upstream
	// Publish publishes a server-side message; onAccepted (optional)
	// learns whether the broker accepted it.
	Publish(dest string, h stomp.Headers, body []byte, onAccepted func(error)) error
}

// The relay satisfies the session's seams.
var (
	_ Upstream = (*relay.Client)(nil)
	_ Broker   = relayBroker{}
)

// RelayBroker returns r as the Broker of Options.
func RelayBroker(r *relay.Relay) Broker { return relayBroker{r} }

// relayBroker adapts *relay.Relay, whose Attach returns the concrete
// *relay.Client, to Broker.
type relayBroker struct{ r *relay.Relay }

// Attach implements Broker.
func (b relayBroker) Attach(sink relay.Sink) Upstream { return b.r.Attach(sink) }

// Publish implements Broker.
func (b relayBroker) Publish(dest string, h stomp.Headers, body []byte, onAccepted func(error)) error {
	return b.r.Publish(dest, h, body, onAccepted)
}
