package brokerstat

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// statusJSON is trimmed `rabbitmqctl status --formatter json` output of
// RabbitMQ 3.10.8.
const statusJSON = `{"alarms":[],"memory":{"allocated_unused":0,"atom":1425737,"binary":252032,` +
	`"mnesia":91848,"queue_procs":0,"stream_queue_procs":2768,"reserved_unallocated":92217344,` +
	`"strategy":"rss","total":{"erlang":73597544,"rss":143196160,"allocated":50978816}},` +
	`"processes":{"limit":1048576,"used":394},"file_descriptors":{"total_used":2}}`

func TestParseStatus(t *testing.T) {
	st, err := ParseStatus("Status of node x@localhost ...\n" + statusJSON)
	if err != nil {
		t.Fatal(err)
	}
	if st.Erlang != 73597544 || st.Procs != 394 {
		t.Errorf("erlang %d procs %d, want 73597544 394", st.Erlang, st.Procs)
	}
	if st.Breakdown["mnesia"] != 91848 || st.Breakdown["stream_queue_procs"] != 2768 {
		t.Errorf("breakdown %v", st.Breakdown)
	}
	if _, ok := st.Breakdown["strategy"]; ok {
		t.Errorf("breakdown kept the non-number strategy: %v", st.Breakdown)
	}
	for _, bad := range []string{"", "Error: unable to perform an operation", `{"memory":{}}`, `{"memory":`} {
		if _, err := ParseStatus(bad); err == nil {
			t.Errorf("ParseStatus(%q): no error", bad)
		}
	}
}

// nodesJSON is a trimmed GET /api/nodes answer for two nodes.
const nodesJSON = `[{"name":"a@h","mem_used":1000,"proc_used":10,"fd_used":5,"running":true,"other":1},` +
	`{"name":"b@h","mem_used":2000,"proc_used":20,"fd_used":7,"running":true}]`

func TestNodesFindSum(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "guest" || p != "pw" || r.URL.Path != "/api/nodes" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(nodesJSON))
	}))
	defer srv.Close()
	hc := &http.Client{Timeout: 5 * time.Second}
	nodes, err := Nodes(context.Background(), hc, srv.URL+"/", "guest", "pw")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Find(nodes, "b@h")
	if err != nil || b.MemUsed != 2000 || b.ProcUsed != 20 || b.FDUsed != 7 {
		t.Errorf("Find b@h = %+v, %v", b, err)
	}
	if _, err := Find(nodes, "c@h"); err == nil {
		t.Error("Find of a missing node: no error")
	}
	if s := Sum(nodes); s.MemUsed != 3000 || s.ProcUsed != 30 || s.FDUsed != 12 || s.Name != "sum of 2 nodes" {
		t.Errorf("Sum = %+v", s)
	}
	if s := Sum(nodes[:1]); s != nodes[0] {
		t.Errorf("Sum of one = %+v, want the node", s)
	}
	if _, err := Nodes(context.Background(), hc, srv.URL, "guest", "wrong"); err == nil {
		t.Error("refused request: no error")
	}
	for _, bad := range []string{"", "[]", "{}"} {
		if _, err := ParseNodes([]byte(bad)); err == nil {
			t.Errorf("ParseNodes(%q): no error", bad)
		}
	}
}

// queuePageJSON is RabbitMQ 3.10.8's answer to GET /api/queues?page=1&
// page_size=1&name=^room\.&use_regex=true&columns=name&disable_stats=true
// with queues room.a.1, room.b.2.e1, roomx and other.room.c.
const queuePageJSON = `{"filtered_count":2,"item_count":1,"items":[{"name":"room.a.1"}],"page":1,` +
	`"page_count":2,"page_size":1,"total_count":4}`

func TestQueueCount(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if u, p, ok := r.BasicAuth(); !ok || u != "guest" || p != "pw" || r.URL.Path != "/api/queues" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		if q.Get("name") != RoomStreamPattern || q.Get("use_regex") != "true" || q.Get("page") != "1" || q.Get("page_size") != "1" {
			http.Error(w, "query "+r.URL.RawQuery, http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte(queuePageJSON))
	}))
	defer srv.Close()
	hc := &http.Client{Timeout: 5 * time.Second}
	n, err := QueueCount(context.Background(), hc, srv.URL+"/", "guest", "pw", RoomStreamPattern)
	if err != nil || n != 2 {
		t.Fatalf("QueueCount = %d, %v; want 2", n, err)
	}
	if _, err := QueueCount(context.Background(), hc, srv.URL, "guest", "wrong", RoomStreamPattern); err == nil {
		t.Error("refused request: no error")
	}
	if n, err := ParseQueuePage([]byte(`{"filtered_count":0,"items":[]}`)); err != nil || n != 0 {
		t.Errorf("no match: %d, %v", n, err)
	}
	// an unpaginated answer (a plain list) has no count
	for _, bad := range []string{"", "[]", "{}", `{"filtered_count":"x"}`} {
		if _, err := ParseQueuePage([]byte(bad)); err == nil {
			t.Errorf("ParseQueuePage(%q): no error", bad)
		}
	}
}

func TestBytes(t *testing.T) {
	for b, want := range map[float64]string{
		0: "0 B", 999: "999 B", 1500: "1.5 KB", -2500: "-2.5 KB",
		170e3: "170.0 KB", 345e6: "345.0 MB", 17e9: "17.00 GB",
	} {
		if got := Bytes(b); got != want {
			t.Errorf("Bytes(%v) = %q, want %q", b, got, want)
		}
	}
}
