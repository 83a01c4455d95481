package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// StepActivity is a reads run's traffic besides the room messages during
// one step's measured phase, per second: read SENDs (/app/rooms/{id}/read)
// and typing SENDs the members sent, and the read and typing events they
// received (each event counted once per member it reached).
type StepActivity struct {
	ReadSendsPerSec    float64 `json:"read_sends_per_sec"`
	ReadEventsPerSec   float64 `json:"read_events_per_sec"`
	TypingSendsPerSec  float64 `json:"typing_sends_per_sec"`
	TypingEventsPerSec float64 `json:"typing_events_per_sec"`
}

// newStepActivity is the activity between two readings of the counters.
func newStepActivity(a, b activityCounts) *StepActivity {
	d := b.at.Sub(a.at).Seconds()
	if d <= 0 {
		return &StepActivity{}
	}
	return &StepActivity{
		ReadSendsPerSec:    float64(b.readSends-a.readSends) / d,
		ReadEventsPerSec:   float64(b.readEvents-a.readEvents) / d,
		TypingSendsPerSec:  float64(b.typingSends-a.typingSends) / d,
		TypingEventsPerSec: float64(b.typingEvents-a.typingEvents) / d,
	}
}

// ReadsReport is a reads run's totals (warm-ups and the end included)
// and its sanity check: whether every member's last read came back on
// the room's reads topic.
type ReadsReport struct {
	// TypingFraction of each room's members typed in measured steps:
	// Typers in all.
	TypingFraction float64 `json:"typing_fraction"`
	Typers         int     `json:"typers"`
	ReadSends      int64   `json:"read_sends"`
	ReadEvents     int64   `json:"read_events"`
	TypingSends    int64   `json:"typing_sends"`
	TypingEvents   int64   `json:"typing_events"`
	// Readers is the members who sent a read; LastReadSeen those whose
	// last one came back on their room's reads topic, within
	// SettleSeconds after the last step (at most ReadDelayMax + Drain).
	Readers       int     `json:"readers"`
	LastReadSeen  int     `json:"last_read_seen"`
	SettleSeconds float64 `json:"settle_seconds"`
	// WakeLost counts reads that were due and never sent (a bug of the
	// tool if not 0).
	WakeLost int64 `json:"wake_lost"`
	// OK: every reader's last read seen, read events received, typing
	// events received when anyone typed, nothing lost.
	OK bool `json:"ok"`
}

// newReadsReport reads a's totals and every member's last read.
func newReadsReport(a *activity, fraction float64, settle time.Duration) *ReadsReport {
	rep := &ReadsReport{
		TypingFraction: fraction, Typers: len(a.typers),
		ReadSends: a.readSends.Load(), ReadEvents: a.readEvents.Load(),
		TypingSends: a.typingSends.Load(), TypingEvents: a.typingEvents.Load(),
		SettleSeconds: settle.Seconds(), WakeLost: a.wakeLost.Load(),
	}
	for _, c := range a.r.clients {
		st := c.rd
		st.mu.Lock()
		sent := st.sent
		st.mu.Unlock()
		if sent < 0 {
			continue
		}
		rep.Readers++
		if st.seen.Load() >= sent {
			rep.LastReadSeen++
		}
	}
	rep.OK = rep.Readers > 0 && rep.LastReadSeen == rep.Readers && rep.ReadEvents > 0 &&
		(rep.Typers == 0 || rep.TypingEvents > 0) && rep.WakeLost == 0
	return rep
}

// writeTable prints the totals and the check.
func (rep *ReadsReport) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "reads\t%d read SENDs, %d read events received; %d typers (%.0f%% of each room): %d typing SENDs, %d typing events received\n",
		rep.ReadSends, rep.ReadEvents, rep.Typers, 100*rep.TypingFraction, rep.TypingSends, rep.TypingEvents)
	fmt.Fprintf(tw, "last reads\t%d/%d members saw their last read on the room's reads topic (%.1fs after the last step)%s\n",
		rep.LastReadSeen, rep.Readers, rep.SettleSeconds, map[bool]string{true: "", false: " NOT OK"}[rep.OK])
	if rep.WakeLost > 0 {
		fmt.Fprintf(tw, "\t%d due reads lost by the tool\n", rep.WakeLost)
	}
	return tw.Flush()
}

// writeStepCosts prints, per step, the servers' CPU and a reads run's
// traffic; nothing when no step has either.
func writeStepCosts(w io.Writer, steps []StepReport) error {
	some := false
	for _, s := range steps {
		some = some || s.ServerCPU > 0 || s.BrokerCPU > 0 || s.Activity != nil
	}
	if !some {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rate/s\tserver cpu\tbroker cpu\ttool cpu\tread SENDs/s\tread events/s\ttyping SENDs/s\ttyping events/s\t")
	for _, s := range steps {
		fmt.Fprintf(tw, "%.0f\t%.2f\t%.2f\t%.2f\t%s\t\n", s.Rate, s.ServerCPU, s.BrokerCPU, s.ToolCPU, activityCells(s.Activity, "\t"))
	}
	return tw.Flush()
}

// activityCells prints a step's activity rates joined by sep ("-" each
// when there is none).
func activityCells(a *StepActivity, sep string) string {
	if a == nil {
		return strings.Join([]string{"-", "-", "-", "-"}, sep)
	}
	return strings.Join([]string{fmt.Sprintf("%.0f", a.ReadSendsPerSec), fmt.Sprintf("%.0f", a.ReadEventsPerSec),
		fmt.Sprintf("%.0f", a.TypingSendsPerSec), fmt.Sprintf("%.0f", a.TypingEventsPerSec)}, sep)
}

// writeCosts writes a markdown table of every step's delivered rate,
// latency, server and broker CPU and reads-and-typing traffic, for the
// runs whose steps have CPU figures or activity: a plain run and a reads
// run at the same rates side by side.
func writeCosts(b *strings.Builder, reports []*Report) {
	header := false
	for _, rep := range reports {
		for _, s := range rep.Steps {
			if s.ServerCPU == 0 && s.BrokerCPU == 0 && s.Activity == nil {
				continue
			}
			if !header {
				b.WriteString("\n| run | clients | rooms | rate in/s | delivered/s | p50 ms | p99 ms | server CPU (cores) | broker CPU (cores) | chatbench CPU (cores) | read SENDs/s | read events/s | typing SENDs/s | typing events/s | last reads seen | ok |\n")
				b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
				header = true
			}
			seen := "-"
			if r := rep.Reads; r != nil {
				seen = fmt.Sprintf("%d/%d", r.LastReadSeen, r.Readers)
			}
			fmt.Fprintf(b, "| %s | %d | %d | %.0f | %.0f | %.1f | %.1f | %.2f | %.2f | %.2f | %s | %s | %s |\n",
				rep.name(), rep.Connect.Connected, rep.Rooms, s.Rate, s.DeliveredPerSec, s.Latency.P50, s.Latency.P99,
				s.ServerCPU, s.BrokerCPU, s.ToolCPU, activityCells(s.Activity, " | "), seen,
				map[bool]string{true: "yes", false: "**no**"}[s.Sustained && rep.OK])
		}
	}
	if header {
		b.WriteString("\nCPU: the -pid (server) and -broker-pid processes' and chatbench's own user and system time during each step's measured phase, over its length (all share the machine). Events/s count each event once per member it reached.\n")
	}
}
