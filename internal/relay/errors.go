package relay

import "errors"

// Errors returned by the relay. Their text is safe to show to a client in
// an ERROR frame.
var (
	// ErrOutboxFull means the upstream connection is down and its outbox
	// already holds Config.OutboxFrames frames or Config.OutboxBytes bytes.
	ErrOutboxFull = errors.New("broker unavailable and send buffer full")
	// ErrClosed means the relay or the client has been closed.
	ErrClosed = errors.New("relay closed")
	// ErrTxLost means the transaction was open on an upstream connection
	// that dropped; the broker has discarded it.
	ErrTxLost = errors.New("transaction lost in broker reconnect")
	// ErrUnknownTx means COMMIT, ABORT, SEND or ACK named a transaction
	// that was never begun (or is already finished).
	ErrUnknownTx = errors.New("unknown transaction")
	// ErrTxExists means BEGIN named a transaction that is already open.
	ErrTxExists = errors.New("transaction already begun")
	// ErrUnknownAck means ACK or NACK named a message that was not
	// delivered to this client, or was already acknowledged.
	ErrUnknownAck = errors.New("no unacknowledged message with that id")
	// ErrUnknownSubscription means UNSUBSCRIBE named
	// a subscription id this client does not have.
	ErrUnknownSubscription = errors.New("no subscription with that id")
	// ErrDuplicateSubscription means SUBSCRIBE reused an active id.
	ErrDuplicateSubscription = errors.New("subscription id already in use")
	// ErrMissingHeader means a required header (ACK id, destination) was
	// absent.
	ErrMissingHeader = errors.New("missing required header")
	// ErrStreamNack means NACK named a message of a stream subscription
	// (x-stream-offset). RabbitMQ cannot NACK stream deliveries and would
	// close the connection; the relay forwards nothing.
	ErrStreamNack = errors.New("NACK is not supported on a stream subscription")
	// ErrStreamHeaders means a stream SUBSCRIBE (x-stream-offset) lacked
	// ack client or client-individual or a prefetch-count, or had a
	// malformed x-stream-offset; RabbitMQ would close the connection.
	// The returned error wraps it with the reason.
	ErrStreamHeaders = errors.New("invalid stream subscription")
)
