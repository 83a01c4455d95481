// Package relay connects client sessions to the broker (RabbitMQ's STOMP
// plugin, or the embedded broker) through a few multiplexed upstream STOMP
// 1.2 connections per replica.
//
// A plain auto-ack /topic subscription is subscribed upstream once per
// replica and fanned out in memory; /queue and client-ack subscriptions get
// their own upstream subscription (ids mapped both ways) on the client's
// pinned connection. The relay keeps the upstream protocol's invariants
// itself (unique subscription ids, only acks for delivered messages, only
// known transactions), because one bad frame would make RabbitMQ close a
// connection shared by many clients. Broker outages do not reach clients:
// connections come back with backoff, re-subscribe everything, and flush
// the SENDs buffered meanwhile. A client's frames take effect in the order
// it sent them although they may travel on different connections: a
// publish waits for the client's unconfirmed shared subscriptions on other
// connections (order.go).
//
// Clients never see the broker's message ids, which name its sessions and
// the relay's upstream subscriptions: every MESSAGE carries an opaque id
// the relay issues, mapped back to the broker's on ACK and NACK
// (msgids.go).
//
// A 1:1 subscription with x-stream-offset consumes a RabbitMQ stream
// (stream.go): the relay never NACKs it (RabbitMQ would close the shared
// connection), settles what its client leaves unacknowledged with ACK,
// and after a reconnect resumes right after the last offset it
// delivered, with no gap and no duplicate.
//
// A frame RabbitMQ might refuse (and close the shared connection over) is
// made first on a short-lived probe connection of its own, once per kind
// (probe.go): a refusal answers only the client that asked.
//
// Known limits of multiplexing over RabbitMQ's STOMP adapter (one AMQP
// channel per STOMP connection): a 1:1 client-ack subscription gives back
// its unacknowledged messages with NACK before its UNSUBSCRIBE, but a
// message the broker had already sent again before the UNSUBSCRIBE arrived,
// or one acknowledged inside a transaction that is aborted after the
// UNSUBSCRIBE, stays unacknowledged on the shared channel until that
// upstream connection reconnects (STOMP offers no way to settle a message
// of a cancelled subscription). Cumulative "client" acks are replayed as
// individual acks, since RabbitMQ would apply them to the whole channel.
package relay

import (
	"context"
	"crypto/cipher"
	"errors"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"chatrelay/internal/stomp"
)

// closeWait bounds how long Close waits for the broker's DISCONNECT
// RECEIPT when ctx allows longer.
const closeWait = 5 * time.Second

// errBrokerError ends a socket after the broker sent ERROR.
var errBrokerError = errors.New("broker sent ERROR")

// Relay is the replica's gateway to the broker.
type Relay struct {
	cfg   Config
	log   *slog.Logger
	conns []*upConn
	ids   cipher.Block // encrypts message ids (msgids.go)

	ctx    context.Context // cancelled by Close; ends reconnect loops
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per connection loop

	refusals refusals // frames the broker refused lately (refusals.go)
	verifier verifier // frames the broker accepted on probes lately (verify.go)
	// probing: the broker is RabbitMQ, whose refusals close connections,
	// so risky frames are probed first (probe.go); set on each connect
	probing    atomic.Bool
	probeSlots chan struct{} // bounds the probes in flight (maxProbes)
	probes     atomic.Uint64 // probe connections made
	refused    atomic.Uint64 // frames the broker refused (Refused)
	clients    atomic.Uint64 // clients attached so far
	messages   atomic.Uint64 // MESSAGE frames received from the broker
	fanout     atomic.Uint64 // copies of them delivered through shared subscriptions

	mu      sync.Mutex
	started bool
	closed  bool
	changed chan struct{} // closed and replaced when a connection goes up or down
}

// New returns a relay for cfg; zero fields take defaults. It does not
// connect until Start.
func New(cfg Config) *Relay {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Relay{cfg: cfg, log: cfg.Logger, ids: newIDCipher(), ctx: ctx, cancel: cancel, changed: make(chan struct{}),
		probeSlots: make(chan struct{}, maxProbes)}
	for i := 0; i < cfg.Connections; i++ {
		r.conns = append(r.conns, newUpConn(r, i))
	}
	return r
}

// Start connects in the background. It never fails: connections keep
// retrying until Close. Without Addresses nothing connects.
func (r *Relay) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.closed {
		return
	}
	r.started = true
	if len(r.cfg.Addresses) == 0 {
		r.log.Error("relay: no broker addresses configured")
		return
	}
	for _, c := range r.conns {
		r.wg.Add(1)
		go c.run(r.ctx)
	}
}

// Close sends DISCONNECT on every connection and waits (bounded by ctx and
// a few seconds) for the broker's RECEIPT, then closes the sockets and
// waits for the relay's goroutines. Buffered SENDs are given up
// (onAccepted gets ErrClosed).
func (r *Relay) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()

	wctx, cancel := context.WithTimeout(ctx, closeWait)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range r.conns {
		wg.Add(1)
		go func() {
			// shuts down one connection; Close waits for it below
			defer wg.Done()
			c.shutdown(wctx)
		}()
	}
	wg.Wait()
	r.cancel()
	done := make(chan struct{})
	go func() {
		// waits for the connection loops; ends once they have all returned
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		r.notify()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ready reports whether at least one upstream connection is up.
func (r *Relay) Ready() bool {
	for _, c := range r.conns {
		if c.up() {
			return true
		}
	}
	return false
}

// Reconnects returns how many times upstream connections have connected
// again after their first socket: zero while the broker never dropped
// (or closed) a connection of this replica.
func (r *Relay) Reconnects() int {
	n := 0
	for _, c := range r.conns {
		if s := c.connects.Load(); s > 1 {
			n += int(s - 1)
		}
	}
	return n
}

// WaitReady waits until Ready or ctx ends; it fails with ErrClosed once
// the relay is closed.
func (r *Relay) WaitReady(ctx context.Context) error {
	for {
		r.mu.Lock()
		ch, closed := r.changed, r.closed
		r.mu.Unlock()
		if r.Ready() {
			return nil
		}
		if closed {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// notify wakes WaitReady callers after a connection state change.
func (r *Relay) notify() {
	r.mu.Lock()
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Publish sends body to the broker destination dest on behalf of the server
// (handlers). The connection is chosen by hash of dest, so messages to one
// destination from one replica keep their order. h holds extra headers
// (content-type, application headers); the relay owns destination,
// receipt, transaction and content-length.
//
// If onAccepted is not nil, the SEND asks for a receipt and onAccepted is
// called exactly once: with nil after the broker's RECEIPT, or with an
// error when the message cannot be delivered (ErrOutboxFull, ErrClosed) —
// also when Publish itself returns that error, before it returns. While the
// connection is down the SEND waits in the connection's bounded outbox; a
// SEND with onAccepted that was written but not receipted when the
// connection dropped is sent again (at least once).
func (r *Relay) Publish(dest string, h stomp.Headers, body []byte, onAccepted func(error)) error {
	err := r.publish(dest, h, body, onAccepted)
	if err != nil && onAccepted != nil {
		onAccepted(err)
	}
	return err
}

func (r *Relay) publish(dest string, h stomp.Headers, body []byte, onAccepted func(error)) error {
	if dest == "" {
		return ErrMissingHeader
	}
	if r.isClosed() {
		return ErrClosed
	}
	f := sendFrame(dest, h, body, nil)
	it := &outItem{frame: f, size: frameSize(f), wantReceipt: onAccepted != nil, done: onAccepted}
	c := r.connFor(dest)
	if handled, err := r.publishVerified(dest, h, c, it); handled {
		return err // a probe carries it, or the broker refused its kind (probe.go)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.enqueue(it)
}

// Attach makes a Client for one session, pinned to a connection by round
// robin.
func (r *Relay) Attach(s Sink) *Client {
	n := r.clients.Add(1)
	c := &Client{
		r:    r,
		num:  n,
		sink: s,
		home: r.conns[(n-1)%uint64(len(r.conns))],
		subs: make(map[string]*clientSub),
		txs:  make(map[string]*txn),
		gone: make(chan struct{}),
	}
	if r.isClosed() {
		c.closed = true
		close(c.gone)
	}
	return c
}

func (r *Relay) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// connFor returns the connection that owns destination dest.
func (r *Relay) connFor(dest string) *upConn {
	h := fnv.New32a()
	h.Write([]byte(dest))
	return r.conns[h.Sum32()%uint32(len(r.conns))]
}

// allRestored reports whether every connection is up with its
// subscriptions confirmed.
func (r *Relay) allRestored() bool {
	for _, c := range r.conns {
		if !c.restored.Load() {
			return false
		}
	}
	return true
}

// kickFlush lets connections that hold their outbox re-check whether they
// may flush it.
func (r *Relay) kickFlush() {
	for _, c := range r.conns {
		c.tryFlush()
	}
}
