// Package embedded runs go-stomp's STOMP server (github.com/go-stomp/stomp/v3
// server package) in-process on an in-memory listener, so that the relay
// can run against it with no RabbitMQ: plug Broker.Dial into
// relay.Config.Dial and use Address as the broker address.
//
// What go-stomp's server does (v3.1.3, read from its source and checked by
// the relay's tests):
//   - Destinations starting with "/queue" are queues (each message goes to
//     one subscriber, round robin among subscribers ready for one);
//     everything else, /topic/... included, is a topic (each message goes
//     to every current subscriber, nothing is kept for later).
//   - Ack modes auto, client and client-individual. A queue subscription in
//     a client mode has at most one unacknowledged message (prefetch 1);
//     NACK requeues at the front of the queue. Message ids are a counter
//     per connection and ACK/NACK read them from the "ack" or "message-id"
//     header, not from the STOMP 1.2 "id" header (the relay sends both).
//   - Transactions: SEND, ACK and NACK with a transaction header are held
//     and replayed on COMMIT, dropped on ABORT.
//   - Receipts are sent when the frame is read, before it is processed,
//     and never for SUBSCRIBE or UNSUBSCRIBE; the relay detects the server
//     (CONNECTED server "stompd/...") and confirms subscriptions with a
//     receipted BEGIN/ABORT pair written right after them instead.
//   - Heart-beats are honoured, but never below this package's HeartBeat.
//   - No authentication (any login), no vhosts (the host header is
//     ignored), STOMP 1.1 and 1.2 only.
//
// Gaps compared with RabbitMQ: no persistence, no durable or exclusive
// queues, no queue arguments (x-*, prefetch-count are ignored), no
// /exchange, /amq/queue, /temp-queue, no streams (so no history or
// resume), no "requeue: false" on NACK, no wildcards, a cumulative ACK in
// client mode acknowledges earlier messages of every client-mode
// subscription on the connection (the relay only sends individual ACKs),
// and no flow control: the server's broker loop and a connection's frame
// loop hand work to each other through bounded channels (128 requests, 16
// frames), so a connection that floods it with SENDs to destinations it
// also subscribes to can stall the whole server. Its Serve loop never
// returns: one goroutine per Start stays behind after Close.
package embedded

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/go-stomp/stomp/v3/server"
)

// Address is the broker address to put in relay.Config.Addresses; Dial
// ignores it.
const Address = "embedded:61613"

// HeartBeat is the server's minimum heart-beat interval.
const HeartBeat = 10 * time.Second

// Broker is a running in-process STOMP broker.
type Broker struct {
	ln *memListener
}

// Start runs a broker. logger receives go-stomp's log lines (nil: discard).
func Start(logger *slog.Logger) (*Broker, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Broker{ln: newMemListener()}
	srv := &server.Server{
		Addr:      Address,
		HeartBeat: HeartBeat,
		Log:       slogAdapter{logger.With("component", "embedded-broker")},
	}
	go func() {
		// runs go-stomp's broker loop; it never returns (see package doc)
		_ = srv.Serve(b.ln)
	}()
	return b, nil
}

// Dial connects to the broker in memory; addr is ignored. It matches
// relay.Config.Dial.
func (b *Broker) Dial(ctx context.Context, addr string) (net.Conn, error) {
	return b.ln.dial(ctx)
}

// Close stops accepting connections and closes every open one.
func (b *Broker) Close() error {
	return b.ln.Close()
}

// slogAdapter turns go-stomp's logger calls into slog records. go-stomp
// logs every disconnect as an error; its errors become info records.
type slogAdapter struct{ l *slog.Logger }

// Debugf logs at debug level.
func (a slogAdapter) Debugf(format string, v ...any) { a.l.Debug(fmt.Sprintf(format, v...)) }

// Infof logs at info level.
func (a slogAdapter) Infof(format string, v ...any) { a.l.Info(fmt.Sprintf(format, v...)) }

// Warningf logs at warn level.
func (a slogAdapter) Warningf(format string, v ...any) { a.l.Warn(fmt.Sprintf(format, v...)) }

// Errorf logs at info level (go-stomp calls every disconnect an error).
func (a slogAdapter) Errorf(format string, v ...any) { a.l.Info(fmt.Sprintf(format, v...)) }

// Debug logs at debug level.
func (a slogAdapter) Debug(msg string) { a.l.Debug(msg) }

// Info logs at info level.
func (a slogAdapter) Info(msg string) { a.l.Info(msg) }

// Warning logs at warn level.
func (a slogAdapter) Warning(msg string) { a.l.Warn(msg) }

// Error logs at info level (go-stomp calls every disconnect an error).
func (a slogAdapter) Error(msg string) { a.l.Info(msg) }
