package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
)

// scrape is one parsed GET /metrics.
type scrape map[string]*dto.MetricFamily

// scrapeMetrics fetches and parses r's /metrics in the text format.
func scrapeMetrics(t testing.TB, r *replica) scrape {
	t.Helper()
	resp, err := http.Get(r.HTTP() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mf, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mf
}

// value returns the value of metric name with the given labels
// ("k=v" pairs; others may be present), and whether it exists. A
// histogram gives its sample count.
func (s scrape) value(name string, labels ...string) (float64, bool) {
	mf := s[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// get is value, failing the test when the metric is missing.
func (s scrape) get(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	v, ok := s.value(name, labels...)
	if !ok {
		t.Fatalf("/metrics has no %s%v", name, labels)
	}
	return v
}

// moved checks that metric name grew by at least min between before and
// after.
func moved(t testing.TB, before, after scrape, min float64, name string, labels ...string) {
	t.Helper()
	b, _ := before.value(name, labels...)
	if a := after.get(t, name, labels...); a-b < min {
		t.Errorf("%s%v went from %v to %v, want +%v at least", name, labels, b, a, min)
	}
}

// dialSockJS opens a SockJS session on r over sockjs-go's websocket
// transport and CONNECTs it as login, with no Node client.
func dialSockJS(t testing.TB, r *replica, login string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial("ws://"+r.addr+"/ws-stomp/0/"+strings.ReplaceAll(unique(t), ".", "")+"/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	connect, _ := json.Marshal([]string{string(stomp.New(stomp.CONNECT, "accept-version", "1.2", "login", login).Encode(stomp.V12))})
	if err := c.WriteMessage(websocket.TextMessage, connect); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for _, want := range []string{"o", `a["CONNECTED`} {
		_, p, err := c.ReadMessage()
		if err != nil || !strings.HasPrefix(string(p), want) {
			t.Fatalf("SockJS session: got %q %v, want %s...", p, err, want)
		}
	}
	return c
}

// TestMetrics scrapes /metrics around real traffic: sessions on both
// transports, a room subscription, a SEND through /app/chat.send and its
// delivery, an oversized frame; every counter involved moves.
func TestMetrics(t *testing.T) {
	r := start(t, testConfig(t, config.BrokerEmbedded))
	// start waits for one upstream connection; the others may be a
	// moment behind
	if err := rabbittest.WaitFor(10*time.Second, func() (bool, error) {
		for _, u := range r.srv.relay.Stats().Upstreams {
			if !u.Connected {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		t.Fatalf("upstream connections not all up: %v", err)
	}
	before := scrapeMetrics(t, r)
	for i := range r.srv.relay.Stats().Upstreams {
		if up := before.get(t, "chatrelay_upstream_up", fmt.Sprint("upstream=", i)); up != 1 {
			t.Errorf("upstream %d up = %v", i, up)
		}
		before.get(t, "chatrelay_upstream_reconnects_total", fmt.Sprint("upstream=", i))
		before.get(t, "chatrelay_upstream_outbox_frames", fmt.Sprint("upstream=", i))
	}
	before.get(t, "chatrelay_slow_consumer_closes_total")
	before.get(t, "go_goroutines")

	room := createRoom(t, r, "metrics")
	alice := connect(t, r, "alice")
	if err := alice.Subscribe("s1", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	bob := connect(t, r, "bob")
	if err := bob.Send(chatSend(room, "hello metrics", "receipt", "sent")); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Expect(stomp.RECEIPT, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if m, err := alice.Expect(stomp.MESSAGE, 10*time.Second); err != nil || !strings.Contains(string(m.Body), "hello metrics") {
		t.Fatalf("alice: %v %v", m, err)
	}
	dialSockJS(t, r, "sally")

	// the writer counts a frame (and a MESSAGE's latency) once its
	// socket write returned, which may be just after the client read it:
	// wait until every counter has moved, then report the laggards
	wants := []struct {
		name   string
		labels []string
		min    float64
	}{
		{"chatrelay_connections_opened_total", []string{"transport=ws"}, 2},
		{"chatrelay_connections_opened_total", []string{"transport=sockjs"}, 1},
		{"chatrelay_sessions_opened_total", []string{"transport=ws"}, 2},
		{"chatrelay_sessions_opened_total", []string{"transport=sockjs"}, 1},
		{"chatrelay_frames_received_total", []string{"command=CONNECT"}, 3},
		{"chatrelay_frames_received_total", []string{"command=SUBSCRIBE"}, 1},
		{"chatrelay_frames_received_total", []string{"command=SEND"}, 1},
		{"chatrelay_frames_sent_total", []string{"command=CONNECTED"}, 3},
		{"chatrelay_frames_sent_total", []string{"command=RECEIPT"}, 2},
		{"chatrelay_frames_sent_total", []string{"command=MESSAGE"}, 1},
		{"chatrelay_delivery_latency_seconds", nil, 1},
		{"chatrelay_upstream_messages_received_total", nil, 1},
		{"chatrelay_fanout_deliveries_total", nil, 1},
	}
	var mid scrape
	allMoved := func() bool {
		for _, c := range wants {
			b, _ := before.value(c.name, c.labels...)
			if a, ok := mid.value(c.name, c.labels...); !ok || a-b < c.min {
				return false
			}
		}
		return true
	}
	_ = rabbittest.WaitFor(5*time.Second, func() (bool, error) {
		mid = scrapeMetrics(t, r)
		return allMoved(), nil
	})
	for _, c := range wants {
		moved(t, before, mid, c.min, c.name, c.labels...)
	}
	for transport, want := range map[string]float64{"ws": 2, "sockjs": 1} {
		if n := mid.get(t, "chatrelay_connections", "transport="+transport); n != want {
			t.Errorf("%s connections: %v, want %v", transport, n, want)
		}
		if n := mid.get(t, "chatrelay_sessions", "transport="+transport); n != want {
			t.Errorf("%s sessions: %v, want %v", transport, n, want)
		}
	}
	if n := mid.get(t, "chatrelay_upstream_subscriptions", "kind=shared") + mid.get(t, "chatrelay_upstream_subscriptions", "kind=single"); n < 1 {
		t.Errorf("upstream subscriptions: %v", n)
	}

	// an oversized frame closes bob's session by limits.max_frame_bytes
	// the write may fail midway: the server answers before reading it all
	_ = bob.Send(chatSend(room, strings.Repeat("x", 70<<10)))
	expectError(t, bob, "limits.max_frame_bytes")
	err := rabbittest.WaitFor(5*time.Second, func() (bool, error) {
		after := scrapeMetrics(t, r)
		closes, _ := after.value("chatrelay_limit_closes_total", "limit=max_frame_bytes")
		conns, _ := after.value("chatrelay_connections", "transport=ws")
		sessions, _ := after.value("chatrelay_sessions", "transport=ws")
		errors, _ := after.value("chatrelay_frames_sent_total", "command=ERROR")
		return closes == 1 && conns == 1 && sessions == 1 && errors >= 1, nil
	})
	if err != nil {
		t.Fatalf("after the oversized frame: %v", err)
	}
}

// TestMetricsPerServer: two servers in one process keep their own
// registries.
func TestMetricsPerServer(t *testing.T) {
	a := start(t, testConfig(t, config.BrokerEmbedded))
	b := start(t, testConfig(t, config.BrokerEmbedded))
	connect(t, a, "alice")
	err := rabbittest.WaitFor(5*time.Second, func() (bool, error) {
		n, _ := scrapeMetrics(t, a).value("chatrelay_sessions", "transport=ws")
		return n == 1, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := scrapeMetrics(t, b).get(t, "chatrelay_sessions", "transport=ws"); n != 0 {
		t.Fatalf("replica b counts %v sessions of replica a", n)
	}
}
