// Package brokerstat reads what a RabbitMQ node costs at one moment:
// memory, Erlang processes and file descriptors as the management API
// reports them per node (GET /api/nodes), how many queues have names
// matching a pattern (GET /api/queues, filtered), and the Erlang memory
// breakdown of `rabbitmqctl status --formatter json`. bench/roomcost and the load
// tool (internal/bench) both measure the broker through it.
package brokerstat

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Node is one entry of GET /api/nodes: the figures the management
// plugin samples per node.
type Node struct {
	Name     string `json:"name"`
	MemUsed  int64  `json:"mem_used"`
	ProcUsed int64  `json:"proc_used"`
	FDUsed   int64  `json:"fd_used"`
	Running  bool   `json:"running"`
}

// Nodes GETs base/api/nodes as user:pass and returns every node's
// figures.
func Nodes(ctx context.Context, hc *http.Client, base, user, pass string) ([]Node, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/api/nodes", nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(user, pass)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("management nodes: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("management nodes: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("management nodes: HTTP %d: %.200s", resp.StatusCode, body)
	}
	return ParseNodes(body)
}

// ParseNodes decodes a GET /api/nodes answer.
func ParseNodes(body []byte) ([]Node, error) {
	var nodes []Node
	if err := json.Unmarshal(body, &nodes); err != nil {
		return nil, fmt.Errorf("management nodes: %w", err)
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("management nodes: none listed")
	}
	return nodes, nil
}

// RoomStreamPattern matches the names of chatrelay's room streams
// (room.<slug>.<id>, after a reopen room.<slug>.<id>.e<N>): every one
// starts with "room.".
const RoomStreamPattern = `^room\.`

// QueueCount GETs base/api/queues as user:pass, filtered by the regular
// expression pattern on the queue name (every virtual host), and returns
// how many queues match. It asks for one item of one page without
// statistics, so the answer stays small with 100,000 queues.
func QueueCount(ctx context.Context, hc *http.Client, base, user, pass, pattern string) (int64, error) {
	q := url.Values{"page": {"1"}, "page_size": {"1"}, "name": {pattern}, "use_regex": {"true"},
		"columns": {"name"}, "disable_stats": {"true"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/api/queues?"+q.Encode(), nil)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(user, pass)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("management queues: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("management queues: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("management queues: HTTP %d: %.200s", resp.StatusCode, body)
	}
	return ParseQueuePage(body)
}

// ParseQueuePage reads the matching queue count (filtered_count) from a
// paginated GET /api/queues answer.
func ParseQueuePage(body []byte) (int64, error) {
	var page struct {
		FilteredCount *int64 `json:"filtered_count"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return 0, fmt.Errorf("management queues: %w", err)
	}
	if page.FilteredCount == nil {
		return 0, fmt.Errorf("management queues: no filtered_count in %.200s", body)
	}
	return *page.FilteredCount, nil
}

// Find returns the node called name among nodes.
func Find(nodes []Node, name string) (Node, error) {
	for _, n := range nodes {
		if n.Name == name {
			return n, nil
		}
	}
	return Node{}, fmt.Errorf("management nodes: no node %s", name)
}

// Sum adds up the figures of every node (a cluster's total; one node's
// own figures when there is one) and names the sum "sum of N nodes".
func Sum(nodes []Node) Node {
	if len(nodes) == 1 {
		return nodes[0]
	}
	s := Node{Name: fmt.Sprintf("sum of %d nodes", len(nodes)), Running: true}
	for _, n := range nodes {
		s.MemUsed += n.MemUsed
		s.ProcUsed += n.ProcUsed
		s.FDUsed += n.FDUsed
		s.Running = s.Running && n.Running
	}
	return s
}

// Status is the part of `rabbitmqctl status --formatter json` that
// measures the node: its Erlang memory total and breakdown (bytes) and
// its Erlang processes.
type Status struct {
	Erlang    int64
	Breakdown map[string]int64
	Procs     int
}

// status is the JSON form ParseStatus reads.
type status struct {
	Memory    map[string]json.RawMessage `json:"memory"`
	Processes struct {
		Used int `json:"used"`
	} `json:"processes"`
}

// ParseStatus reads the Erlang memory total, the memory breakdown and the
// process count from `rabbitmqctl status --formatter json` output, which
// may carry lines of text before the JSON document.
func ParseStatus(out string) (Status, error) {
	i := strings.Index(out, "{")
	if i < 0 {
		return Status{}, fmt.Errorf("status: no JSON in %q", out)
	}
	var st status
	if err := json.Unmarshal([]byte(out[i:]), &st); err != nil {
		return Status{}, fmt.Errorf("status: %w", err)
	}
	s := Status{Breakdown: map[string]int64{}, Procs: st.Processes.Used}
	for name, raw := range st.Memory {
		var v int64
		if json.Unmarshal(raw, &v) == nil {
			s.Breakdown[name] = v
			continue
		}
		if name == "total" {
			var t struct {
				Erlang int64 `json:"erlang"`
			}
			if err := json.Unmarshal(raw, &t); err != nil {
				return Status{}, fmt.Errorf("status: memory total: %w", err)
			}
			s.Erlang = t.Erlang
		}
	}
	if s.Erlang == 0 {
		return Status{}, fmt.Errorf("status: no memory total")
	}
	return s, nil
}

// GCAll is the Erlang expression, for `rabbitmqctl eval`, that
// garbage-collects every process of the node, so that dead garbage does
// not count as cost in the figures read next.
const GCAll = "[erlang:garbage_collect(P) || P <- erlang:processes()], ok."

// Bytes renders a byte count (possibly fractional or negative) the way
// the tools' tables do: B, KB, MB or GB (powers of 1,000).
func Bytes(b float64) string {
	neg := ""
	if b < 0 {
		neg, b = "-", -b
	}
	switch {
	case b >= 1e9:
		return fmt.Sprintf("%s%.2f GB", neg, b/1e9)
	case b >= 1e6:
		return fmt.Sprintf("%s%.1f MB", neg, b/1e6)
	case b >= 1e3:
		return fmt.Sprintf("%s%.1f KB", neg, b/1e3)
	}
	return fmt.Sprintf("%s%.0f B", neg, b)
}
