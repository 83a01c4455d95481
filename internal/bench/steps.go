package bench

import (
	"context"
	"time"
)

// senderQueue is how many jobs may wait for one sender; a pacer that finds
// a sender's queue full skips the message and counts it, rather than
// slowing down (the schedule is open loop).
const senderQueue = 256

// drainPoll is how often the drain checks its counters.
const drainPoll = 10 * time.Millisecond

// runSteps runs every rate step on the connected clients.
func (r *runner) runSteps(ctx context.Context) {
	var senders []*client
	for _, c := range r.clients {
		if c.sender {
			c.jobs = make(chan job, senderQueue)
			senders = append(senders, c)
			r.sendWG.Add(1)
			// a sender goroutine owns its client's frame buffer and
			// sequence numbers until c.jobs is closed (see sendLoop)
			go c.sendLoop()
		}
	}
	defer func() {
		for _, c := range senders {
			close(c.jobs)
		}
		r.sendWG.Wait()
	}()
	if len(senders) == 0 {
		r.logf("no senders")
		return
	}
	budget := r.cfg.MaxMessages
	var next int // round-robin position over senders, across phases
	dispatch := func(step int, measured bool) func(int64, time.Time) {
		return func(_ int64, due time.Time) {
			c := senders[next%len(senders)]
			next++
			r.pending.Add(1)
			select {
			case c.jobs <- job{step: step, measured: measured, due: due}:
			default:
				r.pending.Add(-1)
				if measured {
					r.steps[step].skipped.Add(1)
				} else {
					r.skipped.Add(1)
				}
			}
		}
	}
	for i, s := range r.steps {
		if ctx.Err() != nil || budget <= 0 {
			break
		}
		r.ran = i + 1
		s.errorsStart = r.errorCount()
		if r.cfg.Warmup > 0 {
			n := Count(s.rate, r.cfg.Warmup, budget)
			r.logf("step %d: %.0f msgs/s, warm-up %v (%d messages)", i, s.rate, r.cfg.Warmup, n)
			budget -= Schedule{Start: time.Now(), Rate: s.rate, Limit: n}.Run(ctx, dispatch(i, false))
			r.drain(ctx, nil)
		}
		n := Count(s.rate, r.cfg.Duration, budget)
		r.logf("step %d: %.0f msgs/s for %v (%d messages) to %d senders", i, s.rate, r.cfg.Duration, n, len(senders))
		r.stepBegins(s)
		s.start = time.Now()
		budget -= Schedule{Start: s.start, Rate: s.rate, Limit: n}.Run(ctx, dispatch(i, true))
		s.end = time.Now()
		r.stepEnds(s)
		r.drain(ctx, s)
		s.errorsEnd = r.errorCount()
		sum := s.summary(r.cfg.P99Limit)
		r.logf("step %d: sent %d, delivered %d/%d, %.0f delivered/s, p99 %.1f ms, sustained %v",
			i, sum.Sent, sum.Delivered, sum.Expected, sum.DeliveredPerSec, sum.Latency.P99, sum.Sustained)
		if !sum.Sustained && !r.cfg.SweepAll && i+1 < len(r.steps) {
			r.logf("step %d not sustained: stopping the sweep", i)
			break
		}
	}
}

// stepBegins reads the servers' CPU and a reads run's counters, and turns
// typing on, as a step's measured phase begins.
func (r *runner) stepBegins(s *stepStats) {
	s.cpuStart = r.cpuNow()
	if r.act != nil {
		c := r.act.counts()
		s.actStart = &c
		r.act.typing(true)
	}
}

// stepEnds reads them again, and turns typing off, as it ends.
func (r *runner) stepEnds(s *stepStats) {
	s.cpuEnd = r.cpuNow()
	if r.act != nil {
		c := r.act.counts()
		s.actEnd = &c
		r.act.typing(false)
	}
}

// drain waits until every handed-out job was sent and, for a measured
// step, every expected delivery arrived; at most Drain, or until ctx ends.
func (r *runner) drain(ctx context.Context, s *stepStats) {
	deadline := time.Now().Add(r.cfg.Drain)
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for {
		done := r.pending.Load() == 0
		if done && s != nil {
			done = s.delivered.Load() >= s.expected.Load()
		}
		if done || time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// errorCount is the number of errors of every kind and drops so far.
func (r *runner) errorCount() int64 {
	return r.errorFrames.Load() + r.socketErrors.Load() + r.connectErrors.Load() +
		r.sendErrors.Load() + r.handlerErrors.Load() + r.drops.Load()
}

// summary is the step's report.
func (s *stepStats) summary(p99Limit time.Duration) StepReport {
	rep := StepReport{
		Rate:       s.rate,
		Sent:       s.sent.Load(),
		Skipped:    s.skipped.Load(),
		SendErrors: s.sendErrors.Load(),
		Expected:   s.expected.Load(),
		Delivered:  s.delivered.Load(),
		Duplicates: s.duplicates.Load(),
		Reordered:  s.reordered.Load(),
		Latency:    s.hist.Summary(),
		SendLagMax: ms(time.Duration(s.lagMax.Load())),
	}
	rep.Lost = rep.Expected - rep.Delivered
	if rep.Lost < 0 {
		rep.Lost = 0
	}
	if !s.end.IsZero() {
		d := s.end.Sub(s.start)
		rep.SendSeconds = d.Seconds()
		if d > 0 {
			rep.SentPerSec = float64(rep.Sent) / d.Seconds()
		}
		// deliveries per second over the window from the first send to
		// the last delivery, so a server that lags is not flattered
		win := d
		if last := s.lastDelivery.Load(); last > 0 {
			if w := time.Unix(0, last).Sub(s.start); w > win {
				win = w
			}
		}
		rep.DeliverySeconds = win.Seconds()
		if win > 0 {
			rep.DeliveredPerSec = float64(rep.Delivered) / win.Seconds()
		}
	}
	rep.ServerCPU, rep.BrokerCPU, rep.ToolCPU = cores(s.cpuStart, s.cpuEnd)
	if s.actStart != nil && s.actEnd != nil {
		rep.Activity = newStepActivity(*s.actStart, *s.actEnd)
	}
	rep.Errors = s.errorsEnd - s.errorsStart
	rep.Sustained = rep.Sent > 0 && rep.Lost == 0 && rep.Duplicates == 0 && rep.Skipped == 0 &&
		rep.SendErrors == 0 && rep.Errors == 0 && time.Duration(rep.Latency.P99*float64(time.Millisecond)) <= p99Limit
	return rep
}
