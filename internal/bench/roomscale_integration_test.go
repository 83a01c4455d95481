package bench

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chatrelay/internal/brokerstat"
	"chatrelay/internal/config"
)

// fakeMgmt is a management API answering /api/nodes and /api/overview,
// its node's memory growing by 1,000 bytes per reading, and /api/queues
// filtered to the room streams: 2 of them.
func fakeMgmt(t *testing.T) string {
	return fakeMgmtStreams(t, func(int64) int64 { return 2 })
}

// fakeMgmtStreams is fakeMgmt whose n-th room stream count (from 1) is
// streams(n).
func fakeMgmtStreams(t *testing.T, streams func(n int64) int64) string {
	var reads, counts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/nodes":
			n := reads.Add(1)
			_ = json.NewEncoder(w).Encode([]map[string]any{{"name": "n@h", "mem_used": 1e6 + 1000*n, "proc_used": 100 + n, "fd_used": 10, "running": true}})
		case "/api/overview":
			_, _ = w.Write([]byte(`{"object_totals":{"connections":0,"queues":3}}`))
		case "/api/queues":
			if r.URL.Query().Get("name") != brokerstat.RoomStreamPattern || r.URL.Query().Get("use_regex") != "true" {
				http.Error(w, "unfiltered", http.StatusBadRequest)
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"filtered_count": streams(counts.Add(1)), "items": []any{}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// A small rooms-at-scale run against a real replica (embedded broker):
// every room created, the history pushed where it belongs, the broker
// read at each checkpoint after an archive wait (the fake management
// API's room streams go 60, 55, 50, ...: the default bound, 4 active
// rooms + ArchiveSlack = 54, is met at the third count), and the rate
// steps delivered in the active rooms. Times are reported, not asserted
// (the create p99 bound is generous).
func TestRoomsScale(t *testing.T) {
	url := startChatrelay(t)
	mgmt := fakeMgmtStreams(t, func(n int64) int64 { return max(0, 65-5*n) })
	cfg := Config{
		Mode: ModeChatrelay, URLs: []string{url}, APIKey: testAPIKey, Clients: 8, Rooms: 4, Senders: 4,
		Rates: []float64{20}, Warmup: 100 * time.Millisecond, Duration: time.Second, Drain: 10 * time.Second,
		RoomsScale: 30, Checkpoints: []int{10}, HistoryFraction: 0.5, HistoryMessages: 2, CreateP99: 5 * time.Second,
		Mgmt: mgmt, MgmtUser: "guest", MgmtPass: "guest", BrokerPids: []int{os.Getpid()}, KeepRooms: true,
		BrokerCtl:   fakeCtl(t, 0),
		WatchErrors: true,
		ArchiveWait: time.Second, // polls every 100 ms
	}
	rep := runReport(t, cfg)
	rs := rep.RoomsScale
	if rs == nil || !rep.OK || !rs.OK || rs.Created != 30 || rs.Posted != 30 || rs.CreateErrors+rs.PostErrors+rs.ProbeErrors != 0 {
		t.Fatalf("run not OK: %+v, errors %+v", rs, rep.Errors)
	}
	if len(rs.Checkpoints) != 2 || rs.Checkpoints[0].Rooms != 10 || rs.Checkpoints[1].Rooms != 30 || rs.AfterActive == nil {
		t.Fatalf("checkpoints %+v, after active %v", rs.Checkpoints, rs.AfterActive)
	}
	for _, s := range append([]BrokerSnapshot{rs.Baseline}, rs.Checkpoints...) {
		if s.MemUsed <= 0 || s.ProcUsed <= 0 || s.Queues != 3 || s.RSSKB <= 0 || s.FDs <= 0 || s.Erlang != 73597544 || s.Procs != 394 || s.RoomStreams < 0 {
			t.Errorf("reading %+v", s)
		}
	}
	// counts: 60 before, then 55, 50 (met) and 45 read at checkpoint 10,
	// 40 (met) and 35 at 30 rooms, 30 after the steps
	a0, a1 := rs.Checkpoints[0].Archive, rs.Checkpoints[1].Archive
	if !rs.ArchiveMet || rs.ArchiveMaxStreams != 54 || rs.ArchiveWaitSeconds != 1 || rs.Baseline.Archive != nil ||
		a0 == nil || !a0.Met || a0.Polls != 2 || a0.Streams != 50 || a0.MaxStreams != 54 || rs.Checkpoints[0].RoomStreams != 45 ||
		a1 == nil || !a1.Met || a1.Polls != 1 || a1.Streams != 40 || rs.Checkpoints[1].RoomStreams != 35 || rs.AfterActive.RoomStreams != 30 {
		t.Errorf("archive waits: met %v, bound %d, %+v, %+v; streams %d, %d, %d", rs.ArchiveMet, rs.ArchiveMaxStreams, a0, a1,
			rs.Checkpoints[0].RoomStreams, rs.Checkpoints[1].RoomStreams, rs.AfterActive.RoomStreams)
	}
	// the fake's memory grows 1,000 bytes a reading: 2,000 over 30 rooms
	if g := rs.Checkpoints[1].GrowthPerRoom(rs.Baseline); !g.HasMem || int(g.MemUsedBytes) != 66 {
		t.Errorf("growth per room %+v", g)
	}
	if len(rep.Steps) != 1 || rep.Steps[0].Sent == 0 || rep.Steps[0].Delivered != 2*rep.Steps[0].Sent {
		t.Errorf("steps %+v", rep.Steps)
	}
	// room 1 has history (HasHistory), room 2 none; the active rooms
	// (0, 7, 15 and 22) got the steps' messages too
	for i, want := range map[int]int{1: 2, 2: 0} {
		if got := historyCount(t, url, "chatbench-"+rep.RunID+"-"+strconv.Itoa(i)); got != want {
			t.Errorf("room %d: %d history messages, want %d", i, got, want)
		}
	}
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil || !strings.Contains(table.String(), "30/30 created (0 failed)") ||
		!strings.Contains(table.String(), "met at every checkpoint") || !strings.Contains(table.String(), "rooms    OK") {
		t.Errorf("table %v:\n%s", err, table.String())
	}
}

// Rooms that cannot be created (a wrong API key) are reported: the run
// ends with an error and a report that is not OK.
func TestRoomsScaleCreateRefused(t *testing.T) {
	cfg := Config{
		Mode: ModeChatrelay, URLs: []string{startChatrelay(t)}, APIKey: "wrong", Clients: 2, Rooms: 1,
		Rates: []float64{10}, Duration: time.Second, RoomsScale: 3,
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err == nil || rep == nil || rep.OK || rep.RoomsScale.OK || rep.RoomsScale.CreateErrors != 3 || rep.RoomsScale.Created != 0 {
		t.Fatalf("refused creations not reported: %v, %+v", err, rep)
	}
}

// Rooms the server refuses past its cap (rooms.create.max_rooms) are
// counted and make the run not OK; the load still runs in the active
// rooms that were created.
func TestRoomsScaleCapped(t *testing.T) {
	url := startChatrelayWith(t, func(c *config.Config) { c.Rooms.Create.MaxRooms = 25 })
	cfg := Config{
		Mode: ModeChatrelay, URLs: []string{url}, APIKey: testAPIKey, Clients: 8, Rooms: 4, Senders: 4,
		Rates: []float64{20}, Duration: time.Second, Drain: 10 * time.Second, RoomsScale: 30, CreateP99: 5 * time.Second,
	}
	rep := runReport(t, cfg)
	rs := rep.RoomsScale
	if rep.OK || rs.OK || rs.Created != 25 || rs.CreateErrors != 5 || len(rep.Errors.Samples) == 0 {
		t.Fatalf("capped creations not reported: %+v, errors %+v", rs, rep.Errors)
	}
	if len(rep.Steps) != 1 || rep.Steps[0].Sent == 0 || rep.Steps[0].Delivered != rep.Steps[0].Expected {
		t.Errorf("no load in the created active rooms: %+v", rep.Steps)
	}
}

// historyCount returns how many messages the history of the room named
// name holds (found through GET /api/rooms, read through GET
// /api/rooms/{id}/messages).
func historyCount(t *testing.T, wsURL, name string) int {
	t.Helper()
	base := HTTPBase(wsURL)
	var page struct {
		Rooms []struct{ ID, Name string } `json:"rooms"`
	}
	getJSON(t, base+"/api/rooms?limit=100", &page)
	for _, rm := range page.Rooms {
		if rm.Name == name {
			var h struct {
				Messages []json.RawMessage `json:"messages"`
			}
			getJSON(t, base+"/api/rooms/"+rm.ID+"/messages", &h)
			return len(h.Messages)
		}
	}
	t.Fatalf("no room %s among %d", name, len(page.Rooms))
	return 0
}

// getJSON GETs url and decodes its JSON answer into out.
func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// fakeCtlStatus is what fakeCtl prints for status: trimmed
// `rabbitmqctl status --formatter json` output of RabbitMQ 3.10.8.
const fakeCtlStatus = `{"memory":{"binary":252032,"total":{"erlang":73597544,"rss":143196160}},"processes":{"limit":1048576,"used":394}}`

// fakeCtl writes a stand-in for bench/rabbitnode's rabbitmqctl script:
// it prints fakeCtlStatus for status and exits with code for everything.
func fakeCtl(t *testing.T, code int) string {
	path := filepath.Join(t.TempDir(), "ctl")
	script := "#!/bin/sh\ncase $1 in status) echo '" + fakeCtlStatus + "';; *) echo ok;; esac\nexit " + strconv.Itoa(code) + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// An archive wait against a broker whose room streams stay above the
// bound (no archiving) ends at its limit, NOT met, with the last count;
// one whose count cannot be read ends the same way with a failed broker
// reading counted; one already within the bound ends at the first poll.
func TestWaitArchived(t *testing.T) {
	wait := 300 * time.Millisecond
	cfg := Config{Mgmt: fakeMgmtStreams(t, func(int64) int64 { return 80 }), ArchiveWait: wait, ArchiveMaxStreams: 54}
	r := &runner{cfg: cfg}
	begin := time.Now()
	a := r.waitArchived(context.Background())
	if took := time.Since(begin); a.Met || a.Streams != 80 || a.MaxStreams != 54 || a.Polls < 3 || took < wait || took > wait+time.Second ||
		a.Seconds < wait.Seconds() || r.probeErrors.Load() != 0 {
		t.Errorf("no archiving: %+v after %v, %d probe errors", a, took, r.probeErrors.Load())
	}
	if s := a.String(); !strings.HasPrefix(s, "NOT met: 80 room streams, bound 54, after 0.3") {
		t.Errorf("prints %q", s)
	}
	cfg.ArchiveMaxStreams = 80
	r = &runner{cfg: cfg}
	if a := r.waitArchived(context.Background()); !a.Met || a.Polls != 1 || a.Streams != 80 {
		t.Errorf("within the bound: %+v", a)
	}
	cfg.Mgmt = fakeMgmtStreams(t, func(int64) int64 { return 1 }) + "/nothing-here"
	r = &runner{cfg: cfg}
	if a := r.waitArchived(context.Background()); a.Met || a.Streams != -1 || r.probeErrors.Load() != 1 || len(r.samples) < 2 ||
		!strings.HasPrefix(a.String(), "NOT met: unknown room streams") {
		t.Errorf("unreadable count: %+v, %d probe errors, samples %q", a, r.probeErrors.Load(), r.samples)
	}
}

// A broker reading that fails (rabbitmqctl exits non-zero) is counted
// and leaves its figures unread (-1), which makes a run not OK.
func TestBrokerSnapshotCtlFails(t *testing.T) {
	r := &runner{cfg: Config{BrokerCtl: fakeCtl(t, 1)}}
	s := r.brokerSnapshot(context.Background(), 5)
	if s.Erlang != -1 || s.Procs != -1 || s.Rooms != 5 || r.probeErrors.Load() != 1 || len(r.samples) != 1 {
		t.Errorf("failed ctl: %+v, %d probe errors, samples %q", s, r.probeErrors.Load(), r.samples)
	}
}
