package session

import (
	"log/slog"
	"time"

	"chatrelay/internal/stomp"
)

// Deliver implements relay.Sink: it queues a frame from the broker for the
// client. MESSAGE frames get the destination the client subscribed to
// (for a wildcard subscription: the one that matched, see
// destination.Policy.Display);
// an ERROR for one subscription ends that subscription (suberrors.go),
// any other ERROR the session. It never blocks.
func (s *Session) Deliver(f *stomp.Frame) {
	switch f.Command {
	case stomp.MESSAGE:
		s.subsMu.RLock()
		sub := s.subs[f.Header("subscription")]
		s.subsMu.RUnlock()
		if sub == nil {
			return // unsubscribed meanwhile
		}
		display := sub.display
		if sub.wildcard {
			// the destination that matched, as RabbitMQ gives it
			display = s.opts.Policy.Display(sub.target, f.Header("destination"))
		}
		if display != "" && display != f.Header("destination") {
			f = &stomp.Frame{Command: f.Command, Headers: f.Headers.Clone().Set("destination", display), Body: f.Body}
		}
	case stomp.ERROR:
		if id := f.Header("subscription"); id != "" {
			s.subscriptionEnded(id, f)
			return
		}
		s.log(slog.LevelWarn, "relay error", "message", f.Header("message"))
		s.out.close(f, CloseServerError, "broker error", true)
		return
	case stomp.RECEIPT:
		s.enqueue(f)
		s.paid()
		return
	}
	s.enqueue(f)
}

// enqueue encodes f for the client and queues it; a full queue closes the
// session as a slow consumer. A MESSAGE is stamped with the time it
// reached the session when an observer wants its write latency.
func (s *Session) enqueue(f *stomp.Frame) {
	s.push(s.encoded(f))
}

// push queues an encoded frame, as enqueue does.
func (s *Session) push(it queued) {
	if it.command == stomp.MESSAGE && s.opts.Observer != nil {
		it.at = time.Now()
	}
	ok, overflow := s.out.push(it)
	if ok || !overflow {
		return
	}
	final := errorFrame("slow consumer", "", "the client did not read fast enough; its send queue is full")
	if s.out.close(final, CloseSlowConsumer, "slow consumer", false) {
		if c := s.opts.SlowConsumers; c != nil {
			c.Add(1)
		}
		s.opts.observer().SlowConsumerClosed()
		s.log(slog.LevelWarn, "closing slow consumer", "queued_limit", s.opts.SendQueueBytes)
	}
}

// receipt queues a RECEIPT when id is not empty.
func (s *Session) receipt(id string) {
	if id != "" {
		s.enqueue(stomp.New(stomp.RECEIPT, "receipt-id", id))
	}
}
