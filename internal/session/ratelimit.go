package session

import (
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/time/rate"

	"chatrelay/internal/router"
	"chatrelay/internal/stomp"
)

// CodeRateLimited is the code of the /user/queue/errors message a client
// gets for a SEND refused by its rate limit.
const CodeRateLimited = "rate_limited"

// SendLimits bound how fast one session may SEND (limits.send_*).
type SendLimits struct {
	// Rate is the sustained SENDs per second allowed; 0 means unlimited.
	Rate float64
	// Burst is how many SENDs may come at once above Rate.
	Burst int
	// Abuse is how many refused SENDs within AbuseWindow are tolerated:
	// one more ends the session. 0 means refused SENDs never end it.
	Abuse       int
	AbuseWindow time.Duration
}

// sendLimiter is one session's SEND rate limit. Only the reader goroutine
// uses it, so it needs no lock.
type sendLimiter struct {
	tokens *rate.Limiter
	abuse  int
	window time.Duration
	// refused holds the times of the last abuse refusals, a ring whose
	// oldest entry is at next once it is full; it is allocated at the
	// first refusal, so sessions that keep to the rate hold none
	refused []time.Time
	next    int
}

// newSendLimiter returns the limiter for l, or nil when l.Rate is 0
// (unlimited).
func newSendLimiter(l SendLimits) *sendLimiter {
	if l.Rate <= 0 {
		return nil
	}
	sl := &sendLimiter{tokens: rate.NewLimiter(rate.Limit(l.Rate), max(l.Burst, 1))}
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
	if l == nil || l.tokens.AllowN(now, 1) {
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
		s.log(slog.LevelInfo, "closing session: rate limit exceeded", "send_rate", l.Rate, "send_abuse", l.Abuse, "window", l.AbuseWindow)
		s.opts.observer().LimitClosed(LimitSendAbuse)
		return false, s.failFrame(f, "rate limit exceeded",
			fmt.Sprintf("more than %d SENDs over the rate limit within %v (limits.send_abuse)", l.Abuse, l.AbuseWindow), ClosePolicy)
	}
	s.rateLimited(dest, l)
	// the frame was received (and refused): a client waiting for its
	// RECEIPT must not hang
	s.receipt(f.Header("receipt"))
	return false, nil
}

// rateLimited tells the client that its SEND to dest was dropped, on each
// of its /user/queue/errors subscriptions. Unlike userError it logs
// nothing: an abuser must not be able to flood the log.
func (s *Session) rateLimited(dest string, l SendLimits) {
	s.toErrorsQueue(router.ErrorBody(dest, &router.Error{
		Code:    CodeRateLimited,
		Message: fmt.Sprintf("SEND dropped: more than %g SENDs per second (burst %d); slow down", l.Rate, l.Burst),
	}))
}
