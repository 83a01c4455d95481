package relay

import "time"

// A client's frames must take effect at the broker in the order the client
// sent them, whichever upstream connections carry them. Frames on one
// connection keep their order (RabbitMQ and the embedded broker process a
// connection's frames in turn), but there is no order between two
// connections: a client's shared topic subscription lives on the
// connection chosen by the destination's hash, its SENDs on its pinned
// connection, and a SEND sent right after the SUBSCRIBE could reach the
// broker before the subscription exists and miss its own client.
//
// So when a client joins a shared subscription that lives on another
// connection and that the broker has not confirmed yet, the client gets a
// fence. Before the client next publishes (Send, Commit, and, through
// AwaitOrder, the handlers' publishes for an /app SEND), it waits until
// each of its fences is down: the broker confirmed the subscription, the
// subscription ended, or the client left it. A shared subscription already confirmed needs
// no fence, nor does one on the client's own connection.
//
// The wait blocks the caller (the session's reader), so frames the client
// sends meanwhile wait in its socket: nothing more is buffered, and the
// client's usual limits apply to them when they are read. It is bounded
// like the reconnect's hold on the outbox (Relay.orderGrace): a broker
// that does not answer delays the client's next publish by that much at
// most, after which the publish goes on unordered, as it went before. A
// client closed meanwhile, or the relay, ends the wait at once.
//
// Only publishing waits. Subscriptions commute with each other, ACK and
// NACK concern the client's own 1:1 subscriptions on its pinned
// connection, and an UNSUBSCRIBE takes effect locally at once. The other
// way round is not ordered either: a message the client published just
// before it joined a shared subscription may reach it, as it may reach
// any client that joins a shared subscription late.

// fence is one shared subscription a client joined on another upstream
// connection before the broker confirmed it.
type fence struct {
	done chan struct{} // closed once the fence is down
	down bool          // guarded by the mutex of the upConn holding the subscription
}

func newFence() *fence { return &fence{done: make(chan struct{})} }

// lower takes the fence down (once). Caller holds the mutex of the
// upConn holding the subscription.
func (f *fence) lower() {
	if !f.down {
		f.down = true
		close(f.done)
	}
}

// isDown reports whether the fence is down; safe without a lock.
func (f *fence) isDown() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// lowerFences takes down every fence on s. Caller holds the mutex of the
// upConn holding s.
func lowerFences(s *upSub) {
	for _, f := range s.fences {
		f.lower()
	}
	s.fences = nil
}

// leaveFence takes down the fence of member m, which leaves s: it has
// nothing left to wait for, and s keeps no fence of a former member.
// Caller holds the mutex of the upConn holding s.
func leaveFence(s *upSub, m member) {
	if f := s.fences[m]; f != nil {
		f.lower()
		delete(s.fences, m)
	}
}

// orderGrace bounds how long order with subscriptions the broker has not
// confirmed yet holds a publish back: a connection's outbox after a
// reconnect (upConn.maybeFlush), a client's publish behind its fences.
func (r *Relay) orderGrace() time.Duration {
	return max(flushGrace, 2*r.cfg.ReconnectMax)
}

// fenceShared gives c, joining shared subscription s on conn as id, a
// fence when order needs one (see above). Caller holds c.mu and conn.mu.
func (c *Client) fenceShared(conn *upConn, s *upSub, id string) {
	if conn == c.home || s.confirmed {
		return
	}
	f := newFence()
	if s.fences == nil {
		s.fences = make(map[member]*fence)
	}
	s.fences[member{c, id}] = f
	var kept []*fence // never in place: AwaitOrder may hold the old slice
	for _, x := range c.fences {
		if !x.isDown() {
			kept = append(kept, x)
		}
	}
	c.fences = append(kept, f)
}

// AwaitOrder waits until the broker has confirmed every shared
// subscription the client joined on another upstream connection, so that
// what is published next on the client's behalf reaches them (see the
// top of order.go). Call it before publishing for the client on some
// other path than Send, as /app handlers do through Relay.Publish. It
// returns at once when there is nothing to wait for, and after
// Relay.orderGrace at most; it never fails: a closed client or relay ends
// the wait, and the publish that follows fails as it would have.
func (c *Client) AwaitOrder() {
	c.mu.Lock()
	fences := c.fences
	c.mu.Unlock()
	if len(fences) == 0 {
		return
	}
	timer := time.NewTimer(c.r.orderGrace())
	defer timer.Stop()
wait:
	for _, f := range fences {
		select {
		case <-f.done:
		case <-c.gone:
			return
		case <-c.r.ctx.Done():
			return
		case <-timer.C:
			c.r.log.Warn("relay: broker did not confirm a client's subscription in time; publishing without waiting for it",
				"waited", c.r.orderGrace())
			break wait
		}
	}
	// the fences waited for (down or timed out) hold nothing back again
	c.mu.Lock()
	defer c.mu.Unlock()
	var kept []*fence // never in place: AwaitOrder may hold the old slice
	for _, x := range c.fences {
		if !x.isDown() && !waitedFor(fences, x) {
			kept = append(kept, x)
		}
	}
	c.fences = kept
}

// waitedFor reports whether f is one of fences.
func waitedFor(fences []*fence, f *fence) bool {
	for _, x := range fences {
		if x == f {
			return true
		}
	}
	return false
}
