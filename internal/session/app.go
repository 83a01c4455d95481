package session

import (
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"chatrelay/internal/destination"
	"chatrelay/internal/i18n"
	"chatrelay/internal/router"
	"chatrelay/internal/stomp"
)

// CodeReplyTooLarge is the code of the /user/queue/errors message a
// client gets instead of an /app reply that it could not be sent.
const CodeReplyTooLarge = "reply_too_large"

// defaultMaxReply bounds replies when neither a frame limit nor a send
// queue limit is set.
const defaultMaxReply = 64 << 10

// MaxReplyBytes is the largest /app reply frame a session sends: no more
// than one client frame may carry (Limits.MaxFrameBytes) nor than the send
// queue holds (SendQueueBytes). Handlers that answer lists page them to
// fit.
func (o *Options) MaxReplyBytes() int {
	n := 0
	for _, v := range []int{o.Limits.MaxFrameBytes, o.SendQueueBytes} {
		if v > 0 && (n == 0 || v < n) {
			n = v
		}
	}
	if n == 0 {
		return defaultMaxReply
	}
	return n
}

// subscribeApp runs the @SubscribeMapping counterpart: the handler's reply
// goes back once, to this subscription only. Nothing is subscribed
// upstream. A reply larger than Options.MaxReplyBytes, or that does not
// fit in the send queue now, is not sent: the client gets an error on
// /user/queue/errors and keeps its session (it did nothing wrong but ask).
func (s *Session) subscribeApp(f *stomp.Frame, sub *subscription) error {
	dest := sub.target.Destination
	c := s.appContext(sub.target, f, true, nil)
	reply, err := s.opts.Router.Dispatch(c)
	if err != nil {
		s.userError(dest, err)
	} else if body, merr := json.Marshal(reply); merr != nil {
		s.userError(dest, merr)
	} else {
		s.reply(dest, withBody(stomp.New(stomp.MESSAGE,
			"destination", sub.target.Original,
			"subscription", sub.id,
			"message-id", newID("app-"),
			"content-type", "application/json",
		), body))
	}
	s.receipt(f.Header("receipt"))
	return nil
}

// reply queues an /app reply, or an error in its place when it is too
// large to send.
func (s *Session) reply(dest string, f *stomp.Frame) {
	it := s.encoded(f)
	if limit := s.opts.MaxReplyBytes(); it.size() > limit {
		s.log(slog.LevelInfo, "app reply too large", "destination", dest, "bytes", it.size(), "limit", limit)
		s.userError(dest, &errorText{code: CodeReplyTooLarge, key: CodeReplyTooLarge + ".limit",
			args: []string{"bytes", strconv.Itoa(it.size()), "limit", strconv.Itoa(limit)}})
		return
	}
	if s.opts.Observer != nil {
		it.at = time.Now()
	}
	if _, overflow := s.out.push(it); overflow {
		s.userError(dest, &errorText{code: CodeReplyTooLarge, key: CodeReplyTooLarge + ".queue",
			args: []string{"bytes", strconv.Itoa(it.size())}})
	}
}

// sendApp runs the @MessageMapping counterpart. A requested RECEIPT is
// sent once the handler has returned, the broker has accepted every
// message it published, and every part of the work it finishes later
// (router.Context.Later) is done; handler errors go to /user/queue/errors.
// The handler runs once the client's earlier SUBSCRIBEs are in place at the
// broker (Upstream.AwaitOrder), so that what it publishes reaches them,
// in the order the client sent its frames.
func (s *Session) sendApp(f *stomp.Frame, target destination.Target) {
	if up := s.attached(); up != nil { // none: no subscription at the broker to wait for
		up.AwaitOrder()
	}
	var track *publishTracker
	if r := f.Header("receipt"); r != "" {
		s.owe(f)
		track = &publishTracker{s: s, receipt: r, dest: target.Destination, pending: 1}
	}
	c := s.appContext(target, f, false, track)
	c.Later = func() func(error) { return s.later(target.Destination, track) }
	if s.opts.Rooms != nil {
		c.Claim = s.claim
	}
	if _, err := s.opts.Router.Dispatch(c); err != nil {
		s.userError(target.Destination, err)
	}
	track.done(nil)
}

// later returns the finish function of router.Context.Later: with a
// receipt to send, the tracker waits for it and a failure replaces the
// RECEIPT; without, a failure goes to /user/queue/errors as any handler
// error does.
func (s *Session) later(dest string, track *publishTracker) func(error) {
	var once sync.Once
	if track == nil {
		return func(err error) {
			once.Do(func() {
				if err != nil {
					s.userError(dest, err)
				}
			})
		}
	}
	track.add()
	return func(err error) {
		once.Do(func() {
			if err != nil {
				track.refused.CompareAndSwap(nil, &err)
			}
			track.done(nil)
		})
	}
}

// receiptError tells the client that the frame whose RECEIPT it waits for
// failed, in place of that RECEIPT: on its /user/queue/errors
// subscriptions, with the receipt id as header and in the body, and the
// session goes on. A client with no such subscription would never learn
// it: it gets an ERROR with the receipt id, which ends the session.
func (s *Session) receiptError(dest, receipt string, err error) {
	if !userFacing(err) {
		s.log(slog.LevelWarn, "handler failed", "destination", dest, "err", err)
	}
	p := s.describe(dest, err)
	p.Receipt = receipt
	if s.toErrorsQueue(p.encode(), stomp.Header{Key: "receipt-id", Value: receipt}) {
		return
	}
	s.log(slog.LevelInfo, "frame failed with no /user/queue/errors subscription: ending the session", "destination", dest, "err", err)
	// an ERROR's body stays in English (language.go)
	p = describeIn(i18n.En, dest, err)
	p.Receipt = receipt
	s.out.close(errorFrame("frame failed", receipt, string(p.encode())), CloseServerError, "frame failed", true)
}

// appContext builds the handler's view of a frame.
func (s *Session) appContext(target destination.Target, f *stomp.Frame, subscribe bool, track *publishTracker) *router.Context {
	return &router.Context{
		Context:     s.ctx,
		User:        s.user,
		Anonymous:   s.anonymous,
		Remote:      s.remote,
		SessionID:   s.id,
		Destination: target.Destination,
		Original:    target.Original,
		Headers:     f.Headers,
		Body:        f.Body,
		Subscribe:   subscribe,
		Broker:      &publisher{s: s, track: track},
	}
}

// userError delivers a handler error to this session's subscriptions of
// /user/queue/errors, without ending the session. With no such
// subscription the error is only logged, as Spring does.
func (s *Session) userError(dest string, err error) {
	if !userFacing(err) {
		s.log(slog.LevelWarn, "handler failed", "destination", dest, "err", err)
	}
	if !s.toErrorsQueue(s.describe(dest, err).encode()) {
		s.log(slog.LevelInfo, "handler error not delivered: no /user/queue/errors subscription", "destination", dest, "err", err)
	}
}

// toErrorsQueue queues body, with the extra headers, on each of the
// session's /user/queue/errors subscriptions; it reports false when there
// is none.
func (s *Session) toErrorsQueue(body []byte, extra ...stomp.Header) bool {
	s.subsMu.RLock()
	var ids []string
	for id, sub := range s.subs {
		if sub.target.Queue == "errors" && sub.target.Kind == destination.User {
			ids = append(ids, id)
		}
	}
	s.subsMu.RUnlock()
	for _, id := range ids {
		f := stomp.New(stomp.MESSAGE,
			"destination", "/user/queue/errors",
			"subscription", id,
			"message-id", newID("err-"),
			"content-type", "application/json",
		)
		f.Headers = append(f.Headers, extra...)
		s.enqueue(withBody(f, body))
	}
	return len(ids) > 0
}

// publisher is the router.Publisher handed to handlers: it publishes
// through the relay and, when the frame asked for a receipt, counts the
// broker's acceptances.
type publisher struct {
	s     *Session
	track *publishTracker
}

// Publish implements router.Publisher.
func (p *publisher) Publish(dest string, h stomp.Headers, body []byte) error {
	return p.s.opts.Broker.Publish(dest, h, body, p.track.add())
}

// PublishToUser implements router.Publisher.
func (p *publisher) PublishToUser(user, queue string, h stomp.Headers, body []byte) error {
	return p.Publish(destination.UserTopic(user, queue), h, body)
}

// publishTracker sends a RECEIPT when the handler, every publish it made
// and every part of its work finished later are done. A failed publish
// turns the RECEIPT into an ERROR; work finished later with an error
// turns it into an error on /user/queue/errors (receiptError).
type publishTracker struct {
	s       *Session
	receipt string
	dest    string
	pending int32
	once    sync.Once
	failed  atomic.Pointer[error] // a publish the broker refused
	refused atomic.Pointer[error] // work finished later that failed
}

// add counts one more publish and returns its acceptance callback; nil
// for a nil tracker (no receipt wanted).
func (t *publishTracker) add() func(error) {
	if t == nil {
		return nil
	}
	atomic.AddInt32(&t.pending, 1)
	return t.done
}

// done marks one publish (or the handler) finished.
func (t *publishTracker) done(err error) {
	if t == nil {
		return
	}
	if err != nil {
		t.failed.CompareAndSwap(nil, &err)
	}
	if atomic.AddInt32(&t.pending, -1) != 0 {
		return
	}
	t.once.Do(func() {
		defer t.s.paid()
		if e := t.failed.Load(); e != nil {
			t.s.out.close(errorFrame("message not accepted by the broker", t.receipt, (*e).Error()), CloseServerError, "broker refused message", true)
			return
		}
		if e := t.refused.Load(); e != nil {
			t.s.receiptError(t.dest, t.receipt, *e)
			return
		}
		t.s.receipt(t.receipt)
	})
}

// withBody sets the body of a frame built with stomp.New.
func withBody(f *stomp.Frame, body []byte) *stomp.Frame {
	f.Body = body
	return f
}
