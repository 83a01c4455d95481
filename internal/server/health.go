package server

import (
	"encoding/json"
	"net/http"
)

// healthz answers 200 while the process serves HTTP.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
}

// readyz answers 200 while at least one upstream broker connection is up,
// 503 otherwise, so a load balancer sends no new clients to a replica that
// cannot reach the broker.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.relay.Ready() {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "broker": s.brokerDescription()})
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "broker unavailable", "broker": s.brokerDescription()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
