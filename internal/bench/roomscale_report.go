package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"chatrelay/internal/brokerstat"
)

// RoomsScaleReport is a rooms-at-scale run's creation phase and broker
// readings (Config.RoomsScale); the rate steps in its active rooms are
// the report's Steps.
type RoomsScaleReport struct {
	// Rooms is how many rooms the run set out to create, Active how many
	// of them got members.
	Rooms  int `json:"rooms"`
	Active int `json:"active"`
	// HistoryFraction of the rooms got HistoryMessages each.
	HistoryFraction float64 `json:"history_fraction"`
	HistoryMessages int     `json:"history_messages"`
	// Created and CreateErrors count the POST /api/rooms answered 201 and
	// the ones that failed; Create is their latency (successes only).
	Created           int64   `json:"created"`
	CreateErrors      int64   `json:"create_errors"`
	CreateConcurrency int     `json:"create_concurrency"`
	CreateRate        float64 `json:"create_rate,omitempty"`
	CreateSeconds     float64 `json:"create_seconds"`
	CreatePerSec      float64 `json:"create_per_sec"`
	Create            Latency `json:"create_latency"`
	CreateP99LimitMs  float64 `json:"create_p99_limit_ms"`
	// Posted and PostErrors count the history pushes; Post is their
	// latency.
	Posted     int64   `json:"posted"`
	PostErrors int64   `json:"post_errors"`
	Post       Latency `json:"post_latency"`
	// ProbeErrors counts broker readings that failed.
	ProbeErrors int64 `json:"probe_errors"`
	// ArchiveWaitSeconds is the longest wait at each checkpoint for the
	// room streams to be down to ArchiveMaxStreams (the server archiving
	// idle rooms); 0: no wait. ArchiveMet: every checkpoint's wait met
	// its bound (each one's outcome is its Archive).
	ArchiveWaitSeconds float64 `json:"archive_wait_seconds"`
	ArchiveMaxStreams  int     `json:"archive_max_streams"`
	ArchiveMet         bool    `json:"archive_met"`
	// Baseline is the broker before the first room, Checkpoints at each
	// count, AfterActive after the rate steps in the active rooms.
	Baseline    BrokerSnapshot   `json:"baseline"`
	Checkpoints []BrokerSnapshot `json:"checkpoints"`
	AfterActive *BrokerSnapshot  `json:"after_active,omitempty"`
	// OK: every room created and every history message pushed, every
	// broker reading made, create p99 within its bound, and with an
	// archive wait every checkpoint's bound met.
	OK bool `json:"ok"`
}

// newRoomsScaleReport starts a rooms-at-scale report from the run's
// configuration.
func newRoomsScaleReport(cfg *Config) *RoomsScaleReport {
	return &RoomsScaleReport{
		Rooms: cfg.RoomsScale, Active: cfg.Rooms, HistoryFraction: cfg.HistoryFraction, HistoryMessages: cfg.HistoryMessages,
		CreateConcurrency: cfg.CreateConcurrency, CreateRate: cfg.CreateRate, CreateP99LimitMs: ms(cfg.CreateP99),
		ArchiveWaitSeconds: cfg.ArchiveWait.Seconds(), ArchiveMaxStreams: cfg.ArchiveMaxStreams,
	}
}

// judge decides the creation phase's OK.
func (rs *RoomsScaleReport) judge(probeErrors int64) {
	rs.ProbeErrors = probeErrors
	rs.ArchiveMet = false
	if rs.ArchiveWaitSeconds > 0 {
		rs.ArchiveMet = len(rs.Checkpoints) > 0
		for _, s := range rs.Checkpoints {
			rs.ArchiveMet = rs.ArchiveMet && s.Archive != nil && s.Archive.Met
		}
	}
	rs.OK = rs.CreateErrors == 0 && rs.PostErrors == 0 && probeErrors == 0 &&
		rs.Created == int64(rs.Rooms) && len(rs.Checkpoints) > 0 && rs.Create.P99 <= rs.CreateP99LimitMs &&
		(rs.ArchiveWaitSeconds == 0 || rs.ArchiveMet)
}

// writeTable prints the creation phase and the broker readings: the
// figures at each checkpoint, their growth per room since the baseline
// and since the previous checkpoint.
func (rs *RoomsScaleReport) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	pace := fmt.Sprintf("%d at a time", rs.CreateConcurrency)
	if rs.CreateRate > 0 {
		pace = fmt.Sprintf("paced at %.0f/s, at most %d at a time", rs.CreateRate, rs.CreateConcurrency)
	}
	fmt.Fprintf(tw, "rooms\t%d/%d created (%d failed) in %.1fs = %.0f/s, %s; create p50 %.1f ms, p99 %.1f ms (bound %.1f), max %.1f ms\n",
		rs.Created, rs.Rooms, rs.CreateErrors, rs.CreateSeconds, rs.CreatePerSec, pace,
		rs.Create.P50, rs.Create.P99, rs.CreateP99LimitMs, rs.Create.Max)
	fmt.Fprintf(tw, "history\t%d messages pushed (%d failed) into %.0f%% of the rooms, %d each; push p50 %.1f ms, p99 %.1f ms\n",
		rs.Posted, rs.PostErrors, 100*rs.HistoryFraction, rs.HistoryMessages, rs.Post.P50, rs.Post.P99)
	fmt.Fprintf(tw, "broker\tbefore: %s\n", rs.Baseline.line())
	tw.Flush()
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rooms\tmem_used\terlang\tprocesses\tfds\tbroker rss\tqueues\troom streams\t\tper room since before\tper room since previous\t")
	prev := rs.Baseline
	row := func(name string, s BrokerSnapshot, since BrokerSnapshot) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\t%s\t%s\t\n", name, bytesOr(s.MemUsed), bytesOr(s.Erlang),
			countOr(s.ProcUsed), countOr(s.FDUsed), bytesOr(kbBytes(s.RSSKB)), countOr(s.Queues), countOr(s.RoomStreams),
			s.GrowthPerRoom(rs.Baseline), s.GrowthPerRoom(since))
	}
	for _, s := range rs.Checkpoints {
		row(fmt.Sprint(s.Rooms), s, prev)
		prev = s
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if rs.ArchiveWaitSeconds > 0 {
		fmt.Fprintf(tw, "archive\tbefore each reading, up to %.1fs for <= %d room streams: %s\n", rs.ArchiveWaitSeconds, rs.ArchiveMaxStreams,
			map[bool]string{true: "met at every checkpoint", false: "NOT met"}[rs.ArchiveMet])
		for _, s := range rs.Checkpoints {
			a := "no wait"
			if s.Archive != nil {
				a = s.Archive.String()
			}
			fmt.Fprintf(tw, "archive\t%d rooms: %s\n", s.Rooms, a)
		}
	}
	if a := rs.AfterActive; a != nil && len(rs.Checkpoints) > 0 {
		last := rs.Checkpoints[len(rs.Checkpoints)-1]
		fmt.Fprintf(tw, "active\twith %d active rooms: %s (%s per active room over the idle %d)\n", rs.Active, a.line(),
			activeGrowth(*a, last, rs.Active), last.Rooms)
	}
	fmt.Fprintf(tw, "rooms\t%s\n", map[bool]string{true: "OK", false: "NOT OK"}[rs.OK])
	return tw.Flush()
}

// activeGrowth prints the broker's growth from the last checkpoint (all
// rooms idle) to after the rate steps, per active room.
func activeGrowth(a, idle BrokerSnapshot, active int) string {
	a.Rooms, idle.Rooms = active, 0 // divide by the active rooms
	return a.GrowthPerRoom(idle).String()
}

// bytesOr prints a byte count, or "-" when it was not read.
func bytesOr(v int64) string {
	if v < 0 {
		return "-"
	}
	return brokerstat.Bytes(float64(v))
}

// countOr prints a count, or "-" when it was not read.
func countOr(v int64) string {
	if v < 0 {
		return "-"
	}
	return fmt.Sprint(v)
}

// kbBytes turns KiB into bytes, keeping -1 (not read).
func kbBytes(kb int64) int64 {
	if kb < 0 {
		return -1
	}
	return kb * 1024
}

// writeRoomsScale writes a markdown table of the rooms-at-scale runs:
// one row per checkpoint.
func writeRoomsScale(b *strings.Builder, reports []*Report) {
	if len(reports) == 0 {
		return
	}
	b.WriteString("\n| run | rooms | create p50 ms | create p99 ms | mem_used | erlang | processes | fds | room streams | archive wait | mem_used/room since before | since previous | ok |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|---|\n")
	for _, rep := range reports {
		rs := rep.RoomsScale
		name := rep.name()
		prev := rs.Baseline
		for _, s := range rs.Checkpoints {
			fmt.Fprintf(b, "| %s | %d | %.1f | %.1f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, s.Rooms, rs.Create.P50, rs.Create.P99,
				bytesOr(s.MemUsed), bytesOr(s.Erlang), countOr(s.ProcUsed), countOr(s.FDUsed), countOr(s.RoomStreams), archiveCell(s.Archive),
				memPerRoom(s.GrowthPerRoom(rs.Baseline)), memPerRoom(s.GrowthPerRoom(prev)), map[bool]string{true: "yes", false: "**no**"}[rs.OK])
			prev = s
		}
	}
}

// archiveCell prints a checkpoint's archive wait for the markdown table:
// "met in 3.0 s", "**NOT met** in 60.0 s (bound 2050)", or "-" without
// a wait.
func archiveCell(a *ArchiveCatchUp) string {
	switch {
	case a == nil:
		return "-"
	case a.Met:
		return fmt.Sprintf("met in %.1f s", a.Seconds)
	}
	return fmt.Sprintf("**NOT met** in %.1f s (bound %d)", a.Seconds, a.MaxStreams)
}

// memPerRoom prints a growth's mem_used per room, or "-".
func memPerRoom(g Growth) string {
	if !g.HasMem {
		return "-"
	}
	return brokerstat.Bytes(g.MemUsedBytes)
}
