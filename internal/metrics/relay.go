package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"chatrelay/internal/relay"
)

// Descriptions of the relay's metrics, read from relay.Stats at each
// scrape: the relay keeps the state and the counters itself.
var (
	upstreamUpDesc = prometheus.NewDesc(Namespace+"_upstream_up",
		"1 while the upstream broker connection has a broker session, 0 while it is down.",
		[]string{"upstream"}, nil)
	upstreamReconnectsDesc = prometheus.NewDesc(Namespace+"_upstream_reconnects_total",
		"Broker sessions of the upstream connection after its first one.",
		[]string{"upstream"}, nil)
	upstreamOutboxFramesDesc = prometheus.NewDesc(Namespace+"_upstream_outbox_frames",
		"Frames waiting in the upstream connection's outbox for the broker.",
		[]string{"upstream"}, nil)
	upstreamOutboxBytesDesc = prometheus.NewDesc(Namespace+"_upstream_outbox_bytes",
		"Bytes waiting in the upstream connection's outbox for the broker.",
		[]string{"upstream"}, nil)
	upstreamSubsDesc = prometheus.NewDesc(Namespace+"_upstream_subscriptions",
		"Upstream subscriptions by kind: shared (one per /topic destination per replica, fanned out in memory) or single (1:1, one per client subscription).",
		[]string{"kind"}, nil)
	upstreamMessagesDesc = prometheus.NewDesc(Namespace+"_upstream_messages_received_total",
		"MESSAGE frames read from the broker.", nil, nil)
	fanoutDesc = prometheus.NewDesc(Namespace+"_fanout_deliveries_total",
		"Copies of broker MESSAGEs delivered to local subscribers of shared subscriptions.", nil, nil)
)

// relayCollector turns relay.Stats into metrics at each scrape.
type relayCollector struct {
	stats func() relay.Stats
}

// WatchRelay registers the relay's metrics, read from stats (normally
// Relay.Stats) at each scrape. Only the first call registers.
func (m *Metrics) WatchRelay(stats func() relay.Stats) {
	if m == nil || stats == nil {
		return
	}
	m.relayOnce.Do(func() { m.reg.MustRegister(&relayCollector{stats: stats}) })
}

// Describe implements prometheus.Collector.
func (c *relayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		upstreamUpDesc, upstreamReconnectsDesc, upstreamOutboxFramesDesc, upstreamOutboxBytesDesc,
		upstreamSubsDesc, upstreamMessagesDesc, fanoutDesc,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *relayCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	for i, u := range st.Upstreams {
		idx := strconv.Itoa(i)
		up := 0.0
		if u.Connected {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(upstreamUpDesc, prometheus.GaugeValue, up, idx)
		ch <- prometheus.MustNewConstMetric(upstreamReconnectsDesc, prometheus.CounterValue, float64(u.Reconnects), idx)
		ch <- prometheus.MustNewConstMetric(upstreamOutboxFramesDesc, prometheus.GaugeValue, float64(u.OutboxFrames), idx)
		ch <- prometheus.MustNewConstMetric(upstreamOutboxBytesDesc, prometheus.GaugeValue, float64(u.OutboxBytes), idx)
	}
	ch <- prometheus.MustNewConstMetric(upstreamSubsDesc, prometheus.GaugeValue, float64(st.SharedSubscriptions), "shared")
	ch <- prometheus.MustNewConstMetric(upstreamSubsDesc, prometheus.GaugeValue, float64(st.SingleSubscriptions), "single")
	ch <- prometheus.MustNewConstMetric(upstreamMessagesDesc, prometheus.CounterValue, float64(st.MessagesReceived))
	ch <- prometheus.MustNewConstMetric(fanoutDesc, prometheus.CounterValue, float64(st.FanoutDeliveries))
}

// WatchReady registers chatrelay_ready, read from ready (the relay's
// Ready, which /readyz answers) at each scrape: 1 while the replica takes
// clients (an upstream broker connection is up), 0 while it does not.
// Only the first call registers.
func (m *Metrics) WatchReady(ready func() bool) {
	if m == nil || ready == nil {
		return
	}
	m.readyOnce.Do(func() {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "ready",
			Help: "1 while the replica is ready (GET /readyz answers 200: an upstream broker connection is up), 0 while it is not.",
		}, func() float64 {
			if ready() {
				return 1
			}
			return 0
		}))
	})
}
