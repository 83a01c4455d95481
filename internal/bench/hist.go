package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// subBits sets the histogram's precision: every power of two is split
// into 2^subBits linear buckets, so a recorded value is off by at most
// 1/64 (1.6 %) of itself.
const subBits = 6

const (
	subCount = 1 << subBits
	// numBuckets covers 0 to 2^63 ns: subCount exact buckets for tiny
	// values, then subCount buckets for each power of two from 2^subBits.
	numBuckets = subCount + (63-subBits)*subCount
)

// Histogram is a lock-free log-linear histogram of durations (HDR style,
// 1.6 % precision) that many goroutines record into at once. The zero
// value is empty and ready to use.
type Histogram struct {
	buckets [numBuckets]atomic.Uint64
	count   atomic.Uint64
	sum     atomic.Uint64 // nanoseconds
	max     atomic.Int64  // nanoseconds
}

// bucketOf returns the bucket index of a non-negative value.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - 1 // v is in [2^e, 2^(e+1)), e >= subBits
	shift := e - subBits
	sub := int(v>>uint(shift)) - subCount
	return subCount + shift*subCount + sub
}

// bucketBounds returns the smallest and largest value that fall into
// bucket i.
func bucketBounds(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	shift := (i - subCount) / subCount
	sub := (i - subCount) % subCount
	lo = uint64(subCount+sub) << uint(shift)
	return lo, lo + (uint64(1) << uint(shift)) - 1
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.buckets[bucketOf(uint64(v))].Add(1)
	h.count.Add(1)
	h.sum.Add(uint64(v))
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count returns how many durations were recorded.
func (h *Histogram) Count() uint64 { return h.count.Load() }

// Max returns the largest recorded duration, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean returns the average recorded duration, 0 when empty.
func (h *Histogram) Mean() time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the duration at or below which a fraction q (0..1) of
// the recorded durations lie: the upper bound of the bucket that holds
// that rank, never more than Max. It is 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	var seen uint64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			_, hi := bucketBounds(i)
			if m := uint64(h.max.Load()); hi > m {
				hi = m
			}
			return time.Duration(hi)
		}
	}
	return h.Max()
}

// Latency is a histogram summary in milliseconds, as reports carry it.
type Latency struct {
	// Count is how many deliveries were measured.
	Count uint64 `json:"count"`
	// P50, P90 and P99 are percentiles, Max the exact maximum and Mean
	// the average, all in milliseconds.
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// Summary returns the histogram's percentiles.
func (h *Histogram) Summary() Latency {
	return Latency{
		Count: h.Count(),
		P50:   ms(h.Quantile(0.50)),
		P90:   ms(h.Quantile(0.90)),
		P99:   ms(h.Quantile(0.99)),
		Max:   ms(h.Max()),
		Mean:  ms(h.Mean()),
	}
}

// ms converts a duration to milliseconds rounded to microseconds.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}
