package session

import "time"

// Observer is told what sessions do, for metrics; Options.Observer may be
// nil. Its methods are called from readers, writers and relay deliveries
// of many sessions at once and must not block.
type Observer interface {
	// SessionOpened: a session of transport ("ws", "sockjs") has been
	// CONNECTed.
	SessionOpened(transport string)
	// SessionClosed: a session counted by SessionOpened has ended.
	SessionClosed(transport string)
	// FrameReceived: a frame with command was read from a client.
	FrameReceived(command string)
	// FrameSent: a frame with command was written to a client's socket.
	FrameSent(command string)
	// MessageWritten: a MESSAGE was written to a client's socket, latency
	// after it reached the session (from the relay's fan-out of a broker
	// MESSAGE, from a room feed, or from an /app handler).
	MessageWritten(latency time.Duration)
	// LimitClosed: a session is being closed for breaking the named limit
	// (the config key under limits, such as "max_frame_bytes").
	LimitClosed(limit string)
	// SlowConsumerClosed: a session is being closed because its client
	// did not read fast enough (limits.send_queue_bytes).
	SlowConsumerClosed()
}

// Limit names passed to Observer.LimitClosed besides the stomp.Limit*
// names of the frame decoder.
const (
	LimitPreconnectBytes  = "preconnect_bytes"
	LimitMaxFrameBytes    = "max_frame_bytes"
	LimitConnsPerUser     = "max_connections_per_user"
	LimitMaxSubscriptions = "max_subscriptions"
	LimitMaxTransactions  = "max_transactions"
	LimitMaxTxBytes       = "max_transaction_bytes"
	LimitSendAbuse        = "send_abuse"
)

// observer returns the sessions' observer, or one that does nothing.
func (o *Options) observer() Observer {
	if o.Observer == nil {
		return nopObserver{}
	}
	return o.Observer
}

// countOpened reports the session to the observer once CONNECT has
// succeeded, unless it has ended meanwhile; finish reports its end.
func (s *Session) countOpened() {
	s.upMu.Lock()
	defer s.upMu.Unlock()
	if s.upReleased || s.opened {
		return
	}
	s.opened = true
	s.opts.observer().SessionOpened(s.transport)
}

// countClosed reports the end of a session countOpened reported. Caller
// holds upMu and has set upReleased.
func (s *Session) countClosed() {
	if s.opened {
		s.opened = false
		s.opts.observer().SessionClosed(s.transport)
	}
}

// nopObserver observes nothing.
type nopObserver struct{}

func (nopObserver) SessionOpened(string)         {}
func (nopObserver) SessionClosed(string)         {}
func (nopObserver) FrameReceived(string)         {}
func (nopObserver) FrameSent(string)             {}
func (nopObserver) MessageWritten(time.Duration) {}
func (nopObserver) LimitClosed(string)           {}
func (nopObserver) SlowConsumerClosed()          {}
