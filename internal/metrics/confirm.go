package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"chatrelay/internal/rooms/confirm"
)

// Descriptions of the confirmation metrics, read from confirm.Stats at
// each scrape: a room message is receipted only once this replica has
// read it back from the room's stream (see package confirm).
var (
	confirmedDesc = prometheus.NewDesc(Namespace+"_room_messages_confirmed_total",
		"Room messages whose confirmation ended: result stored (seen in the room's stream; the sender got its RECEIPT or 201) not_stored (given up on after rooms.confirm.timeout) or busy (refused at once: rooms.confirm.max_pending messages waited).",
		[]string{"result"}, nil)
	republishedDesc = prometheus.NewDesc(Namespace+"_room_messages_republished_total",
		"Room messages published again because they were not seen stored within rooms.confirm.republish_after (a broker receipt that stored nothing, a stream without a leader).",
		nil, nil)
	pendingDesc = prometheus.NewDesc(Namespace+"_room_messages_awaiting_confirmation",
		"Room messages published and not yet seen stored.",
		nil, nil)
)

// confirmCollector turns confirm.Stats into metrics at each scrape.
type confirmCollector struct {
	stats func() confirm.Stats
}

// WatchConfirm registers the confirmation metrics, read from stats
// (normally Confirmer.Stats) at each scrape. Only the first call
// registers.
func (m *Metrics) WatchConfirm(stats func() confirm.Stats) {
	if m == nil || stats == nil {
		return
	}
	m.confirmOnce.Do(func() { m.reg.MustRegister(&confirmCollector{stats: stats}) })
}

// Describe implements prometheus.Collector.
func (c *confirmCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- confirmedDesc
	ch <- republishedDesc
	ch <- pendingDesc
}

// Collect implements prometheus.Collector.
func (c *confirmCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	ch <- prometheus.MustNewConstMetric(confirmedDesc, prometheus.CounterValue, float64(st.Stored), "stored")
	ch <- prometheus.MustNewConstMetric(confirmedDesc, prometheus.CounterValue, float64(st.NotStored), "not_stored")
	ch <- prometheus.MustNewConstMetric(confirmedDesc, prometheus.CounterValue, float64(st.Busy), "busy")
	ch <- prometheus.MustNewConstMetric(republishedDesc, prometheus.CounterValue, float64(st.Republished))
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(st.Pending))
}
