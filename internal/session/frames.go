package session

import (
	"errors"
	"fmt"
	"log/slog"

	"chatrelay/internal/destination"
	"chatrelay/internal/relay"
	"chatrelay/internal/stomp"
)

// handle processes one client frame. It returns an error when the session
// must end (the ERROR frame is already queued).
func (s *Session) handle(f *stomp.Frame) error {
	s.opts.observer().FrameReceived(f.Command)
	if !s.connected {
		if f.Command == stomp.CONNECT || f.Command == stomp.STOMP {
			return s.connect(f)
		}
		return s.failFrame(f, Close{
			Code:    CloseProtocol,
			Message: msgIllegalCommand,
			Detail:  fmt.Sprintf("got %s before CONNECT: log in with CONNECT first", f.Command),
		})
	}
	switch f.Command {
	case stomp.SUBSCRIBE:
		return s.subscribe(f)
	case stomp.UNSUBSCRIBE:
		return s.unsubscribe(f)
	case stomp.SEND:
		return s.send(f)
	case stomp.ACK, stomp.NACK:
		return s.ack(f)
	case stomp.BEGIN, stomp.COMMIT, stomp.ABORT:
		return s.transaction(f)
	case stomp.DISCONNECT:
		return s.disconnect(f)
	case stomp.CONNECT, stomp.STOMP:
		return s.failFrame(f, Close{
			Code:    CloseProtocol,
			Message: "already connected",
			Detail:  "CONNECT may be sent only once",
		})
	default:
		return s.failFrame(f, Close{
			Code:    CloseProtocol,
			Message: msgBadCommand,
			Detail:  fmt.Sprintf("unknown command %q", f.Command),
		})
	}
}

// require returns the value of a mandatory header, or sends the ERROR.
func (s *Session) require(f *stomp.Frame, key string) (string, error) {
	v, ok := f.Headers.Get(key)
	if !ok || v == "" {
		return "", s.failFrame(f, Close{
			Code:    CloseProtocol,
			Message: missingMessage(f.Command, key),
			Detail:  fmt.Sprintf("%s frame requires a %q header", f.Command, key),
		})
	}
	return v, nil
}

func (s *Session) subscribe(f *stomp.Frame) error {
	dest, err := s.require(f, "destination")
	if err != nil {
		return err
	}
	id, ok := f.Headers.Get("id")
	if !ok || id == "" {
		if s.writeVersion() != stomp.V10 {
			_, err := s.require(f, "id")
			return err
		}
		id = dest // STOMP 1.0 makes the id optional
	}
	// every SUBSCRIBE costs a token before any other work is done for it:
	// an /app/... one answers with a reply, a broker one makes the broker
	// create (and delete) a queue
	if ok, err := s.checkSubscribeRate(f, dest, id); !ok {
		return err
	}
	s.subsMu.RLock()
	_, dup := s.subs[id]
	n := len(s.subs)
	s.subsMu.RUnlock()
	if dup {
		return s.failFrame(f, Close{
			Code:    CloseProtocol,
			Message: "duplicate subscription id",
			Detail:  fmt.Sprintf("subscription id %q is already in use on this connection", id),
		})
	}
	if s.opts.MaxSubscriptions > 0 && n >= s.opts.MaxSubscriptions {
		s.opts.observer().LimitClosed(LimitMaxSubscriptions)
		return s.failFrame(f, Close{
			Code:    ClosePolicy,
			Message: "too many subscriptions",
			Detail:  fmt.Sprintf("at most %d subscriptions per connection", s.opts.MaxSubscriptions),
		})
	}
	target, headers, err := s.opts.Policy.Subscribe(dest, f.Headers)
	if err != nil {
		return s.refuse(f, err)
	}
	// clients see the destination they subscribed to, not the alias or
	// the internal topic behind it
	sub := &subscription{id: id, target: target, display: target.Original, wildcard: target.Wildcard()}
	s.subsMu.Lock()
	s.subs[id] = sub
	s.subsMu.Unlock()
	if target.Kind == destination.Broker {
		if room, ok := s.roomOf(target.Destination); ok {
			return s.subscribeRoom(f, sub, room, headers)
		}
		if room, ok := s.sideRoomOf(target.Destination); ok {
			if err := s.mayFollowSide(f, sub, room); err != nil {
				return err
			}
		}
	}
	// history headers mean something for rooms only; never forward them
	headers = headers.Del(destination.HistoryHeader).Del(destination.ResumeHeader)
	switch target.Kind {
	case destination.App:
		return s.subscribeApp(f, sub)
	case destination.User:
		s.owe(f)
		err = s.up().Subscribe(id, destination.UserTopic(s.user, target.Queue), headers)
	default:
		if durableTopic(target, headers) {
			if headers, err = s.prepareDurable(f, sub, headers); err != nil {
				s.dropSub(id)
				return err
			}
		}
		s.owe(f)
		err = s.up().Subscribe(id, target.Destination, headers)
	}
	if err != nil {
		s.dropSub(id)
		return s.failFrame(f, Close{Code: CloseServerError, Message: "subscribe failed", Detail: err.Error()})
	}
	s.subsMu.Lock()
	sub.upstream = true
	s.subsMu.Unlock()
	return nil
}

func (s *Session) unsubscribe(f *stomp.Frame) error {
	id, ok := f.Headers.Get("id")
	if !ok && s.writeVersion() == stomp.V10 {
		id, ok = f.Headers.Get("destination")
	}
	if !ok || id == "" {
		_, err := s.require(f, "id")
		return err
	}
	sub := s.dropSub(id)
	receipt := f.Header("receipt")
	if sub != nil && sub.room != "" {
		s.leaveRoom(sub)
		s.receipt(receipt)
		return nil
	}
	if sub == nil || sub.target.Kind == destination.App {
		// nothing upstream: unknown ids are ignored, as Spring and
		// RabbitMQ do, but a requested receipt is still honoured
		s.receipt(receipt)
		return nil
	}
	s.owe(f)
	unsubscribe := s.up().Unsubscribe
	if sub.durable && durableRequested(f.Headers) {
		unsubscribe = s.up().UnsubscribeDurable
	}
	if err := unsubscribe(id, receipt); err != nil {
		return s.failFrame(f, Close{
			Code:    CloseServerError,
			Message: "unsubscribe failed",
			Detail:  err.Error(),
		})
	}
	return nil
}

func (s *Session) dropSub(id string) *subscription {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	sub := s.subs[id]
	delete(s.subs, id)
	return sub
}

func (s *Session) send(f *stomp.Frame) error {
	dest, err := s.require(f, "destination")
	if err != nil {
		return err
	}
	// every SEND costs a token before any other work is done for it
	if ok, err := s.checkSendRate(f, dest); !ok {
		return err
	}
	target, headers, err := s.opts.Policy.Send(dest, f.Headers)
	if err != nil {
		return s.refuse(f, err)
	}
	if tx := f.Header("transaction"); tx != "" {
		if !s.inTx(tx) {
			return s.failFrame(f, Close{
				Code:    CloseProtocol,
				Message: msgBadTransaction,
				Detail:  fmt.Sprintf("transaction %q was not begun", tx),
			})
		}
		if err := s.holdInTx(f, tx); err != nil {
			return err
		}
	}
	switch target.Kind {
	case destination.App:
		if f.Header("transaction") != "" {
			// handlers act at once; ABORT could not undo them
			return s.failFrame(f, Close{
				Code:    CloseProtocol,
				Message: "transactions are not supported for /app destinations",
				Detail:  "send /app frames outside BEGIN/COMMIT",
			})
		}
		s.sendApp(f, target)
		return nil
	case destination.User:
		return s.refuse(f, &destination.Rejection{Destination: dest, Rule: "policy.client_send", Reason: "clients cannot send to user destinations"})
	}
	s.owe(f)
	if err := s.up().Send(target.Destination, headers, f.Body); err != nil {
		var refused *relay.RefusedError
		if errors.As(err, &refused) {
			// the broker's reason, as RabbitMQ's own ERROR gives it
			return s.failFrame(f, Close{Code: ClosePolicy, Message: refused.Reason, Detail: err.Error()})
		}
		return s.failFrame(f, Close{Code: CloseServerError, Message: "send failed", Detail: err.Error()})
	}
	return nil
}

func (s *Session) ack(f *stomp.Frame) error {
	if s.writeVersion() == stomp.V12 {
		if _, err := s.require(f, "id"); err != nil {
			return err
		}
	} else if _, err := s.require(f, "message-id"); err != nil {
		return err
	}
	if tx := f.Header("transaction"); tx != "" && !s.inTx(tx) {
		return s.failFrame(f, Close{
			Code:    CloseProtocol,
			Message: msgBadTransaction,
			Detail:  fmt.Sprintf("transaction %q was not begun", tx),
		})
	}
	s.owe(f)
	var err error
	if f.Command == stomp.ACK {
		err = s.up().Ack(f.Headers)
	} else {
		err = s.up().Nack(f.Headers)
	}
	if err != nil {
		return s.failFrame(f, Close{
			Code:    CloseProtocol,
			Message: "invalid " + f.Command,
			Detail:  err.Error(),
		})
	}
	return nil
}

func (s *Session) transaction(f *stomp.Frame) error {
	tx, err := s.require(f, "transaction")
	if err != nil {
		return err
	}
	receipt := f.Header("receipt")
	s.owe(f)
	switch f.Command {
	case stomp.BEGIN:
		if s.inTx(tx) {
			return s.failFrame(f, Close{
				Code:    CloseProtocol,
				Message: "duplicate transaction",
				Detail:  fmt.Sprintf("transaction %q is already open", tx),
			})
		}
		if s.opts.MaxTransactions > 0 && len(s.txs) >= s.opts.MaxTransactions {
			s.opts.observer().LimitClosed(LimitMaxTransactions)
			return s.failFrame(f, Close{
				Code:    ClosePolicy,
				Message: "too many transactions",
				Detail:  fmt.Sprintf("at most %d open transactions per connection", s.opts.MaxTransactions),
			})
		}
		err = s.up().Begin(tx, receipt)
		if s.txs == nil { // made at the first BEGIN: most sessions never open one
			s.txs = map[string]int{}
		}
		s.txs[tx] = 0
	default:
		if !s.inTx(tx) {
			return s.failFrame(f, Close{
				Code:    CloseProtocol,
				Message: msgBadTransaction,
				Detail:  fmt.Sprintf("transaction %q was not begun", tx),
			})
		}
		s.txBytes -= s.txs[tx]
		delete(s.txs, tx)
		if f.Command == stomp.COMMIT {
			err = s.up().Commit(tx, receipt)
		} else {
			err = s.up().Abort(tx, receipt)
		}
	}
	var refused *relay.RefusedError
	if errors.As(err, &refused) {
		// a SEND of the transaction, refused by the broker at COMMIT
		return s.failFrame(f, Close{Code: ClosePolicy, Message: refused.Reason, Detail: err.Error()})
	}
	if err != nil {
		return s.failFrame(f, Close{Code: CloseProtocol, Message: f.Command + " failed", Detail: err.Error()})
	}
	return nil
}

// refuse sends the ERROR for a policy rejection and ends the session:
// the frame never reaches the broker.
func (s *Session) refuse(f *stomp.Frame, err error) error {
	var r *destination.Rejection
	if errors.As(err, &r) {
		s.log(slog.LevelInfo, "frame refused", "command", f.Command, "destination", r.Destination, "rule", r.Rule)
		return s.failFrame(f, Close{Code: ClosePolicy, Message: refusalMessage(r), Detail: err.Error()})
	}
	return s.failFrame(f, Close{Code: ClosePolicy, Message: "frame refused", Detail: err.Error()})
}

// inTx reports whether transaction tx is open.
func (s *Session) inTx(tx string) bool {
	_, ok := s.txs[tx]
	return ok
}

// holdInTx counts SEND f against the bytes the session's open
// transactions may hold until COMMIT (limits.max_transaction_bytes): the
// relay, or the broker, keeps them till then.
func (s *Session) holdInTx(f *stomp.Frame, tx string) error {
	n := len(f.Body)
	for _, h := range f.Headers {
		n += len(h.Key) + len(h.Value) + 2
	}
	if max := s.opts.MaxTxBytes; max > 0 && s.txBytes+n > max {
		s.opts.observer().LimitClosed(LimitMaxTxBytes)
		return s.failFrame(f, Close{
			Code:    ClosePolicy,
			Message: "transaction too large",
			Detail:  fmt.Sprintf("open transactions may hold at most %d bytes of SENDs until COMMIT (limits.max_transaction_bytes)", max),
		})
	}
	s.txs[tx] += n
	s.txBytes += n
	return nil
}
