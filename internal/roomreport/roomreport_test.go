package roomreport

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chatrelay/internal/httpapi"
)

// fakes serves an admin view behind key and a management API whose
// stream counts grow by 10 per request.
func fakes(t *testing.T, key string) (admin, mgmt *httptest.Server) {
	view := httpapi.AdminView{
		Replica: httpapi.ReplicaView{ID: "web-1:8080", Connections: []httpapi.BrokerConnection{{Protocol: "AMQP 0-9-1", Name: "chatrelay web-1:8080 rooms"}}},
		Rooms: []httpapi.AdminRoom{
			{ID: "aaaa", Name: "general", Stream: "room.general.aaaa", Online: 3},
			{ID: "bbbb", Name: "채팅방\tx", Stream: "room.chaetingbang-x.bbbb", Private: true},
			{ID: "cccc", Name: "gone", Stream: "room.gone.cccc"},
		},
	}
	admin = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/admin/rooms" || r.Header.Get("Authorization") != "Bearer "+key {
			http.Error(w, `{"error":"missing or wrong API key"}`, http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(view)
	}))
	t.Cleanup(admin.Close)
	var calls atomic.Int64
	mgmt = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, _ := r.BasicAuth(); u != "ops" || p != "pw" || r.URL.EscapedPath() != "/api/queues/%2F" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		n := 10 * calls.Add(1)
		json.NewEncoder(w).Encode([]map[string]any{
			{"name": "room.general.aaaa", "type": "stream", "messages": 100 + n},
			{"name": "room.chaetingbang-x.bbbb", "type": "stream", "messages": 50 - n}, // retention shrank it
			{"name": "room.gone.cccc", "type": "classic", "messages": 7},
		})
	}))
	t.Cleanup(mgmt.Close)
	return admin, mgmt
}

func TestReportWithRates(t *testing.T) {
	admin, mgmt := fakes(t, "k")
	src := Sources{Server: admin.URL, APIKey: "k", Management: mgmt.URL, User: "ops", Password: "pw"}
	rep, err := Take(context.Background(), src, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rooms) != 3 || rep.Replica.ID != "web-1:8080" {
		t.Fatalf("report %+v", rep)
	}
	g := rep.Rooms[0]
	if g.Messages == nil || *g.Messages != 120 || g.Rate == nil || *g.Rate <= 0 || *g.Rate > 10/0.05 {
		t.Fatalf("general: %+v", g)
	}
	if k := rep.Rooms[1]; k.Messages == nil || *k.Messages != 30 || k.Rate != nil {
		t.Fatalf("shrunk stream: messages %v rate %v", k.Messages, k.Rate)
	}
	if c := rep.Rooms[2]; c.Messages != nil || c.Rate != nil {
		t.Fatalf("room whose stream is not a stream: %+v", c)
	}
	var out strings.Builder
	if err := WriteTable(&out, rep); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"replica web-1:8080", "chatrelay web-1:8080 rooms", "room.general.aaaa", "채팅방 x (private)", "3 rooms"} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	if strings.Count(text, "\n") != 3+1+3+1 {
		t.Errorf("table has a broken row:\n%s", text)
	}
	// the STREAM column starts at one terminal column on every row,
	// Hangul counting two
	lines := strings.Split(text, "\n")
	col := func(line, at string) int { return displayWidth(line[:strings.Index(line, at)]) }
	head := col(lines[3], "STREAM")
	for _, line := range lines[4:7] {
		if got := col(line, "room."); got != head {
			t.Errorf("stream at column %d, header at %d:\n%s", got, head, text)
		}
	}
}

func TestReportWithoutManagement(t *testing.T) {
	admin, _ := fakes(t, "k")
	rep, err := Take(context.Background(), Sources{Server: admin.URL, APIKey: "k"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Interval != 0 || rep.Rooms[0].Messages != nil || rep.Rooms[0].Rate != nil || rep.Rooms[0].Online != 3 {
		t.Fatalf("%+v", rep)
	}
}

func TestReportRefusals(t *testing.T) {
	admin, mgmt := fakes(t, "k")
	if _, err := Take(context.Background(), Sources{Server: admin.URL, APIKey: "wrong"}, 0); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong API key: %v", err)
	}
	src := Sources{Server: admin.URL, APIKey: "k", Management: mgmt.URL, User: "ops", Password: "bad"}
	if _, err := Take(context.Background(), src, 0); err == nil || !strings.Contains(err.Error(), "management API") || strings.Contains(err.Error(), "bad") {
		t.Fatalf("wrong management password: %v", err)
	}
}
