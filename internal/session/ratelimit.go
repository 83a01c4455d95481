package session

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"chatrelay/internal/stomp"
)

// CodeRateLimited is the code of the /user/queue/errors message a client
// gets for a SEND or SUBSCRIBE refused by its rate limit.
const CodeRateLimited = "rate_limited"

// SendLimits bound how fast one session may SEND (limits.send_*) and
// SUBSCRIBE (limits.subscribe_*).
type SendLimits struct {
	// Rate is the sustained SENDs per second allowed; 0 means unlimited.
	Rate float64
	// Burst is how many SENDs may come at once above Rate.
	Burst int
	// SubscribeRate is the sustained SUBSCRIBEs per second allowed (every
	// destination, /app/... included); 0 means unlimited.
	SubscribeRate float64
	// SubscribeBurst is how many SUBSCRIBEs may come at once above
	// SubscribeRate.
	SubscribeBurst int
	// Abuse is how many refused SENDs and SUBSCRIBEs (together) within
	// AbuseWindow are tolerated: one more ends the session. 0 means
	// refusals never end it.
	Abuse       int
	AbuseWindow time.Duration
}

// sendLimiter is one session's SEND and SUBSCRIBE rate limits, which
// share one abuse budget. Only the reader goroutine uses it, so it needs
// no lock.
type sendLimiter struct {
	tokens    *rate.Limiter // SENDs; nil when unlimited
	subTokens *rate.Limiter // SUBSCRIBEs; nil when unlimited
	abuse     int
	window    time.Duration
	// refused holds the times of the last abuse refusals, a ring whose
	// oldest entry is at next once it is full; it is allocated at the
	// first refusal, so sessions that keep to the rate hold none
	refused []time.Time
	next    int
}

// newSendLimiter returns the limiter for l, or nil when both l.Rate and
// l.SubscribeRate are 0 (unlimited).
func newSendLimiter(l SendLimits) *sendLimiter {
	if l.Rate <= 0 && l.SubscribeRate <= 0 {
		return nil
	}
	sl := &sendLimiter{}
	if l.Rate > 0 {
		sl.tokens = rate.NewLimiter(rate.Limit(l.Rate), max(l.Burst, 1))
	}
	if l.SubscribeRate > 0 {
		sl.subTokens = rate.NewLimiter(rate.Limit(l.SubscribeRate), max(l.SubscribeBurst, 1))
	}
	if l.Abuse > 0 && l.AbuseWindow > 0 {
		sl.abuse = l.Abuse
		sl.window = l.AbuseWindow
	}
	return sl
}

// allow takes a token for one SEND at now. When none is left it reports
// !ok, and abusive when this refusal is more than abuse within the window.
// It never waits.
func (l *sendLimiter) allow(now time.Time) (ok, abusive bool) {
	if l == nil {
		return true, false
	}
	return l.take(l.tokens, now)
}

// allowSubscribe is allow for one SUBSCRIBE.
func (l *sendLimiter) allowSubscribe(now time.Time) (ok, abusive bool) {
	if l == nil {
		return true, false
	}
	return l.take(l.subTokens, now)
}

// take takes a token from tokens (nil: unlimited); a refusal counts in
// the abuse budget shared by SENDs and SUBSCRIBEs.
func (l *sendLimiter) take(tokens *rate.Limiter, now time.Time) (ok, abusive bool) {
	if tokens == nil || tokens.AllowN(now, 1) {
		return true, false
	}
	if l.abuse == 0 {
		return false, false
	}
	if l.refused == nil {
		l.refused = make([]time.Time, 0, l.abuse)
	}
	if len(l.refused) < l.abuse {
		l.refused = append(l.refused, now)
		return false, false
	}
	// the ring is full: the oldest of the last abuse refusals decides
	abusive = now.Sub(l.refused[l.next]) < l.window
	l.refused[l.next] = now
	l.next = (l.next + 1) % l.abuse
	return false, abusive
}

// checkSendRate takes a token for SEND f to dest (the client's
// destination). Within the limit it returns (true, nil) and the SEND goes
// on. Over the limit the SEND is dropped: the client gets a rate_limited
// message on its /user/queue/errors subscriptions and then the SEND's
// RECEIPT, if it asked for one (the connection stays up, so it may retry
// later), and it returns (false, nil). When refusals within the abuse window exceed the limit, the
// session ends with ERROR "rate limit exceeded" and it returns the error
// that stops the reader.
func (s *Session) checkSendRate(f *stomp.Frame, dest string) (bool, error) {
	ok, abusive := s.sendLimit.allow(time.Now())
	if ok {
		return true, nil
	}
	l := s.opts.SendLimits
	if abusive {
		return false, s.rateAbuse(f)
	}
	s.rateLimited(dest, l)
	// the frame was received (and refused): a client waiting for its
	// RECEIPT must not hang
	s.receipt(f.Header("receipt"))
	return false, nil
}

// rateAbuse ends the session whose SENDs and SUBSCRIBEs went over their
// rate limits more than limits.send_abuse times within the window.
func (s *Session) rateAbuse(f *stomp.Frame) error {
	l := s.opts.SendLimits
	s.log(slog.LevelInfo, "closing session: rate limit exceeded", "command", f.Command,
		"send_rate", l.Rate, "subscribe_rate", l.SubscribeRate, "send_abuse", l.Abuse, "window", l.AbuseWindow)
	s.opts.observer().LimitClosed(LimitSendAbuse)
	return s.failFrame(f, Close{
		Code:    ClosePolicy,
		Message: "rate limit exceeded",
		Detail:  fmt.Sprintf("more than %d SENDs or SUBSCRIBEs over their rate limits within %v (limits.send_abuse)", l.Abuse, l.AbuseWindow),
	})
}

// checkSubscribeRate takes a token for SUBSCRIBE f with subscription id
// to dest (the client's destination). Within the limit it returns
// (true, nil) and the SUBSCRIBE goes on. Over the limit nothing is
// subscribed: the client gets a rate_limited message naming the
// destination and the subscription id on its /user/queue/errors
// subscriptions, and no RECEIPT (a RECEIPT for a SUBSCRIBE says the
// subscription is in place; it is not, and the id stays free to be used
// again); it returns (false, nil). When refusals within the abuse window
// exceed the limit, the session ends with ERROR "rate limit exceeded".
func (s *Session) checkSubscribeRate(f *stomp.Frame, dest, id string) (bool, error) {
	ok, abusive := s.sendLimit.allowSubscribe(time.Now())
	if ok {
		return true, nil
	}
	if abusive {
		return false, s.rateAbuse(f)
	}
	l := s.opts.SendLimits
	p := s.describe(dest, &errorText{code: CodeRateLimited, key: CodeRateLimited + ".subscribe",
		args: []string{"rate", formatRate(l.SubscribeRate), "burst", strconv.Itoa(l.SubscribeBurst)}})
	p.Subscription = id
	s.toErrorsQueue(p.encode())
	return false, nil
}

// formatRate writes a rate as %g does.
func formatRate(r float64) string { return strconv.FormatFloat(r, 'g', -1, 64) }

// rateLimited tells the client that its SEND to dest was dropped, on each
// of its /user/queue/errors subscriptions. Unlike userError it logs
// nothing: an abuser must not be able to flood the log.
func (s *Session) rateLimited(dest string, l SendLimits) {
	s.toErrorsQueue(s.describe(dest, &errorText{code: CodeRateLimited, key: CodeRateLimited + ".send",
		args: []string{"rate", formatRate(l.Rate), "burst", strconv.Itoa(l.Burst)}}).encode())
}
