// Package embedded runs a STOMP broker in-process on an in-memory
// listener, so that the relay can run against it with no RabbitMQ: plug
// Broker.Dial into relay.Config.Dial and use Address as the broker
// address. Each connection is handled by go-stomp's connection code
// (github.com/go-stomp/stomp/v3 server/client package); the broker loop
// that routes between them is this package's (router), because
// go-stomp's own deadlocks under a burst (see below).
//
// What the broker does (go-stomp v3.1.3's behaviour, read from its
// source and checked by the relay's tests):
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
// resume), no "requeue: false" on NACK, no wildcards, and a cumulative
// ACK in client mode acknowledges earlier messages of every client-mode
// subscription on the connection (the relay only sends individual ACKs).
//
// Bursts: go-stomp's connection loop hands requests (a SEND to route, a
// subscription ready for its next queue message) to the broker loop
// through one bounded channel, and the broker loop hands each connection
// its MESSAGEs through bounded channels (16 frames) that only that
// connection's loop drains. go-stomp's broker loop blocked on a full
// connection channel while that connection's loop blocked on the full
// request channel: one connection writing an unpaced burst of SENDs to a
// destination it also receives (every relay connection does) stalled the
// whole broker for good. Here the broker loop never blocks: it appends
// each MESSAGE to its subscription's outlet and a short-lived goroutine
// per outlet does the blocking push. Flow control takes the place of
// the bounded channels: while more than HighWater bytes wait in outlets,
// the broker stops reading its connections (see flow).
package embedded

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/server/client"
)

// Address is the broker address to put in relay.Config.Addresses; Dial
// ignores it.
const Address = "embedded:61613"

// HeartBeat is the server's minimum heart-beat interval.
const HeartBeat = 10 * time.Second

// Broker is a running in-process STOMP broker.
type Broker struct {
	ln   *memListener
	done chan struct{} // closed when the broker loop has ended
}

// Start runs a broker. logger receives go-stomp's log lines (nil: discard).
func Start(logger *slog.Logger) (*Broker, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := newFlow()
	b := &Broker{ln: newMemListener(f), done: make(chan struct{})}
	r := newRouter(f)
	cfg := connConfig{log: slogAdapter{logger.With("component", "embedded-broker")}}
	acceptDone := make(chan struct{})
	go func() {
		// the accept loop owns Accept: each connection it takes runs
		// go-stomp's connection loops, which talk to the router; it
		// ends when the broker is closed
		defer close(acceptDone)
		for {
			rw, err := b.ln.Accept()
			if err != nil {
				return
			}
			r.live.Add(1)
			client.NewConn(cfg, rw, r.reqs)
		}
	}()
	// the broker loop owns the router's state; it ends after Close, once
	// every connection has cleaned up
	go func() {
		defer close(b.done)
		r.loop(acceptDone)
	}()
	return b, nil
}

// connConfig is what go-stomp's connection code asks of its server.
type connConfig struct{ log stomp.Logger }

// Authenticate accepts any login.
func (connConfig) Authenticate(login, passcode string) bool { return true }

// HeartBeat is the minimum heart-beat interval.
func (connConfig) HeartBeat() time.Duration { return HeartBeat }

// Logger receives the connections' log lines.
func (c connConfig) Logger() stomp.Logger { return c.log }

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
