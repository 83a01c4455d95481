package relay

import "time"

// Stats is a snapshot of the relay's upstream side, for metrics. Counters
// only grow over the relay's life.
type Stats struct {
	// Upstreams has one entry per upstream connection, by index.
	Upstreams []UpstreamStats
	// SharedSubscriptions counts the upstream subscriptions shared by
	// every local subscriber of a /topic destination; SingleSubscriptions
	// the 1:1 ones of one client subscription each.
	SharedSubscriptions int
	SingleSubscriptions int
	// MessagesReceived counts the MESSAGE frames read from the broker.
	MessagesReceived uint64
	// FanoutDeliveries counts the copies of those MESSAGEs delivered to
	// local subscribers of shared subscriptions.
	FanoutDeliveries uint64
}

// UpstreamStats describes one upstream connection.
type UpstreamStats struct {
	// Connected is true while the connection has a broker socket
	// (restoring its subscriptions or up).
	Connected bool
	// Reconnects counts the connects after the first.
	Reconnects uint64
	// Backoff is the nominal reconnect delay being waited out now (the
	// wait may end early when the broker is seen listening again); 0
	// while connected or connecting.
	Backoff time.Duration
	// OutboxFrames and OutboxBytes are what waits in the outbox for the
	// connection to come back (or for its subscriptions to be restored).
	OutboxFrames int
	OutboxBytes  int
}

// Stats returns a snapshot of the relay's connections and counters. It
// locks each upstream connection briefly, one at a time.
func (r *Relay) Stats() Stats {
	st := Stats{
		Upstreams:        make([]UpstreamStats, len(r.conns)),
		MessagesReceived: r.messages.Load(),
		FanoutDeliveries: r.fanout.Load(),
	}
	for i, c := range r.conns {
		u := &st.Upstreams[i]
		if n := c.connects.Load(); n > 1 {
			u.Reconnects = uint64(n - 1)
		}
		c.mu.Lock()
		u.Connected = c.sock != nil
		u.Backoff = time.Duration(c.backoffNominal.Load())
		u.OutboxFrames = c.outbox.len()
		u.OutboxBytes = c.outbox.bytes
		st.SharedSubscriptions += len(c.shared)
		st.SingleSubscriptions += len(c.subs) - len(c.shared)
		c.mu.Unlock()
	}
	return st
}
