package relay

import (
	"errors"
	"strings"
	"sync"

	"chatrelay/internal/stomp"
)

// Sink receives frames for one client session: MESSAGE (with subscription
// set to the client's subscription id), RECEIPT (with the client's
// receipt-id) and ERROR. An ERROR with a subscription header ends that
// one subscription, which the broker refused (message
// MsgSubscribeRefused) or cancelled (MsgSubscriptionCancelled): the relay
// has dropped it, the client may subscribe under that id again, and if
// the SUBSCRIBE's receipt was still due the ERROR carries it as
// receipt-id (no RECEIPT follows). Any other ERROR is fatal for the
// client. Deliver must never block
// and may be called concurrently from relay goroutines. It is never called
// with a relay lock held. A MESSAGE body may be shared between the
// subscribers of a topic: it must not be modified.
type Sink interface {
	Deliver(f *stomp.Frame)
}

// Client is one client session's view of the relay. Its methods are meant
// to be called from one goroutine (the session's reader); they are safe
// against the relay's own goroutines and against a concurrent Close.
// Shared topic subscriptions live on the connection chosen by the
// destination's hash; everything else lives on the client's pinned
// connection. The client's frames take effect in the order it sent them
// all the same: a publish waits for the client's shared subscriptions on
// other connections to be confirmed first (order.go).
type Client struct {
	r    *Relay
	num  uint64
	sink Sink
	home *upConn // the pinned connection

	mu     sync.Mutex // serialises the client's calls and guards subs, closed
	closed bool
	subs   map[string]*clientSub // by the client's subscription id
	txs    map[string]*txn       // by the client's transaction id; guarded by home.mu too
	txSeq  uint64
	fences []*fence // guarded by mu: shared subscriptions elsewhere the next publish waits for (order.go)
	// wroteHome: the client has put a frame (SUBSCRIBE, UNSUBSCRIBE,
	// SEND, COMMIT) on its pinned connection, which a probed SEND must
	// not overtake (verify.go)
	wroteHome bool
	gone      chan struct{} // closed by Close: ends AwaitOrder
}

// clientSub is where one of the client's subscriptions lives.
type clientSub struct {
	conn *upConn
	up   *upSub
}

// gone reports whether the broker ended the subscription (the relay
// dropped its upstream subscription, see Sink).
func (cs *clientSub) gone() bool {
	cs.conn.mu.Lock()
	defer cs.conn.mu.Unlock()
	return cs.conn.subs[cs.up.id] != cs.up
}

// errBadAck is returned for an ack mode STOMP does not define.
var errBadAck = errors.New("invalid ack mode")

// shareable reports whether a subscription can share the replica's single
// upstream subscription to dest: a /topic destination, ack auto and no
// headers that shape the subscription.
func shareable(dest, ack string, h stomp.Headers) bool {
	if !strings.HasPrefix(dest, "/topic/") || ack != "auto" {
		return false
	}
	for _, kv := range h {
		switch kv.Key {
		case "id", "destination", "ack", "receipt":
		default:
			return false
		}
	}
	return true
}

// Subscribe subscribes the client to dest under its subscription id. h is
// the rest of the client's SUBSCRIBE (ack, receipt, allowed x-* headers).
// A receipt is delivered once the upstream subscription is confirmed.
// With x-stream-offset it is a stream subscription (see stream.go), which
// needs ack client or client-individual and a prefetch-count
// (ErrStreamHeaders otherwise) and resumes after the last delivered
// message when the broker connection comes back.
func (c *Client) Subscribe(id, dest string, h stomp.Headers) error {
	if id == "" || dest == "" {
		return ErrMissingHeader
	}
	ack := h.Value("ack")
	if ack == "" {
		ack = "auto"
	}
	if ack != "auto" && ack != "client" && ack != "client-individual" {
		return errBadAck
	}
	stream := isStream(h)
	if stream {
		if err := checkStream(ack, h); err != nil {
			return err
		}
	}
	if err := c.checkID(id); err != nil {
		return err
	}
	// effects run last, after every lock is released
	var e effects
	defer e.run()
	w := waiter{c: c, id: id, receipt: h.Value("receipt")}
	if shareable(dest, ack, h) {
		// a probe first, without locks, if the broker might refuse it
		if c.verifySubscribe(id, dest, nil, w.receipt) {
			return nil
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if err := c.checkIDLocked(id); err != nil {
			return err
		}
		conn := c.r.connFor(dest)
		conn.mu.Lock()
		defer conn.mu.Unlock()
		if conn.state == stateClosed {
			return ErrClosed
		}
		s := conn.shared[dest]
		if s == nil {
			s = &upSub{id: conn.newSubID(), dest: dest, shared: true, members: make(map[member]struct{}),
				headers: stomp.Headers{{Key: "ack", Value: "auto"}}}
			conn.addSub(s)
		}
		s.members[member{c, id}] = struct{}{}
		c.wroteHome = c.wroteHome || conn == c.home
		conn.whenConfirmed(s, w, &e)
		c.fenceShared(conn, s, id)
		c.subs[id] = &clientSub{conn: conn, up: s}
		return nil
	}
	// 1:1. Cumulative "client" acks are replayed as individual acks,
	// because RabbitMQ applies a cumulative ack to the whole channel,
	// that is to every client sharing the connection.
	upAck := ack
	if ack == "client" {
		upAck = "client-individual"
	}
	headers := stomp.Headers{{Key: "ack", Value: upAck}}
	for _, kv := range h {
		switch kv.Key {
		case "id", "destination", "ack", "receipt", "content-length", streamOffsetHeader:
			// x-stream-offset: subscribeFrame adds it, moved on after a
			// reconnect
		default:
			headers = append(headers, kv)
		}
	}
	if c.verifySubscribe(id, dest, headers, w.receipt) {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkIDLocked(id); err != nil {
		return err
	}
	conn := c.home
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if conn.state == stateClosed {
		return ErrClosed
	}
	s := &upSub{id: conn.newSubID(), dest: dest, headers: headers, owner: c, clientID: id, clientAck: ack}
	if stream {
		s.st = streamState{stream: true, start: h.Value(streamOffsetHeader)}
	}
	conn.addSub(s)
	c.wroteHome = true
	conn.whenConfirmed(s, w, &e)
	c.subs[id] = &clientSub{conn: conn, up: s}
	return nil
}

// checkID fails with ErrClosed once the client is closed and with
// ErrDuplicateSubscription when id is in use.
func (c *Client) checkID(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checkIDLocked(id)
}

// checkIDLocked is checkID; caller holds c.mu. A subscription the broker
// ended (see Sink) frees its id.
func (c *Client) checkIDLocked(id string) error {
	if c.closed {
		return ErrClosed
	}
	if cs, ok := c.subs[id]; ok {
		if !cs.gone() {
			return ErrDuplicateSubscription
		}
		delete(c.subs, id)
	}
	return nil
}

// Unsubscribe ends the client's subscription id. A receipt is delivered
// once the upstream side is done with it.
func (c *Client) Unsubscribe(id string, receipt string) error {
	var e effects
	defer e.run()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	cs, ok := c.subs[id]
	if !ok {
		return ErrUnknownSubscription
	}
	delete(c.subs, id)
	c.release(id, cs, receipt, &e)
	return nil
}

// release lets go of one subscription: a shared one loses a member and is
// unsubscribed upstream at zero; a 1:1 one is unsubscribed and gives back
// to its queue what the client got but did not acknowledge (settle.go; a
// stream one leaves it). Caller holds c.mu.
func (c *Client) release(id string, cs *clientSub, receipt string, e *effects) {
	var done func()
	if receipt != "" {
		sink := c.sink
		done = func() { sink.Deliver(receiptFrame(receipt)) }
	}
	conn, s := cs.conn, cs.up
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if conn.subs[s.id] != s {
		e.call(done)
		return
	}
	if s.shared {
		delete(s.members, member{c, id})
		leaveFence(s, member{c, id})
		if len(s.members) > 0 {
			e.call(done)
			return
		}
	} else {
		conn.giveBackAll(s, done, e)
		return
	}
	c.wroteHome = c.wroteHome || conn == c.home
	conn.removeSub(s, done, e)
}

// Send publishes body to dest on the client's pinned connection. h may
// carry receipt, transaction, content-type and application headers. A
// receipt is delivered only after the broker's RECEIPT; a transaction's
// SENDs are kept until COMMIT (txsend.go). While the broker is
// unreachable the SEND waits in the outbox (ErrOutboxFull when full). A
// SEND in a transaction lost in a reconnect fails with ErrTxLost. It
// first waits (AwaitOrder) for the client's shared subscriptions on other
// connections that the broker has not confirmed yet, so that it reaches
// them.
func (c *Client) Send(dest string, h stomp.Headers, body []byte) error {
	if dest == "" {
		return ErrMissingHeader
	}
	c.AwaitOrder()
	if h.Value("transaction") == "" {
		if handled, err := c.sendVerified(dest, h, body); handled {
			return err // made on a probe, or refused (probe.go)
		}
	} else if reason, ok := c.r.refusals.check(sendKey(dest, h)); ok {
		// not probed (RabbitMQ publishes it at COMMIT), but refused lately
		return &RefusedError{Reason: reason}
	}
	return c.withHome(func(conn *upConn) error {
		if name := h.Value("transaction"); name != "" {
			t := c.txs[name]
			if t == nil {
				return ErrUnknownTx
			}
			if t.lost {
				// the broker dropped the transaction with the connection:
				// say so now rather than leave the SEND unanswered
				return ErrTxLost
			}
			// the broker gets it at COMMIT (txsend.go)
			t.held = append(t.held, heldSend{dest: dest, headers: h, body: body, receipt: h.Value("receipt")})
			return nil
		}
		c.wroteHome = true
		return conn.enqueue(c.sendItem(dest, h, body, h.Value("receipt"), nil))
	})
}

// withHome runs fn holding the client's lock and then its pinned
// connection's, or returns ErrClosed once the client is closed.
func (c *Client) withHome(fn func(conn *upConn) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	conn := c.home
	conn.mu.Lock()
	defer conn.mu.Unlock()
	return fn(conn)
}

// sendItem is the ordered-path item of the client's SEND to dest (in
// transaction t, if any), whose receipt, if any, goes to the client once
// the broker's RECEIPT comes.
func (c *Client) sendItem(dest string, h stomp.Headers, body []byte, receipt string, t *txn) *outItem {
	f := sendFrame(dest, h, body, t)
	return &outItem{frame: f, size: frameSize(f), wantReceipt: receipt != "", done: clientReceipt(c.sink, receipt), tx: t}
}

// sendFrame builds the upstream SEND: the relay owns destination, receipt,
// transaction and content-length.
func sendFrame(dest string, h stomp.Headers, body []byte, t *txn) *stomp.Frame {
	f := &stomp.Frame{Command: stomp.SEND, Body: body}
	f.Headers = make(stomp.Headers, 0, len(h)+2)
	f.Headers = append(f.Headers, stomp.Header{Key: "destination", Value: dest})
	if t != nil {
		f.Headers = append(f.Headers, stomp.Header{Key: "transaction", Value: t.up})
	}
	for _, kv := range h {
		switch kv.Key {
		case "destination", "receipt", "transaction", "content-length":
		default:
			f.Headers = append(f.Headers, kv)
		}
	}
	return f
}

// Close releases everything the client holds: open transactions are
// aborted, 1:1 subscriptions unsubscribed (after giving back unacked
// messages), shared subscriptions lose a reference. Close is idempotent.
func (c *Client) Close() {
	var e effects
	defer e.run()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	close(c.gone)
	for name := range c.txs {
		_ = c.abortLocked(name, "", &e)
	}
	for id, cs := range c.subs {
		c.release(id, cs, "", &e)
	}
	c.subs = nil
}
