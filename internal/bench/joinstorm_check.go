package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// JoinSchedule paces a join storm: clients SUBSCRIBEs spread evenly over
// window, the first at once and SUBSCRIBE k at k × window / clients, so
// the last is due just before the window ends. A window of 0 or less
// sends them all at once.
func JoinSchedule(start time.Time, clients int, window time.Duration) Schedule {
	s := Schedule{Start: start, Limit: int64(max(clients, 0))}
	if clients > 0 && window > 0 {
		s.Rate = float64(clients) / window.Seconds()
	}
	return s
}

// histEntry is one MESSAGE a joiner received on its room subscription:
// the seed's sequence number (-1 when it carries no seed marker) and its
// x-offset (-1 when it has none).
type histEntry struct {
	seq, offset int64
}

// HistoryCheck is one joiner's replay held against the history it asked
// for: the last n seeded messages, once each, in offset order.
type HistoryCheck struct {
	// Got counts the messages received on the subscription.
	Got int `json:"got"`
	// Missing counts wanted messages never received, Duplicates the
	// copies of one received again, Foreign the messages that are not
	// among the wanted (older seeds, or no seed marker at all), and
	// OutOfOrder the messages whose sequence number or x-offset is not
	// above the previous one's.
	Missing    int `json:"missing"`
	Duplicates int `json:"duplicates"`
	Foreign    int `json:"foreign"`
	OutOfOrder int `json:"out_of_order"`
}

// Exact reports whether the joiner got exactly the wanted messages, once
// each, in order.
func (h HistoryCheck) Exact() bool {
	return h.Missing == 0 && h.Duplicates == 0 && h.Foreign == 0 && h.OutOfOrder == 0
}

// checkHistory compares what a joiner got with want, the sequence
// numbers of the seeds it should have got, oldest first.
func checkHistory(got []histEntry, want []int64) HistoryCheck {
	c := HistoryCheck{Got: len(got)}
	wanted := make(map[int64]bool, len(want))
	for _, s := range want {
		wanted[s] = false
	}
	lastSeq, lastOffset := int64(-1), int64(-1)
	for _, e := range got {
		seen, ok := wanted[e.seq]
		switch {
		case !ok:
			c.Foreign++
		case seen:
			c.Duplicates++
		default:
			wanted[e.seq] = true
		}
		if ok && !seen {
			if e.seq <= lastSeq || (e.offset >= 0 && e.offset <= lastOffset) {
				c.OutOfOrder++
			}
			lastSeq = e.seq
			if e.offset >= 0 {
				lastOffset = e.offset
			}
		}
	}
	for _, seen := range wanted {
		if !seen {
			c.Missing++
		}
	}
	return c
}

// wantedSeeds returns the sequence numbers of the last n of seeded
// messages (numbered from 0), oldest first.
func wantedSeeds(seeded, n int) []int64 {
	n = min(n, seeded)
	want := make([]int64, 0, n)
	for s := seeded - n; s < seeded; s++ {
		want = append(want, int64(s))
	}
	return want
}

// JoinStormReport is a join storm's outcome: clients SUBSCRIBE to one
// seeded room with x-history and a receipt within a window; what each
// waited for, and whether it got exactly the history it asked for.
type JoinStormReport struct {
	// History is the x-history each joiner asked for; Seeded the
	// messages published into the room before the storm.
	History int `json:"history"`
	Seeded  int `json:"seeded"`
	// WindowSeconds is the configured window; SubscribeSeconds the time
	// from the first SUBSCRIBE written to the last, and SubscribeLagMaxMs
	// how late the latest one was written against its schedule.
	WindowSeconds     float64 `json:"window_seconds"`
	SubscribeSeconds  float64 `json:"subscribe_seconds"`
	SubscribeLagMaxMs float64 `json:"subscribe_lag_max_ms"`
	// Subscribed counts the SUBSCRIBEs written; Receipts the joiners
	// that got their RECEIPT; Complete the ones that got a RECEIPT and
	// at least History messages.
	Subscribed int `json:"subscribed"`
	Receipts   int `json:"receipts"`
	Complete   int `json:"complete"`
	// Receipt is SUBSCRIBE → RECEIPT; NthHistory is SUBSCRIBE → the
	// History-th message on the subscription.
	Receipt    Latency `json:"receipt"`
	NthHistory Latency `json:"nth_history"`
	// Exact counts joiners with exactly the wanted history; Wrong the
	// subscribed others. The totals below add up every joiner's check.
	Exact      int `json:"exact"`
	Wrong      int `json:"wrong"`
	Missing    int `json:"missing"`
	Duplicates int `json:"duplicates"`
	Foreign    int `json:"foreign"`
	OutOfOrder int `json:"out_of_order"`
	// AfterReceipt counts the joiners that got some of their history
	// after their RECEIPT (chatrelay sends the RECEIPT after the replay).
	AfterReceipt int `json:"after_receipt"`
	// P99LimitMs bounds the p99 of both times.
	P99LimitMs float64 `json:"p99_limit_ms"`
	// OK: every client connected and subscribed, got its RECEIPT and
	// exactly its history, and both p99s are within the limit.
	OK bool `json:"ok"`
}

// judge sets OK from the counts, given how many clients should have
// joined.
func (js *JoinStormReport) judge(clients int) {
	limit := js.P99LimitMs
	js.OK = clients > 0 && js.Subscribed == clients && js.Receipts == clients && js.Exact == clients &&
		js.Receipt.Count == uint64(clients) && js.NthHistory.Count == uint64(clients) &&
		js.Receipt.P99 <= limit && js.NthHistory.P99 <= limit
}

// Behind reports whether writing the SUBSCRIBEs took clearly longer
// than the window (by more than a tenth of it and 50 ms): the load tool
// could not keep to its schedule.
func (js *JoinStormReport) Behind() bool {
	return js.SubscribeSeconds > js.WindowSeconds*1.1+0.05
}

// writeTable prints the join storm's lines of a report's table.
func (js *JoinStormReport) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "join storm\t%d SUBSCRIBEs with x-history %d (room seeded with %d) in %.2fs (window %.2fs, latest %.1f ms behind schedule)\n",
		js.Subscribed, js.History, js.Seeded, js.SubscribeSeconds, js.WindowSeconds, js.SubscribeLagMaxMs)
	fmt.Fprintf(tw, "history\t%d exact, %d wrong (missing %d, duplicates %d, foreign %d, out of order %d); %d receipts; %d got history after the receipt\n",
		js.Exact, js.Wrong, js.Missing, js.Duplicates, js.Foreign, js.OutOfOrder, js.Receipts, js.AfterReceipt)
	if js.Behind() {
		fmt.Fprintf(tw, "warning\tthe SUBSCRIBEs took %.2fs for a %.2fs window: the load tool fell behind (CPU), so the storm was gentler than asked\n",
			js.SubscribeSeconds, js.WindowSeconds)
	}
	tw.Flush()
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "from SUBSCRIBE to\tclients\tp50 ms\tp90 ms\tp99 ms\tmax ms\t")
	for _, l := range []struct {
		name string
		lat  Latency
	}{{"RECEIPT", js.Receipt}, {fmt.Sprintf("history message %d", js.History), js.NthHistory}} {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", l.name, l.lat.Count, l.lat.P50, l.lat.P90, l.lat.P99, l.lat.Max)
	}
	tw.Flush()
	_, err := fmt.Fprintf(w, "join storm %s: p99 limit %.0f ms\n", map[bool]string{true: "OK", false: "NOT OK"}[js.OK], js.P99LimitMs)
	return err
}

// writeJoinStorms adds a markdown table of the join-storm reports.
func writeJoinStorms(b *strings.Builder, reports []*Report) {
	if len(reports) == 0 {
		return
	}
	if b.Len() > 0 {
		b.WriteString("\n")
	}
	b.WriteString("| run | clients | x-history | window s (SUBSCRIBEs took) | subscribed | receipts | exact history | wrong | missing | dup | out of order | receipt p50 / p99 / max ms | history p50 / p99 / max ms | errors | ok |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, rep := range reports {
		js := rep.JoinStorm
		name := rep.name()
		fmt.Fprintf(b, "| %s | %d | %d | %.2f (%.2f) | %d | %d | %d | %d | %d | %d | %d | %.1f / %.1f / %.1f | %.1f / %.1f / %.1f | %d | %s |\n",
			name, rep.Clients, js.History, js.WindowSeconds, js.SubscribeSeconds, js.Subscribed, js.Receipts, js.Exact, js.Wrong, js.Missing, js.Duplicates, js.OutOfOrder,
			js.Receipt.P50, js.Receipt.P99, js.Receipt.Max, js.NthHistory.P50, js.NthHistory.P99, js.NthHistory.Max,
			rep.Errors.Total()+rep.Connect.Failed+rep.Drops, map[bool]string{true: "yes", false: "**no**"}[rep.OK])
	}
}
