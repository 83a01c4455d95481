package relay

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"chatrelay/internal/stomp"
)

// connState is where an upstream connection is in its life.
type connState int

const (
	// stateDown: no socket; SENDs and transaction frames wait in the outbox.
	stateDown connState = iota
	// stateRestoring: connected, subscriptions re-sent, outbox held back
	// until they are confirmed (and the other connections are back, or
	// the grace period is over).
	stateRestoring
	// stateUp: connected and the outbox flushed; frames are written
	// directly.
	stateUp
	// stateClosed: the relay is closed.
	stateClosed
)

// quirks are differences of the broker behind a socket.
type quirks struct {
	// noSubscribeReceipts: go-stomp's server ignores the receipt header
	// of SUBSCRIBE and UNSUBSCRIBE.
	noSubscribeReceipts bool
	// localAcks: go-stomp's server (v3.1.3) cannot take acks: it never
	// matches an ACK or NACK to a client-individual message and matches
	// a client-mode ACK to every pending message of the connection
	// (Subscription.msgId is never set). The relay subscribes ack:auto
	// and keeps acks itself; see localacks.go.
	localAcks bool
}

// upConn is one multiplexed upstream STOMP connection and everything that
// lives on it: subscriptions, receipts, transactions, the outbox. Its
// socket comes and goes (one upSocket per connect); its state survives reconnects.
type upConn struct {
	r     *Relay
	index int
	log   *slog.Logger

	// restored is true while the connection is up and its subscriptions
	// are confirmed; read without c.mu by the other connections.
	restored atomic.Bool
	// connects counts the upSockets this connection has had.
	connects atomic.Int64
	// backoffNominal is the nominal reconnect delay being waited out, 0
	// while connected or dialling (UpstreamStats.Backoff).
	backoffNominal atomic.Int64

	mu          sync.Mutex
	state       connState
	sock        *upSocket // nil unless restoring or up
	addr        string    // the broker address of the current (or last) socket
	quirks      quirks
	seq         uint64              // source of upstream ids (subscriptions, receipts, transactions)
	ids         idGen               // source of the message ids clients see
	subs        map[string]*upSub   // every subscription, by upstream id
	shared      map[string]*upSub   // shared topic subscriptions, by destination
	retired     retiredIDs          // recently unsubscribed upstream ids
	settle      settler             // settling cancelled subscriptions' deliveries, this socket
	receipts    map[string]*pending // by upstream receipt id, current socket only
	inflight    []*outItem          // SENDs written with a receipt and not yet receipted, in order
	outbox      outbox
	txns        map[*txn]struct{} // open transactions of the clients pinned here
	restoreLeft int               // re-sent SUBSCRIBEs not yet receipted
	upSince     time.Time         // when the current socket connected
	graceTimer  *time.Timer       // re-checks a held outbox after the grace period
}

func newUpConn(r *Relay, index int) *upConn {
	return &upConn{
		r:        r,
		index:    index,
		log:      r.log.With("upstream", index),
		subs:     make(map[string]*upSub),
		shared:   make(map[string]*upSub),
		receipts: make(map[string]*pending),
		txns:     make(map[*txn]struct{}),
		ids:      idGen{block: r.ids, conn: uint64(index)},
		outbox:   outbox{maxFrames: r.cfg.OutboxFrames, maxBytes: r.cfg.OutboxBytes},
	}
}

// run owns the connection's life: it dials, hands each socket to a
// reader and a writer goroutine, waits for the socket to die, and backs
// off before the next attempt (probing the addresses meanwhile when no
// broker was listening, see pause), until the relay's context is
// cancelled.
func (c *upConn) run(ctx context.Context) {
	defer c.r.wg.Done()
	addrs := c.r.cfg.Addresses
	bo := newBackoff(c.r.cfg.ReconnectMin, c.r.cfg.ReconnectMax)
	failures := 0       // consecutive failed attempts; only the first is a warning
	next := c.index     // the address of the next attempt, rotating
	refusedRun := false // sockets end because a restored subscription was refused
	for ctx.Err() == nil {
		addr := addrs[next%len(addrs)]
		next = (next + 1) % len(addrs)
		s, err := dial(ctx, c.r.cfg, addr)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			level := slog.LevelDebug
			if failures == 1 {
				level = slog.LevelWarn
			}
			c.log.Log(ctx, level, "relay: connect to broker failed; retrying", "addr", addr, "attempt", failures, "err", err)
			i, ok := c.backOff(ctx, bo, isConnectError(err), addrs)
			if !ok {
				return
			}
			if i >= 0 {
				next = i
			}
			continue
		}
		if !c.attach(s) {
			s.conn.Close()
			return
		}
		c.connects.Add(1)
		c.log.Info("relay: connected to broker", "addr", addr, "server", s.server, "failed_attempts", failures)
		failures = 0
		began := time.Now()
		s.wg.Add(2)
		go c.readLoop(s)
		go c.writeLoop(s)
		<-s.done
		s.wg.Wait()
		if c.isClosed() {
			return
		}
		switch {
		case time.Since(began) >= stableSocket:
			// a socket that dies young (a broker that accepts and
			// then drops us) keeps the backoff growing
			bo.reset()
			refusedRun = false
		case s.keptRefused && !refusedRun:
			// a broker still recovering its queues (refusals.go):
			// retry soon, then back off again
			bo.reset()
			refusedRun = true
		}
		if ctx.Err() == nil {
			c.log.Warn("relay: broker connection lost", "addr", addr, "err", s.err)
			// no probing: the broker was there a moment ago, and one
			// that keeps dropping us must not be redialled at once
			if _, ok := c.backOff(ctx, bo, false, addrs); !ok {
				return
			}
		}
	}
}

// backOff waits out the next backoff delay (see pause), showing its
// nominal value in Stats meanwhile.
func (c *upConn) backOff(ctx context.Context, bo *backoff, probe bool, addrs []string) (next int, ok bool) {
	d, nominal := bo.next()
	c.backoffNominal.Store(int64(nominal))
	defer c.backoffNominal.Store(0)
	return c.pause(ctx, d, probe, addrs)
}

// attach makes s the current socket: it re-sends every subscription and
// holds the outbox until they are confirmed. It returns false when the
// relay was closed meanwhile.
func (c *upConn) attach(s *upSocket) bool {
	var e effects
	defer e.run()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateClosed {
		return false
	}
	c.sock = s
	c.addr = s.addr
	c.r.probing.Store(probeRabbit && strings.HasPrefix(s.server, "RabbitMQ/"))
	c.quirks = s.quirks
	c.state = stateRestoring
	c.upSince = time.Now()
	c.restoreLeft = 0
	c.settle = settler{}
	for _, sub := range c.subs {
		sub.confirmed = false
		c.writeWithReceipt(sub.subscribeFrame(c.quirks), &pending{sub: sub, restore: true})
		c.restoreLeft++
	}
	c.maybeRestored(&e)
	return true
}

// maybeRestored marks the connection restored once every re-sent
// subscription is confirmed, and flushes the outbox if it may. Caller
// holds c.mu.
func (c *upConn) maybeRestored(e *effects) {
	if c.state != stateRestoring || c.restoreLeft > 0 {
		return
	}
	if !c.restored.Swap(true) {
		// the others may be waiting for this one to flush their outboxes
		e.call(c.r.kickFlush)
	}
	c.maybeFlush(e)
}

// maybeFlush writes the held outbox and goes up once all connections are
// restored or the grace period is over. Caller holds c.mu.
func (c *upConn) maybeFlush(e *effects) {
	if c.state != stateRestoring || c.restoreLeft > 0 {
		return
	}
	wait := c.r.orderGrace() - time.Since(c.upSince)
	if c.outbox.len() > 0 && wait > 0 && !c.r.allRestored() {
		if c.graceTimer == nil {
			c.graceTimer = time.AfterFunc(wait, c.graceOver)
		}
		return
	}
	if c.graceTimer != nil {
		c.graceTimer.Stop()
		c.graceTimer = nil
	}
	for _, it := range c.outbox.takeAll() {
		c.writeItem(it)
	}
	c.state = stateUp
	e.call(c.r.notify)
}

// tryFlush re-checks a held outbox; called when another connection is
// restored.
func (c *upConn) tryFlush() {
	var e effects
	c.mu.Lock()
	c.maybeFlush(&e)
	c.mu.Unlock()
	e.run()
}

// graceOver runs on the grace timer's goroutine and flushes a held outbox.
func (c *upConn) graceOver() {
	var e effects
	c.mu.Lock()
	c.graceTimer = nil
	c.maybeFlush(&e)
	c.mu.Unlock()
	e.run()
}

// fail ends socket s (once) and keeps everything that outlives it: the
// subscriptions (re-sent on reconnect), SENDs written without a RECEIPT
// yet (back to the front of the outbox), the outbox itself. Open
// transactions written on s are lost, delivered-but-unacked ids go stale.
func (c *upConn) fail(s *upSocket, err error) {
	var e effects
	c.mu.Lock()
	if c.sock != s {
		c.mu.Unlock()
		return
	}
	if s.brokerErr != nil {
		s.errTimer.Stop()
		err = errBrokerError
		if !s.attributed {
			c.refuseNamed(s, s.brokerErr, &e)
		}
	}
	s.err = err
	close(s.done)
	s.conn.Close()
	c.sock = nil
	if c.state != stateClosed {
		c.state = stateDown
	}
	c.restored.Store(false)
	if c.graceTimer != nil {
		c.graceTimer.Stop()
		c.graceTimer = nil
	}
	var resend []*outItem
	if c.quirks.localAcks {
		resend = c.localRequeueItems()
	}
	c.outbox.pushFront(append(c.loseReceipts(&e), resend...))
	for _, sub := range c.subs {
		sub.confirmed = false
		sub.acks.goStale()
	}
	for t := range c.txns {
		if t.written {
			t.lost = true
			t.acks = nil
		}
	}
	e.call(c.r.notify)
	c.mu.Unlock()
	e.run()
}

// writeFrame appends f to the socket's write buffer and wakes the writer.
// Caller holds c.mu and c.sock != nil.
func (c *upConn) writeFrame(f *stomp.Frame) {
	s := c.sock
	s.wbuf = f.Append(s.wbuf, stomp.V12)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// writeItem writes an ordered-path item on the current socket. Caller
// holds c.mu and c.sock != nil.
func (c *upConn) writeItem(it *outItem) {
	if it.tx != nil && it.frame.Command == stomp.BEGIN {
		it.tx.written = true
	}
	if !it.wantReceipt {
		c.writeFrame(it.frame)
		return
	}
	if it.isSend() {
		c.inflight = append(c.inflight, it)
	}
	c.writeWithReceipt(it.frame, &pending{item: it})
}

// direct reports whether an ordered-path item may be written now rather
// than queued: the connection is up with its outbox flushed, and a
// transaction frame's BEGIN is already written (or it is the BEGIN).
// Caller holds c.mu.
func (c *upConn) direct(it *outItem) bool {
	return c.state == stateUp && (it.tx == nil || it.tx.written || it.frame.Command == stomp.BEGIN)
}

// enqueue sends it upstream now if the connection is up, or queues it in
// the outbox. Caller holds c.mu.
func (c *upConn) enqueue(it *outItem) error {
	switch {
	case c.state == stateClosed:
		return ErrClosed
	case c.direct(it):
		if len(c.sock.wbuf) > c.outbox.maxBytes && it.isSend() {
			// the broker is not draining the socket
			return ErrOutboxFull
		}
		c.writeItem(it)
		return nil
	default:
		return c.outbox.push(it)
	}
}

// enqueueAll is enqueue for items that go together (one transaction's
// frames): all are written now, or all wait in the outbox, or none is
// taken. Caller holds c.mu.
func (c *upConn) enqueueAll(items []*outItem) error {
	switch {
	case c.state == stateClosed:
		return ErrClosed
	case c.direct(items[0]):
		if len(c.sock.wbuf) > c.outbox.maxBytes {
			return ErrOutboxFull // the broker is not draining the socket
		}
		for _, it := range items {
			c.writeItem(it)
		}
		return nil
	default:
		return c.outbox.pushAll(items)
	}
}

// isClosed reports whether shutdown has begun.
func (c *upConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateClosed
}

// up reports whether the connection is up with its outbox flushed.
func (c *upConn) up() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateUp
}

// shutdown sends DISCONNECT with a receipt and waits (bounded by ctx) for
// it, then marks the connection closed, ends the socket and gives up the
// outbox. Stream subscriptions are unsubscribed first (see endStreams).
func (c *upConn) shutdown(ctx context.Context) {
	var e effects
	c.mu.Lock()
	s := c.sock
	var got chan struct{}
	if s != nil {
		c.endStreams(&e)
		got = make(chan struct{})
		c.writeWithReceipt(stomp.New(stomp.DISCONNECT), &pending{onOK: func() { close(got) }})
	}
	c.state = stateClosed
	c.mu.Unlock()
	if s != nil {
		select {
		case <-got:
		case <-s.done:
		case <-ctx.Done():
		}
		c.fail(s, errClosing)
	}
	c.mu.Lock()
	for _, it := range c.outbox.takeAll() {
		it.fail(&e, ErrClosed)
	}
	if c.graceTimer != nil {
		c.graceTimer.Stop()
		c.graceTimer = nil
	}
	c.mu.Unlock()
	e.run()
}

var errClosing = errors.New("relay closing")
