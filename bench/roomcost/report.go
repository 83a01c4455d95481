package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"chatrelay/internal/brokerstat"
)

// Snapshot is what the broker costs at one moment.
type Snapshot struct {
	// MemUsed is the management API's mem_used of the node (RSS on
	// these nodes: vm_memory_calculation_strategy = rss). It is sampled
	// every collect_statistics_interval, so it may lag a little.
	MemUsed int64
	// Erlang is rabbitmqctl status's memory total.erlang: what the
	// Erlang VM has allocated, read live.
	Erlang int64
	// Procs is the number of Erlang processes (rabbitmqctl status).
	Procs int
	// FDs is the number of open file descriptors of the beam process
	// (/proc/PID/fd).
	FDs int
	// Breakdown is rabbitmqctl status's memory breakdown by category
	// (queue_procs, stream_queue_procs, mnesia, binary, ...).
	Breakdown map[string]int64
}

// Result is one candidate measured at one N.
type Result struct {
	Candidate string
	// Objects is how many objects were created (N, or fewer when
	// creation failed; 16 for the partition streams).
	Objects int
	// Rooms is how many rooms the objects stand for (N).
	Rooms int
	// Messages is how many messages were published in all.
	Messages      int
	Before, After Snapshot
	// Latencies are the declare (and bind) round trips, one per object.
	Latencies []time.Duration
	// Took is the wall time of creating everything, messages included.
	Took time.Duration
	// Err is why creation stopped early ("" when it did not).
	Err string
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// ds, which need not be sorted; 0 for none.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(s) {
		rank = len(s)
	}
	return s[rank-1]
}

// perRoom divides a growth by the number of rooms (0 without rooms).
func perRoom(delta int64, rooms int) float64 {
	if rooms == 0 {
		return 0
	}
	return float64(delta) / float64(rooms)
}

// ms renders a duration in milliseconds with two decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// tableHeader is the first two lines of the Markdown table Row fills.
const tableHeader = "| candidate | rooms | objects | msgs | Δ mem_used (RSS) | per room | Δ erlang | per room | Δ procs | Δ fds | declare p50 ms | p99 ms | took | biggest growth |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"

// Row renders r as one line of the Markdown table (tableHeader).
func (r Result) Row() string {
	dMem := r.After.MemUsed - r.Before.MemUsed
	dErl := r.After.Erlang - r.Before.Erlang
	name := r.Candidate
	if r.Err != "" {
		name += " (stopped: " + r.Err + ")"
	}
	return fmt.Sprintf("| %s | %d | %d | %d | %s | %s | %s | %s | %+d | %+d | %s | %s | %s | %s |",
		name, r.Rooms, r.Objects, r.Messages,
		brokerstat.Bytes(float64(dMem)), brokerstat.Bytes(perRoom(dMem, r.Rooms)),
		brokerstat.Bytes(float64(dErl)), brokerstat.Bytes(perRoom(dErl, r.Rooms)),
		r.After.Procs-r.Before.Procs, r.After.FDs-r.Before.FDs,
		ms(percentile(r.Latencies, 50)), ms(percentile(r.Latencies, 99)),
		r.Took.Round(100*time.Millisecond), strings.Join(growth(r.Before.Breakdown, r.After.Breakdown, 3), ", "))
}

// growth lists the k memory categories that grew most from before to
// after, as "name +size", biggest first; totals and the allocator's
// reserve are left out.
func growth(before, after map[string]int64, k int) []string {
	type cat struct {
		name  string
		delta int64
	}
	var cs []cat
	for name, v := range after {
		switch name {
		case "total", "reserved_unallocated", "allocated_unused", "strategy":
			continue
		}
		if d := v - before[name]; d > 0 {
			cs = append(cs, cat{name, d})
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].delta != cs[j].delta {
			return cs[i].delta > cs[j].delta
		}
		return cs[i].name < cs[j].name
	})
	var out []string
	for i := 0; i < len(cs) && i < k; i++ {
		out = append(out, cs[i].name+" +"+brokerstat.Bytes(float64(cs[i].delta)))
	}
	return out
}

// roomOf is the partition stream (0..partitions-1) that holds room i's
// messages: FNV-1a of its name, modulo partitions.
func roomOf(room string, partitions int) int {
	h := uint32(2166136261)
	for i := 0; i < len(room); i++ {
		h ^= uint32(room[i])
		h *= 16777619
	}
	return int(h % uint32(partitions))
}
