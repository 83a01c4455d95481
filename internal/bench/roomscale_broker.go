package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"chatrelay/internal/brokerstat"
)

// ctlTimeout bounds one rabbitmqctl call of a broker reading.
const ctlTimeout = 2 * time.Minute

// BrokerSnapshot is what the broker costs at one moment of a
// rooms-at-scale run; a figure that could not be read is -1 (its source
// was not configured or failed; failures are counted in ProbeErrors).
type BrokerSnapshot struct {
	// Rooms is how many rooms had been created (and filled) by then.
	Rooms int `json:"rooms"`
	// CreateSeconds is the time from the first creation to the last one
	// before this reading (0 for the reading before).
	CreateSeconds float64 `json:"create_seconds"`
	// MemUsed, ProcUsed and FDUsed are the management API's node figures
	// (GET /api/nodes, summed over the nodes).
	MemUsed  int64 `json:"mem_used"`
	ProcUsed int64 `json:"proc_used"`
	FDUsed   int64 `json:"fd_used"`
	// Erlang and Procs are rabbitmqctl status's memory total.erlang and
	// process count, after a garbage collection of every process
	// (-broker-ctl).
	Erlang int64 `json:"erlang"`
	Procs  int64 `json:"procs"`
	// RSSKB and FDs are the broker process's VmRSS and open descriptors
	// (/proc, -broker-pid; summed over the pids).
	RSSKB int64 `json:"rss_kb"`
	FDs   int64 `json:"fds"`
	// Queues is the management API's queue total (streams included);
	// RoomStreams the queues among them named room.* (chatrelay's room
	// streams; GET /api/queues, filtered).
	Queues      int64 `json:"queues"`
	RoomStreams int64 `json:"room_streams"`
	// Archive is the wait for the server's archiving before this reading
	// (Config.ArchiveWait; checkpoints only, nil without the wait).
	Archive *ArchiveCatchUp `json:"archive,omitempty"`
}

// brokerSnapshot reads every configured source of broker figures: with
// BrokerCtl it first garbage-collects the node, then it waits Settle (the
// management API samples the node's memory periodically, and the freed
// memory takes a moment to show in its RSS) and reads.
func (r *runner) brokerSnapshot(ctx context.Context, rooms int) BrokerSnapshot {
	cfg := &r.cfg
	s := BrokerSnapshot{Rooms: rooms, MemUsed: -1, ProcUsed: -1, FDUsed: -1, Erlang: -1, Procs: -1, RSSKB: -1, FDs: -1, Queues: -1, RoomStreams: -1}
	gcOK := true
	if cfg.BrokerCtl != "" {
		if err := ctlRun(ctx, cfg.BrokerCtl, "eval", brokerstat.GCAll); err != nil {
			r.probeFailed(err)
			gcOK = false
		}
	}
	waitCtx(ctx, cfg.Settle)
	if cfg.BrokerCtl != "" && gcOK {
		if st, err := ctlStatus(ctx, cfg.BrokerCtl); err != nil {
			r.probeFailed(err)
		} else {
			s.Erlang, s.Procs = st.Erlang, int64(st.Procs)
		}
	}
	if cfg.Mgmt != "" {
		if nodes, err := brokerstat.Nodes(ctx, httpClient, cfg.Mgmt, cfg.MgmtUser, cfg.MgmtPass); err != nil {
			r.probeFailed(err)
		} else {
			n := brokerstat.Sum(nodes)
			s.MemUsed, s.ProcUsed, s.FDUsed = n.MemUsed, n.ProcUsed, n.FDUsed
		}
		if t, err := ObjectTotals(ctx, cfg.Mgmt, cfg.MgmtUser, cfg.MgmtPass); err != nil {
			r.probeFailed(err)
		} else {
			s.Queues = t["queues"]
		}
		if n, err := r.roomStreams(ctx); err != nil {
			r.probeFailed(err)
		} else {
			s.RoomStreams = n
		}
	}
	if len(cfg.BrokerPids) > 0 {
		s.RSSKB, s.FDs = 0, 0
		for _, pid := range cfg.BrokerPids {
			rss, _, err := ReadRSS(pid)
			if err != nil {
				r.probeFailed(err)
				s.RSSKB, s.FDs = -1, -1
				break
			}
			fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
			if err != nil {
				r.probeFailed(err)
				s.RSSKB, s.FDs = -1, -1
				break
			}
			s.RSSKB += rss
			s.FDs += int64(len(fds))
		}
	}
	return s
}

// probeFailed counts a broker reading that failed and keeps its message.
func (r *runner) probeFailed(err error) {
	r.probeErrors.Add(1)
	r.note("broker", err)
}

// ctlRun runs ctl (an executable that runs rabbitmqctl for the node, as
// bench/rabbitnode writes one) with args.
func ctlRun(ctx context.Context, ctl string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, ctlTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, ctl, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %.200s", ctl, args[0], err, out)
	}
	return nil
}

// ctlStatus reads the node's status through ctl.
func ctlStatus(ctx context.Context, ctl string) (brokerstat.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, ctlTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, ctl, "status", "--formatter", "json").CombinedOutput()
	if err != nil {
		return brokerstat.Status{}, fmt.Errorf("%s status: %w: %.200s", ctl, err, out)
	}
	return brokerstat.ParseStatus(string(out))
}

// line prints the snapshot's figures that were read.
func (s BrokerSnapshot) line() string {
	var parts []string
	add := func(v int64, f string) {
		if v >= 0 {
			parts = append(parts, fmt.Sprintf(f, v))
		}
	}
	if s.MemUsed >= 0 {
		parts = append(parts, "mem_used "+brokerstat.Bytes(float64(s.MemUsed)))
	}
	if s.Erlang >= 0 {
		parts = append(parts, "erlang "+brokerstat.Bytes(float64(s.Erlang)))
	}
	add(s.ProcUsed, "%d processes")
	add(s.FDUsed, "%d fds")
	if s.RSSKB >= 0 {
		parts = append(parts, "rss "+brokerstat.Bytes(float64(s.RSSKB*1024)))
	}
	add(s.Queues, "%d queues")
	add(s.RoomStreams, "%d room streams")
	if len(parts) == 0 {
		return "(no figures: give -mgmt, -broker-ctl or -broker-pid)"
	}
	return strings.Join(parts, ", ")
}

// Growth is a broker's growth per room between two readings; NaN-free:
// a figure missing in either reading is left out (Has* false).
type Growth struct {
	MemUsedBytes, ErlangBytes, RSSBytes float64
	Procs, FDs, Queues                  float64
	HasMem, HasErlang, HasRSS           bool
	HasProcs, HasFDs, HasQueues         bool
}

// GrowthPerRoom divides the growth from prev to s by the rooms created
// in between (zero when none were).
func (s BrokerSnapshot) GrowthPerRoom(prev BrokerSnapshot) Growth {
	var g Growth
	n := float64(s.Rooms - prev.Rooms)
	if n <= 0 {
		return g
	}
	per := func(a, b int64) (float64, bool) {
		if a < 0 || b < 0 {
			return 0, false
		}
		return float64(a-b) / n, true
	}
	g.MemUsedBytes, g.HasMem = per(s.MemUsed, prev.MemUsed)
	g.ErlangBytes, g.HasErlang = per(s.Erlang, prev.Erlang)
	g.RSSBytes, g.HasRSS = per(s.RSSKB*1024, prev.RSSKB*1024)
	if s.RSSKB < 0 || prev.RSSKB < 0 {
		g.RSSBytes, g.HasRSS = 0, false
	}
	g.Procs, g.HasProcs = per(s.ProcUsed, prev.ProcUsed)
	g.FDs, g.HasFDs = per(s.FDUsed, prev.FDUsed)
	g.Queues, g.HasQueues = per(s.Queues, prev.Queues)
	return g
}

// perRoom prints the growth per room from base to s.
func (s BrokerSnapshot) perRoom(base BrokerSnapshot) string {
	return s.GrowthPerRoom(base).String()
}

// String prints the growth's figures that were read.
func (g Growth) String() string {
	var parts []string
	if g.HasMem {
		parts = append(parts, "mem_used "+brokerstat.Bytes(g.MemUsedBytes))
	}
	if g.HasErlang {
		parts = append(parts, "erlang "+brokerstat.Bytes(g.ErlangBytes))
	}
	if g.HasRSS {
		parts = append(parts, "rss "+brokerstat.Bytes(g.RSSBytes))
	}
	if g.HasProcs {
		parts = append(parts, fmt.Sprintf("%.2f processes", g.Procs))
	}
	if g.HasFDs {
		parts = append(parts, fmt.Sprintf("%.2f fds", g.FDs))
	}
	if g.HasQueues {
		parts = append(parts, fmt.Sprintf("%.2f queues", g.Queues))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}
