package bench

import (
	"context"
	"fmt"
	"time"

	"chatrelay/internal/brokerstat"
)

// ArchiveSlack is how many room streams beyond the active rooms the
// default bound of an archive wait (Config.ArchiveMaxStreams 0) allows:
// rooms whose last message is younger than the server's idle time, and
// archivings in flight.
const ArchiveSlack = 50

// ArchiveCatchUp is one checkpoint's wait for the server's archiving
// (Config.ArchiveWait): how many room streams the broker held when the
// wait ended, how long it took and whether the bound was met.
type ArchiveCatchUp struct {
	// MaxStreams is the bound: at most this many room streams.
	MaxStreams int `json:"max_streams"`
	// Streams is the room stream count the last poll read (-1: no poll
	// could read it).
	Streams int64 `json:"streams"`
	// Seconds is how long the wait took; Polls how many counts it read.
	Seconds float64 `json:"seconds"`
	Polls   int     `json:"polls"`
	// Met: a poll read at most MaxStreams room streams before the wait's
	// limit. False means the broker was read with more streams left.
	Met bool `json:"met"`
}

// String prints the wait's outcome for the progress and table lines.
func (a ArchiveCatchUp) String() string {
	streams := "unknown"
	if a.Streams >= 0 {
		streams = fmt.Sprint(a.Streams)
	}
	if a.Met {
		return fmt.Sprintf("met: %s room streams <= %d after %.1fs", streams, a.MaxStreams, a.Seconds)
	}
	return fmt.Sprintf("NOT met: %s room streams, bound %d, after %.1fs", streams, a.MaxStreams, a.Seconds)
}

// archivePoll is how often an archive wait of limit reads the room
// stream count: every second, more often when the limit is under 10 s
// (a tenth of it, at least every 50 ms).
func archivePoll(limit time.Duration) time.Duration {
	return min(time.Second, max(limit/10, 50*time.Millisecond))
}

// waitArchived polls the broker's room stream count until it is at most
// ArchiveMaxStreams or ArchiveWait has passed. A count that cannot be
// read is noted; it is counted as a failed broker reading only when the
// wait ends without the bound met and its last poll failed.
func (r *runner) waitArchived(ctx context.Context) ArchiveCatchUp {
	cfg := &r.cfg
	a := ArchiveCatchUp{MaxStreams: cfg.ArchiveMaxStreams, Streams: -1}
	every := archivePoll(cfg.ArchiveWait)
	begin := time.Now()
	for {
		n, err := r.roomStreams(ctx)
		a.Polls++
		if err == nil {
			a.Streams = n
			if n <= int64(a.MaxStreams) {
				a.Met = true
				break
			}
		} else if ctx.Err() == nil {
			r.note("archive", err)
		}
		left := cfg.ArchiveWait - time.Since(begin)
		if left <= 0 || ctx.Err() != nil {
			if err != nil && ctx.Err() == nil {
				r.probeErrors.Add(1)
			}
			break
		}
		waitCtx(ctx, min(every, left))
	}
	a.Seconds = time.Since(begin).Seconds()
	return a
}

// roomStreams reads how many room streams (queues named room.*) the
// broker holds, from the management API.
func (r *runner) roomStreams(ctx context.Context) (int64, error) {
	cfg := &r.cfg
	return brokerstat.QueueCount(ctx, httpClient, cfg.Mgmt, cfg.MgmtUser, cfg.MgmtPass, brokerstat.RoomStreamPattern)
}
