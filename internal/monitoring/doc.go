// Package monitoring holds only tests: of the Prometheus alert rules
// (deploy/prometheus: `promtool check rules` and `promtool test rules`),
// of the Grafana dashboard (deploy/grafana), and that every metric either
// names is one a chatrelay replica exports at /metrics.
package monitoring
