package relay

import (
	"strconv"
	"strings"
	"time"

	"chatrelay/internal/stomp"
)

// upSub is one upstream subscription: either a shared topic subscription
// fanned out to many local subscribers, or a 1:1 subscription of one
// client. It lives in its upConn's table (guarded by the upConn's mutex)
// and is re-sent after every reconnect.
type upSub struct {
	id      string        // upstream subscription id, never reused on the connection
	dest    string        // broker destination
	headers stomp.Headers // extra SUBSCRIBE headers (ack, x-*, prefetch-count)
	shared  bool
	// confirmed: the broker receipted the SUBSCRIBE on this socket;
	// established: on some socket. refusedSince is when the broker
	// first refused it again since (refusals.go).
	confirmed    bool
	established  bool
	refusedSince time.Time
	// waiters are the clients' SUBSCRIBE receipts, delivered once
	// confirmed.
	waiters []waiter
	// fences hold back the next publish of members that joined it from
	// another connection, until it is confirmed, ends, or they leave
	// (order.go).
	fences map[member]*fence

	// shared subscriptions: the local subscribers
	members map[member]struct{}

	// 1:1 subscriptions
	owner     *Client
	clientID  string      // the client's subscription id
	clientAck string      // the client's ack mode: auto, client, client-individual
	acks      ackLog      // delivered, unacknowledged message ids (client ack modes)
	st        streamState // stream subscriptions only (see stream.go)
	// dropQueue: the client ends a durable subscription for good, and
	// its UNSUBSCRIBE deletes the queue (durable.go)
	dropQueue bool
}

// waiter is a client's SUBSCRIBE receipt held until the upstream
// subscription is confirmed.
type waiter struct {
	c       *Client
	id      string // the client's subscription id
	receipt string
}

// member is one local subscriber of a shared subscription.
type member struct {
	c  *Client
	id string // the client's subscription id
}

// takesAcks reports whether s's upstream deliveries wait for an ACK or
// NACK: a 1:1 client-ack subscription that is not a stream.
func (s *upSub) takesAcks() bool {
	return !s.shared && s.clientAck != "auto" && s.clientAck != "" && !s.st.stream
}

// subscribeFrame is the upstream SUBSCRIBE for s (receipt added on write).
func (s *upSub) subscribeFrame(q quirks) *stomp.Frame {
	f := stomp.New(stomp.SUBSCRIBE, "id", s.id, "destination", s.dest)
	for _, kv := range s.headers {
		if kv.Key == "ack" && q.localAcks {
			kv.Value = "auto"
		}
		f.Headers = append(f.Headers, kv)
	}
	if s.st.stream {
		f.Headers = append(f.Headers, stomp.Header{Key: streamOffsetHeader, Value: s.st.offsetSpec()})
	}
	return f
}

// newSubID returns an upstream subscription id unique on this connection.
// Caller holds c.mu.
func (c *upConn) newSubID() string {
	c.seq++
	return "s" + strconv.FormatUint(c.seq, 10)
}

// addSub registers s and subscribes upstream if connected. Caller holds c.mu.
func (c *upConn) addSub(s *upSub) {
	c.subs[s.id] = s
	if s.shared {
		c.shared[s.dest] = s
	}
	if c.sock != nil {
		p := &pending{sub: s}
		c.writeWithReceipt(s.subscribeFrame(c.quirks), p)
	}
}

// whenConfirmed delivers w's receipt once s is confirmed upstream: now
// (as an effect) if it already is. Caller holds c.mu.
func (c *upConn) whenConfirmed(s *upSub, w waiter, e *effects) {
	if w.receipt == "" {
		return
	}
	if s.confirmed {
		e.deliver(w.c.sink, receiptFrame(w.receipt))
		return
	}
	s.waiters = append(s.waiters, w)
}

// releaseWaiters delivers the receipts waiting on s and takes its fences
// down. Caller holds c.mu.
func releaseWaiters(s *upSub, e *effects) {
	for _, w := range s.waiters {
		e.deliver(w.c.sink, receiptFrame(w.receipt))
	}
	s.waiters = nil
	lowerFences(s)
}

// confirm marks s confirmed and releases its waiters. Caller holds c.mu.
func (c *upConn) confirm(s *upSub, e *effects) {
	if c.subs[s.id] != s {
		return // unsubscribed meanwhile; its waiters already ran
	}
	s.confirmed, s.established, s.refusedSince = true, true, time.Time{}
	releaseWaiters(s, e)
}

// removeSub forgets s and unsubscribes upstream if connected; done runs
// when the broker confirms (or the connection drops, which ends the
// subscription too). Caller holds c.mu.
func (c *upConn) removeSub(s *upSub, done func(), e *effects) {
	delete(c.subs, s.id)
	if s.shared && c.shared[s.dest] == s {
		delete(c.shared, s.dest)
	}
	releaseWaiters(s, e)
	if c.sock == nil {
		e.call(done)
		return
	}
	c.retired.add(s.id, retiredSub{acks: s.takesAcks(), dest: s.dest})
	// the id alone unless the client ends a durable subscription: with
	// durable and x-queue-name RabbitMQ deletes the queue
	c.writeWithReceipt(unsubscribeFrame(s), &pending{onOK: done})
}

// handle processes one frame from the broker on socket s.
func (c *upConn) handle(s *upSocket, f *stomp.Frame) {
	var e effects
	c.mu.Lock()
	if c.sock != s {
		c.mu.Unlock()
		return
	}
	if s.brokerErr != nil {
		// the broker is closing the socket after an ERROR: only the
		// RECEIPT naming the frame it refused still matters
		if f.Command != stomp.RECEIPT {
			c.mu.Unlock()
			return
		}
		c.culprit(s, f.Header("receipt-id"), &e)
		c.mu.Unlock()
		e.run()
		c.fail(s, errBrokerError)
		return
	}
	switch f.Command {
	case stomp.MESSAGE:
		c.onMessage(f, &e)
	case stomp.RECEIPT:
		c.onReceipt(f, &e)
	case stomp.ERROR:
		if c.benignError(f) || c.serverCancelled(f, &e) {
			break
		}
		c.brokerError(s, f)
		c.mu.Unlock()
		c.log.Error("relay: broker sent ERROR; reconnecting",
			"message", f.Header("message"), "body", truncate(string(f.Body), 500))
		return
	default:
		c.log.Warn("relay: unexpected frame from broker", "command", f.Command)
	}
	c.mu.Unlock()
	e.run()
}

// onMessage routes a MESSAGE to its local subscribers, under an id of
// the relay's (see msgids.go): every copy of a shared subscription's
// message has the same one, and a 1:1 client-ack delivery is recorded
// under it for the client's ACK or NACK. Caller holds c.mu.
func (c *upConn) onMessage(f *stomp.Frame, fx *effects) {
	c.r.messages.Add(1)
	if !c.quirks.localAcks {
		c.noteTag(f)
	}
	sub := f.Header("subscription")
	s := c.subs[sub]
	if s == nil {
		// unsubscribed meanwhile: a delivery that needs settling is
		// given back (settle.go)
		c.onRetiredMessage(sub, f)
		return
	}
	if s.shared {
		c.r.fanout.Add(uint64(len(s.members)))
		f.Headers = clientHeaders(f.Headers, c.ids.next(), false)
		// The body is shared by every copy: sinks must not modify it.
		for m := range s.members {
			h := f.Headers.Clone().Set("subscription", m.id)
			fx.deliver(m.c.sink, &stomp.Frame{Command: stomp.MESSAGE, Headers: h, Body: f.Body})
		}
		return
	}
	if s.st.stream && !c.admitStream(s, f) {
		return
	}
	id := c.ids.next()
	if s.clientAck == "auto" {
		f.Headers = clientHeaders(f.Headers, id, false)
	} else {
		up := f.Header("ack")
		if up == "" {
			up = f.Header("message-id") // local acks: upstream is auto-ack
		}
		e := s.acks.add(id, up)
		if c.quirks.localAcks && !s.st.stream {
			// kept to give the message back to its queue
			e.frame = &stomp.Frame{Command: f.Command, Headers: f.Headers.Clone(), Body: f.Body}
		}
		f.Headers = clientHeaders(f.Headers, id, true)
	}
	f.Headers = f.Headers.Set("subscription", s.clientID)
	fx.deliver(s.owner.sink, f)
}

// benignError recognises the ERROR RabbitMQ sends (without closing the
// connection) when a MESSAGE for a subscription it has just cancelled was
// already on its way: "Subscription not found ... tag 'T_<id>'" for an
// id the relay unsubscribed. The delivery stays unacknowledged on the
// channel, so the relay gives it back (settle.go). Caller holds c.mu and
// c.sock != nil.
func (c *upConn) benignError(f *stomp.Frame) bool {
	if f.Header("message") != "Subscription not found" {
		return false
	}
	body := string(f.Body)
	i := strings.Index(body, "'T_")
	if i < 0 {
		return false
	}
	rest := body[i+3:]
	j := strings.IndexByte(rest, '\'')
	if j < 0 || !c.retired.has(rest[:j]) {
		return false
	}
	// the adapter dropped a delivery, the channel's next (settle.go)
	c.settle.lastTag++
	if c.retired.takesAcks(rest[:j]) {
		c.log.Debug("relay: gave back a delivery that reached a cancelled subscription", "subscription", rest[:j], "tag", c.settle.lastTag)
		c.nackTag(c.settle.lastTag)
	}
	return true
}

// serverCancelled handles the ERROR RabbitMQ sends, without closing the
// connection, when it cancels a consumer itself, as when the queue or
// stream under it is deleted: the subscription is dropped (it must not be
// restored after a reconnect) and its clients are told with an ERROR for
// that subscription (see endSub). Caller holds c.mu.
func (c *upConn) serverCancelled(f *stomp.Frame, e *effects) bool {
	if f.Header("message") != "Server cancelled subscription" {
		return false
	}
	s := c.subs[f.Header("subscription")]
	if s == nil {
		// find it by the destination RabbitMQ names in the body
		for _, x := range c.subs {
			if !x.shared && strings.Contains(string(f.Body), x.dest) {
				if s != nil {
					return false // ambiguous: let the reconnect sort it out
				}
				s = x
			}
		}
	}
	if s == nil {
		return false
	}
	c.log.Warn("relay: broker cancelled a subscription", "destination", s.dest, "subscription", s.id)
	c.endSub(s, MsgSubscriptionCancelled, "", e)
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
