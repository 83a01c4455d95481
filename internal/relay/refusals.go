package relay

import (
	"strings"
	"sync"
	"time"

	"chatrelay/internal/stomp"
)

// Subscriptions the broker ends. Probes (probe.go) keep most refusals off
// the shared connections; this is what happens after one the relay did not
// see coming: a subscription re-sent after a reconnect, a queue deleted
// since its probe, a frame let through unverified. RabbitMQ answers a
// SUBSCRIBE it refuses
// (access_refused for a queue the relay's broker user may not use,
// not_found for a missing exchange, precondition_failed for a queue that
// exists with other arguments) with an ERROR and then closes the
// connection, which is every client's. Re-sending that SUBSCRIBE after the
// reconnect would close it again, forever, while the client waited for a
// RECEIPT that never comes. So the relay finds out which SUBSCRIBE it was,
// drops it, and tells its client with an ERROR naming that one
// subscription (see Sink); the other subscriptions come back with the
// reconnect. It finds the SUBSCRIBE by its receipt: RabbitMQ 3.10 stops
// at the frame it refuses and still sends that frame's RECEIPT after the
// ERROR, before it closes the socket. Without one (a closed socket, a
// broker that does not do this) it looks for the queue or exchange the
// ERROR names among the SUBSCRIBEs still waiting for their receipt. The
// refusal is remembered for a while, so that the same SUBSCRIBE again is
// refused at once instead of costing every client of the connection a
// reconnect (not_found excepted: it is what a starting broker answers for
// a queue it has not recovered yet).
//
// A subscription that was in place before, or that waited for the
// connection to come back, re-sent right after a reconnect, is not dropped
// at once: right after a restart RabbitMQ answers not_found
// ("home node ... is down or inaccessible") for a stream or queue it is
// still recovering, for a fraction of a second, and a cluster may take
// longer to move a queue. The connection retries, its backoff started
// over from reconnect_min once, and the subscription is dropped only when
// the broker still refuses it restoreGrace after the first refusal.

// Messages of the ERROR frames that end one subscription (see Sink).
const (
	// MsgSubscribeRefused: the broker refused the SUBSCRIBE; nothing is
	// subscribed.
	MsgSubscribeRefused = "subscription refused by the broker"
	// MsgSubscriptionCancelled: the broker ended a subscription that was
	// in place, as when its queue or stream was deleted.
	MsgSubscriptionCancelled = "subscription cancelled by the broker"
)

const (
	// errorLinger bounds how long a socket that got an ERROR waits for
	// the RECEIPT that names the refused frame, or for the broker to
	// close the socket, before the relay closes it.
	errorLinger = time.Second
	// refusalMemory is how long a refused SUBSCRIBE is refused again
	// without asking the broker.
	refusalMemory = 10 * time.Second
	// maxRefusals bounds the refusals remembered.
	maxRefusals = 256
)

// restoreGrace is how long a subscription kept for another try (see
// refuse) may be refused on reconnects before it is dropped; a variable
// so that tests can shorten it.
var restoreGrace = 30 * time.Second

// brokerError starts the end of socket s after the broker's ERROR f:
// frames other than the RECEIPT that names the refused frame are
// ignored, new SENDs wait in the outbox, and the socket is failed when
// that RECEIPT arrives, when the broker closes the socket, or after
// errorLinger. Caller holds c.mu.
func (c *upConn) brokerError(s *upSocket, f *stomp.Frame) {
	s.brokerErr = f
	s.restoring = c.state == stateRestoring
	if c.state != stateClosed {
		c.state = stateDown
	}
	c.restored.Store(false)
	s.errTimer = time.AfterFunc(errorLinger, func() {
		// runs on the timer's goroutine; owns nothing
		c.fail(s, errBrokerError)
	})
}

// culprit handles the first RECEIPT after the broker's ERROR on s: the
// receipt of the frame the broker refused. If that was a SUBSCRIBE, the
// subscription is refused. Caller holds c.mu.
func (c *upConn) culprit(s *upSocket, receiptID string, e *effects) {
	s.attributed = true
	p := c.receipts[receiptID]
	if p == nil || p.sub == nil || c.subs[p.sub.id] != p.sub {
		return
	}
	delete(c.receipts, receiptID)
	c.refuse(s, p.sub, s.brokerErr, p.restore, e)
}

// refuseNamed refuses the one SUBSCRIBE still waiting for its receipt on
// s whose queue or exchange the broker's ERROR f names, when no RECEIPT
// named it. Caller holds c.mu.
func (c *upConn) refuseNamed(s *upSocket, f *stomp.Frame, e *effects) {
	queue, exchange := quoted(string(f.Body), "queue '"), quoted(string(f.Body), "exchange '")
	if queue == "" && exchange == "" {
		return
	}
	var found *upSub
	for _, x := range c.subs {
		match := queue != "" && (x.dest == "/queue/"+queue || x.dest == "/amq/queue/"+queue) ||
			exchange != "" && (x.dest == "/exchange/"+exchange || strings.HasPrefix(x.dest, "/exchange/"+exchange+"/"))
		if x.confirmed || !match {
			continue
		}
		if found != nil {
			return // ambiguous: the next socket's receipts will tell
		}
		found = x
	}
	if found != nil {
		c.refuse(s, found, f, s.restoring, e)
	}
}

// quoted returns the text between prefix and the next quote in s, or "".
func quoted(s, prefix string) string {
	_, rest, ok := strings.Cut(s, prefix)
	if !ok {
		return ""
	}
	name, _, ok := strings.Cut(rest, "'")
	if !ok {
		return ""
	}
	return name
}

// refuse ends sub, and every other subscription of the connection that
// makes the same SUBSCRIBE, after the broker refused it on socket s with
// ERROR f, and remembers the refusal. A subscription that was in place
// before, or all of them when the refused SUBSCRIBE was re-sent right
// after connecting (restored), is kept for another try within
// restoreGrace. Caller holds c.mu.
func (c *upConn) refuse(s *upSocket, sub *upSub, f *stomp.Frame, restored bool, e *effects) {
	reason := f.Header("message")
	if reason == "" {
		reason = "ERROR"
	}
	key := sub.refusalKey()
	detail := refusalDetail(reason)
	now := time.Now()
	ended := false
	for _, x := range c.subs {
		if x.refusalKey() != key {
			continue
		}
		if x.established || restored {
			if x.refusedSince.IsZero() {
				x.refusedSince = now
			}
			if now.Sub(x.refusedSince) < restoreGrace {
				s.keptRefused = true
				c.log.Warn("relay: broker refused a subscription it had before; retrying", "destination", x.dest, "subscription", x.id, "reason", reason)
				continue
			}
		}
		c.log.Warn("relay: broker refused a subscription", "destination", x.dest, "subscription", x.id, "reason", reason)
		c.endSub(x, MsgSubscribeRefused, detail, e)
		ended = true
	}
	if ended {
		c.r.refused.Add(1)
	}
	if ended && !transientRefusal(reason, string(f.Body)) {
		c.r.refusals.add(key, reason)
	}
}

// transientRefusal reports whether a broker refusal says nothing about
// the next try, so that it is not remembered: not_found (a restarting
// broker answers it for a queue it has not recovered yet) and RabbitMQ's
// precondition_failed for a stream with no running replica on the node
// the relay is connected to (a stream just declared, or one whose replica
// here is restarting: RabbitMQ reads a stream from a local replica only).
func transientRefusal(reason, body string) bool {
	return reason == "not_found" ||
		reason == "precondition_failed" && strings.Contains(body, "running replica on the local node")
}

// refusalDetail is the body of a refusal's ERROR. It names the broker's
// error (access_refused, not_found, ...) but not its text, which names
// the relay's broker user and vhost.
func refusalDetail(reason string) string {
	return "the broker answered " + reason
}

// refusalKey identifies the SUBSCRIBE s makes: its destination and the
// headers that shape it (not the ack mode, which decides no refusal).
func (s *upSub) refusalKey() string {
	return subscribeKey(s.dest, s.headers)
}

// subscribeKey is refusalKey for a destination and SUBSCRIBE headers.
func subscribeKey(dest string, h stomp.Headers) string {
	var b strings.Builder
	b.WriteString(dest)
	for _, kv := range h {
		switch kv.Key {
		case "ack", "receipt", "id", "destination":
			continue
		}
		b.WriteString("\x00" + kv.Key + ":" + kv.Value)
	}
	return b.String()
}

// endSub drops s, which the broker has already ended (no UNSUBSCRIBE is
// sent, and it is not restored after a reconnect), and tells each of its
// clients with an ERROR for that subscription: message says why, detail
// is the body. A client still waiting for its SUBSCRIBE's receipt gets
// it as the ERROR's receipt-id instead of a RECEIPT. Caller holds c.mu.
func (c *upConn) endSub(s *upSub, message, detail string, e *effects) {
	pending := make(map[member]string, len(s.waiters))
	for _, w := range s.waiters {
		pending[member{w.c, w.id}] = w.receipt
	}
	s.waiters = nil
	lowerFences(s) // nothing left to wait for
	tell := func(m member) {
		e.deliver(m.c.sink, subErrorFrame(m.id, message, detail, pending[m]))
	}
	if s.shared {
		for m := range s.members {
			tell(m)
		}
	} else {
		s.acks.takeAll()
		tell(member{s.owner, s.clientID})
	}
	delete(c.subs, s.id)
	if s.shared && c.shared[s.dest] == s {
		delete(c.shared, s.dest)
	}
	c.retired.add(s.id, retiredSub{})
}

// subErrorFrame is the ERROR that ends the client's subscription id and
// nothing else (see Sink).
func subErrorFrame(id, message, detail, receipt string) *stomp.Frame {
	return stomp.NewError(message, receipt, detail, "subscription", id)
}

// refusals remembers recently refused SUBSCRIBEs by refusalKey.
type refusals struct {
	mu sync.Mutex
	m  map[string]refusal
}

// refusal is one remembered refusal.
type refusal struct {
	reason string
	until  time.Time
}

// add remembers key's refusal for refusalMemory (see addFor).
func (r *refusals) add(key, reason string) { r.addFor(key, reason, refusalMemory) }

// addFor remembers key's refusal for d, forgetting expired ones (or, with
// maxRefusals still remembered, any one) to make room.
func (r *refusals) addFor(key, reason string, d time.Duration) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]refusal)
	}
	if _, ok := r.m[key]; !ok && len(r.m) >= maxRefusals {
		for k, x := range r.m {
			if now.After(x.until) {
				delete(r.m, k)
			}
		}
		for k := range r.m {
			if len(r.m) < maxRefusals {
				break
			}
			delete(r.m, k)
		}
	}
	r.m[key] = refusal{reason: reason, until: now.Add(d)}
}

// check returns the reason key was refused, if that was recent.
func (r *refusals) check(key string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	x, ok := r.m[key]
	if !ok {
		return "", false
	}
	if time.Now().After(x.until) {
		delete(r.m, key)
		return "", false
	}
	return x.reason, true
}
