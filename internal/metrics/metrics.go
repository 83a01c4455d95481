// Package metrics is chatrelay's Prometheus instrumentation: connections
// and sessions by transport, STOMP frames in and out by command, the
// relay's upstream connections and subscriptions, fan-out, delivery
// latency, and the sessions closed by limits.
//
// Each Metrics has its own registry (never the global default), so that
// several servers can run in one process, as the tests do. The packages
// it observes do not import it: a Metrics satisfies their small observer
// interfaces (transport.Observer, session.Observer) and reads the relay's
// counters at scrape time (WatchRelay). Every method is safe for
// concurrent use and never blocks.
package metrics

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric of this package.
const Namespace = "chatrelay"

// Transports are the transport label values set to zero at start, so
// that their series exist before the first connection.
var Transports = []string{"ws", "sockjs"}

// LatencyBuckets are the upper bounds, in seconds, of the delivery
// latency histogram: 100 µs to 10 s.
var LatencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics holds one server's collectors and the registry they are
// registered with.
type Metrics struct {
	reg *prometheus.Registry

	connections       *prometheus.GaugeVec   // transport
	connectionsOpened *prometheus.CounterVec // transport
	connectionsRefuse *prometheus.CounterVec // transport, reason
	sessions          *prometheus.GaugeVec   // transport
	sessionsOpened    *prometheus.CounterVec // transport
	framesIn          *prometheus.CounterVec // command
	framesOut         *prometheus.CounterVec // command
	latency           prometheus.Histogram
	limitCloses       *prometheus.CounterVec // limit
	slowConsumers     prometheus.Counter

	relayOnce   sync.Once
	readyOnce   sync.Once
	confirmOnce sync.Once
}

// New returns a Metrics with every collector registered on a new
// registry, along with the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.connections = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "connections",
		Help: "Open client connections by transport (ws: /ws WebSocket; sockjs: /ws-stomp SockJS session).",
	}, []string{"transport"})
	m.connectionsOpened = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "connections_opened_total",
		Help: "Client connections accepted, by transport.",
	}, []string{"transport"})
	m.connectionsRefuse = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "connections_refused_total",
		Help: "Client connections refused before a session existed, by transport and reason (origin, subprotocol, max_connections, max_connections_per_address).",
	}, []string{"transport", "reason"})
	m.sessions = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "sessions",
		Help: "STOMP sessions past CONNECT, by transport.",
	}, []string{"transport"})
	m.sessionsOpened = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "sessions_opened_total",
		Help: "STOMP sessions CONNECTed, by transport.",
	}, []string{"transport"})
	m.framesIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "frames_received_total",
		Help: "STOMP frames read from clients, by command (OTHER for an unknown one).",
	}, []string{"command"})
	m.framesOut = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "frames_sent_total",
		Help: "STOMP frames written to clients' sockets, by command.",
	}, []string{"command"})
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "delivery_latency_seconds",
		Help:    "Seconds from a MESSAGE reaching a session (the relay's fan-out of a broker MESSAGE, a room feed's delivery, an /app reply) until the session's writer has written it to the client's socket.",
		Buckets: LatencyBuckets,
	})
	m.limitCloses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "limit_closes_total",
		Help: "Sessions closed for breaking a limit, by its config key under limits (max_frame_bytes, preconnect_bytes, ...).",
	}, []string{"limit"})
	m.slowConsumers = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "slow_consumer_closes_total",
		Help: "Sessions closed because their client did not read fast enough (limits.send_queue_bytes).",
	})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.connections, m.connectionsOpened, m.connectionsRefuse,
		m.sessions, m.sessionsOpened,
		m.framesIn, m.framesOut,
		m.latency, m.limitCloses, m.slowConsumers,
	)
	for _, t := range Transports {
		m.connections.WithLabelValues(t)
		m.connectionsOpened.WithLabelValues(t)
		m.sessions.WithLabelValues(t)
		m.sessionsOpened.WithLabelValues(t)
	}
	// every command's series from the start, so that rates and alerts
	// see 0 instead of no data
	for c := range stompCommands {
		m.framesIn.WithLabelValues(c)
		m.framesOut.WithLabelValues(c)
	}
	return m
}

// Known creates the series of the limits and refusal reasons the
// replica's sessions and transports report (LimitClosed,
// ConnectionRefused) at 0, so that dashboards and alerts see them before
// the first one happens.
func (m *Metrics) Known(limits, refusals []string) {
	if m == nil {
		return
	}
	for _, l := range limits {
		m.limitCloses.WithLabelValues(l)
	}
	for _, t := range Transports {
		for _, r := range refusals {
			m.connectionsRefuse.WithLabelValues(t, r)
		}
	}
}

// Registry returns the registry every collector of m is registered
// with, for more collectors or for tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves m's registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// stompCommands are the command label values; anything else counts as
// OTHER, so that a client cannot mint label values.
var stompCommands = map[string]bool{
	"CONNECT": true, "STOMP": true, "CONNECTED": true, "SEND": true,
	"SUBSCRIBE": true, "UNSUBSCRIBE": true, "ACK": true, "NACK": true,
	"BEGIN": true, "COMMIT": true, "ABORT": true, "DISCONNECT": true,
	"MESSAGE": true, "RECEIPT": true, "ERROR": true,
}

// commandLabel bounds the command label to the STOMP commands.
func commandLabel(c string) string {
	if stompCommands[c] {
		return c
	}
	return "OTHER"
}

// transportLabel names an unnamed transport.
func transportLabel(t string) string {
	if t == "" {
		return "unknown"
	}
	return t
}
