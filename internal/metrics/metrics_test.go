package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"chatrelay/internal/relay"
	"chatrelay/internal/rooms/confirm"
)

// value gathers m and returns the value of name with exactly labels
// ("k=v"), the sample count for a histogram, or fails.
func value(t *testing.T, m *Metrics, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, x := range mf.GetMetric() {
			if !sameLabels(x.GetLabel(), labels) {
				continue
			}
			switch {
			case x.Counter != nil:
				return x.GetCounter().GetValue()
			case x.Gauge != nil:
				return x.GetGauge().GetValue()
			case x.Histogram != nil:
				return float64(x.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("no %s%v gathered", name, labels)
	return 0
}

func sameLabels(got []*dto.LabelPair, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i, kv := range want {
		k, v, _ := strings.Cut(kv, "=")
		if got[i].GetName() != k || got[i].GetValue() != v {
			return false
		}
	}
	return true
}

// TestHooks: each hook moves its metric, with bounded labels.
func TestHooks(t *testing.T) {
	m := New()
	if v := value(t, m, "chatrelay_connections", "transport=sockjs"); v != 0 {
		t.Fatalf("sockjs connections start at %v", v)
	}
	m.ConnectionOpened("ws")
	m.ConnectionOpened("ws")
	m.ConnectionClosed("ws")
	m.ConnectionRefused("sockjs", "origin")
	m.SessionOpened("sockjs")
	m.SessionOpened("")
	m.SessionClosed("")
	m.FrameReceived("SEND")
	m.FrameReceived("GARBAGE\x00")
	m.FrameSent("MESSAGE")
	m.MessageWritten(3 * time.Millisecond)
	m.LimitClosed("max_frame_bytes")
	m.SlowConsumerClosed()
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"chatrelay_connections", []string{"transport=ws"}, 1},
		{"chatrelay_connections_opened_total", []string{"transport=ws"}, 2},
		{"chatrelay_connections_refused_total", []string{"reason=origin", "transport=sockjs"}, 1},
		{"chatrelay_sessions", []string{"transport=sockjs"}, 1},
		{"chatrelay_sessions", []string{"transport=unknown"}, 0},
		{"chatrelay_sessions_opened_total", []string{"transport=unknown"}, 1},
		{"chatrelay_frames_received_total", []string{"command=SEND"}, 1},
		{"chatrelay_frames_received_total", []string{"command=OTHER"}, 1},
		{"chatrelay_frames_sent_total", []string{"command=MESSAGE"}, 1},
		{"chatrelay_delivery_latency_seconds", nil, 1},
		{"chatrelay_limit_closes_total", []string{"limit=max_frame_bytes"}, 1},
		{"chatrelay_slow_consumer_closes_total", nil, 1},
	} {
		if got := value(t, m, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// TestNilMetrics: a nil *Metrics records nothing and does not panic, so
// hooks may hold one.
func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.ConnectionOpened("ws")
	m.ConnectionClosed("ws")
	m.ConnectionRefused("ws", "origin")
	m.SessionOpened("ws")
	m.SessionClosed("ws")
	m.FrameReceived("SEND")
	m.FrameSent("MESSAGE")
	m.MessageWritten(time.Second)
	m.LimitClosed("x")
	m.SlowConsumerClosed()
	m.WatchRelay(func() relay.Stats { return relay.Stats{} })
}

// TestRelayMetrics: the relay's snapshot becomes per-upstream and
// per-kind series at each scrape; WatchRelay registers once.
func TestRelayMetrics(t *testing.T) {
	m := New()
	st := relay.Stats{
		Upstreams: []relay.UpstreamStats{
			{Connected: true, Reconnects: 2, OutboxFrames: 0},
			{Connected: false, Reconnects: 5, OutboxFrames: 7, OutboxBytes: 700},
		},
		SharedSubscriptions: 3, SingleSubscriptions: 4, MessagesReceived: 10, FanoutDeliveries: 25,
	}
	m.WatchRelay(func() relay.Stats { return st })
	m.WatchRelay(func() relay.Stats { return relay.Stats{} }) // ignored
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"chatrelay_upstream_up", []string{"upstream=0"}, 1},
		{"chatrelay_upstream_up", []string{"upstream=1"}, 0},
		{"chatrelay_upstream_reconnects_total", []string{"upstream=1"}, 5},
		{"chatrelay_upstream_outbox_frames", []string{"upstream=1"}, 7},
		{"chatrelay_upstream_outbox_bytes", []string{"upstream=1"}, 700},
		{"chatrelay_upstream_subscriptions", []string{"kind=shared"}, 3},
		{"chatrelay_upstream_subscriptions", []string{"kind=single"}, 4},
		{"chatrelay_upstream_messages_received_total", nil, 10},
		{"chatrelay_fanout_deliveries_total", nil, 25},
	} {
		if got := value(t, m, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func TestConfirmMetrics(t *testing.T) {
	m := New()
	st := confirm.Stats{Stored: 9, NotStored: 2, Republished: 4, Busy: 5, Pending: 3}
	m.WatchConfirm(func() confirm.Stats { return st })
	m.WatchConfirm(func() confirm.Stats { return confirm.Stats{} }) // ignored
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"chatrelay_room_messages_confirmed_total", []string{"result=stored"}, 9},
		{"chatrelay_room_messages_confirmed_total", []string{"result=not_stored"}, 2},
		{"chatrelay_room_messages_confirmed_total", []string{"result=busy"}, 5},
		{"chatrelay_room_messages_republished_total", nil, 4},
		{"chatrelay_room_messages_awaiting_confirmation", nil, 3},
	} {
		if got := value(t, m, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// TestHandlerAndRegistries: two Metrics live side by side (no global
// registry), and Handler serves the text format.
func TestHandlerAndRegistries(t *testing.T) {
	a, b := New(), New()
	a.SessionOpened("ws")
	rec := httptest.NewRecorder()
	b.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 || !strings.Contains(string(body), `chatrelay_sessions{transport="ws"} 0`) {
		t.Fatalf("%d\n%s", rec.Code, body)
	}
	if !strings.Contains(string(body), "go_goroutines") {
		t.Fatal("no Go runtime metrics")
	}
}
