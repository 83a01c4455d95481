package metrics

import "time"

// The methods below make a *Metrics a transport.Observer and a
// session.Observer. They are nil-safe: a nil *Metrics records nothing.

// ConnectionOpened counts an accepted connection of transport.
func (m *Metrics) ConnectionOpened(transport string) {
	if m == nil {
		return
	}
	t := transportLabel(transport)
	m.connections.WithLabelValues(t).Inc()
	m.connectionsOpened.WithLabelValues(t).Inc()
}

// ConnectionClosed uncounts an open connection of transport.
func (m *Metrics) ConnectionClosed(transport string) {
	if m == nil {
		return
	}
	m.connections.WithLabelValues(transportLabel(transport)).Dec()
}

// ConnectionRefused counts a connection of transport refused for reason.
func (m *Metrics) ConnectionRefused(transport, reason string) {
	if m == nil {
		return
	}
	m.connectionsRefuse.WithLabelValues(transportLabel(transport), reason).Inc()
}

// SessionOpened counts a CONNECTed session of transport.
func (m *Metrics) SessionOpened(transport string) {
	if m == nil {
		return
	}
	t := transportLabel(transport)
	m.sessions.WithLabelValues(t).Inc()
	m.sessionsOpened.WithLabelValues(t).Inc()
}

// SessionClosed uncounts a CONNECTed session of transport.
func (m *Metrics) SessionClosed(transport string) {
	if m == nil {
		return
	}
	m.sessions.WithLabelValues(transportLabel(transport)).Dec()
}

// FrameReceived counts a frame read from a client.
func (m *Metrics) FrameReceived(command string) {
	if m == nil {
		return
	}
	m.framesIn.WithLabelValues(commandLabel(command)).Inc()
}

// FrameSent counts a frame written to a client.
func (m *Metrics) FrameSent(command string) {
	if m == nil {
		return
	}
	m.framesOut.WithLabelValues(commandLabel(command)).Inc()
}

// MessageWritten observes the delivery latency of a MESSAGE.
func (m *Metrics) MessageWritten(latency time.Duration) {
	if m == nil {
		return
	}
	m.latency.Observe(latency.Seconds())
}

// LimitClosed counts a session closed for breaking limits.<limit>.
func (m *Metrics) LimitClosed(limit string) {
	if m == nil {
		return
	}
	m.limitCloses.WithLabelValues(limit).Inc()
}

// SlowConsumerClosed counts a session closed as a slow consumer.
func (m *Metrics) SlowConsumerClosed() {
	if m == nil {
		return
	}
	m.slowConsumers.Inc()
}
