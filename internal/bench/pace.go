package bench

import (
	"context"
	"math"
	"time"
)

// Schedule is an open-loop schedule: item k (from 0) is due at
// Start + k/Rate, whatever happened to the items before it, and there are
// at most Limit items. A Rate of 0 or less means "all at once".
type Schedule struct {
	// Start is when item 0 is due.
	Start time.Time
	// Rate is items per second.
	Rate float64
	// Limit bounds the number of items; negative means none.
	Limit int64
}

// Count returns how many items a phase of length d at rate has, capped at
// limit when limit >= 0: floor(rate × d), at least 1 for a positive rate
// and duration.
func Count(rate float64, d time.Duration, limit int64) int64 {
	if rate <= 0 || d <= 0 {
		return 0
	}
	n := int64(math.Floor(rate * d.Seconds()))
	if n < 1 {
		n = 1
	}
	if limit >= 0 && n > limit {
		n = limit
	}
	return n
}

// Due returns when item k is due.
func (s Schedule) Due(k int64) time.Time {
	if s.Rate <= 0 || k <= 0 {
		return s.Start
	}
	return s.Start.Add(time.Duration(float64(k) / s.Rate * float64(time.Second)))
}

// DueBy returns how many items are due at t: the number of k with
// Due(k) <= t, capped at Limit.
func (s Schedule) DueBy(t time.Time) int64 {
	if t.Before(s.Start) {
		return 0
	}
	var n int64
	if s.Rate <= 0 {
		n = math.MaxInt64
	} else {
		// floor(elapsed × rate) + 1 items have Due <= t; the +1 is item 0
		f := t.Sub(s.Start).Seconds()*s.Rate + 1
		if f >= math.MaxInt64/2 {
			n = math.MaxInt64
		} else {
			n = int64(math.Floor(f))
			// agree with Due exactly despite floating-point rounding:
			// never release an item early, nor hold back a due one
			for n > 0 && s.Due(n-1).After(t) {
				n--
			}
			for !s.Due(n).After(t) {
				n++
			}
		}
	}
	if s.Limit >= 0 && n > s.Limit {
		n = s.Limit
	}
	return n
}

// Run calls emit(k, due) for every item in order, each no earlier than it
// is due, releasing every item that is due at once when the caller fell
// behind (open loop: lateness is the emitter's to report, never hidden
// by slowing the schedule). It returns how many items it emitted: Limit,
// or fewer when ctx ends first. Limit must not be negative.
func (s Schedule) Run(ctx context.Context, emit func(k int64, due time.Time)) int64 {
	var next int64
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for next < s.Limit {
		now := time.Now()
		for n := s.DueBy(now); next < n; next++ {
			emit(next, s.Due(next))
		}
		if next >= s.Limit {
			break
		}
		timer.Reset(time.Until(s.Due(next)))
		select {
		case <-ctx.Done():
			return next
		case <-timer.C:
		}
	}
	return next
}
