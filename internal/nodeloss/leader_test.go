package nodeloss

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
)

// RabbitMQ elects a new writer for a stream whose leader node stops;
// until then the stream takes no writes, whatever chatrelay does. On an
// idle machine that takes a tenth of a second to half a second, on a
// loaded one several seconds. The node-loss runs therefore read from the
// nodes' logs when the room's stream lost its writer and when its new
// writer started, and hold chatrelay to resuming delivery within
// resumeLimit of the new writer.

// writerGap is when a stream had no writer, from the nodes' logs.
type writerGap struct {
	lost, back time.Time // zero lost: the writer never stopped
}

// streamWriterGap reads the logs of c's nodes for the room's stream: the
// last writer stop (osiris_writer:terminate) at or after since, and the
// first writer start (osiris_writer:init) after it.
func streamWriterGap(c *rabbittest.Cluster, room string, since time.Time) (writerGap, error) {
	// the stream's internal name: __room_SLUG_ID_TIMESTAMP (every
	// character but letters and digits of the queue name an "_"), or
	// __room_ID_TIMESTAMP for a stream without a slug
	name, id := "__room_", "_"+room+"_"
	var g writerGap
	var starts []time.Time
	for _, n := range c.Nodes() {
		f, err := os.Open(n.LogFile())
		if err != nil {
			return g, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			ours := strings.Contains(line, id)
			stop := ours && strings.Contains(line, "osiris_writer:terminate/2: name "+name)
			start := ours && strings.Contains(line, "osiris_writer:init/1: name: "+name)
			if !stop && !start {
				continue
			}
			at, err := logTime(line)
			if err != nil || at.Before(since) {
				continue
			}
			if stop && at.After(g.lost) {
				g.lost = at
			}
			if start {
				starts = append(starts, at)
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return g, err
		}
	}
	slices.SortFunc(starts, time.Time.Compare)
	for _, at := range starts {
		if !g.lost.IsZero() && !at.Before(g.lost) {
			g.back = at
			break
		}
	}
	return g, nil
}

// logTime parses the timestamp that starts a RabbitMQ log line
// ("2026-12-05 21:58:32.594772+00:00 [info] ...").
func logTime(line string) (time.Time, error) {
	stamp, _, _ := strings.Cut(line, " [")
	return time.Parse("2006-01-02 15:04:05.999999-07:00", stamp)
}

// checkResumed fails for a subscriber whose first message after back came
// more than resumeLimit later, and returns the slowest.
func checkResumed(t *testing.T, subs []*subscriber, back time.Time) (slowest time.Duration) {
	t.Helper()
	for _, s := range subs {
		s.mu.Lock()
		i, _ := slices.BinarySearchFunc(s.times, back, time.Time.Compare)
		var first time.Time
		if i < len(s.times) {
			first = s.times[i]
		}
		s.mu.Unlock()
		switch d := first.Sub(back); {
		case first.IsZero():
			t.Errorf("%s got nothing after the stream's new writer started", s.name)
		case d > resumeLimit:
			t.Errorf("%s got its first message %v after the stream's new writer started", s.name, d)
		default:
			slowest = max(slowest, d)
		}
	}
	return slowest
}

// maxGapOutside is maxGap not counting the time in [from, to).
func maxGapOutside(subs []*subscriber, from, to time.Time) (gap time.Duration, who string) {
	for _, s := range subs {
		s.mu.Lock()
		for i := 1; i < len(s.times); i++ {
			a, b := s.times[i-1], s.times[i]
			d := b.Sub(a)
			if lo, hi := later(a, from), earlier(b, to); hi.After(lo) {
				d -= hi.Sub(lo) // the overlap with the writer-less time
			}
			if d > gap {
				gap, who = d, s.name
			}
		}
		s.mu.Unlock()
	}
	return gap, who
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
