package main

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// startPprof serves the net/http/pprof handlers on their own listener at
// addr, apart from the public server (whose mux never gets them). It is
// off unless the -pprof flag names an address; bind it to loopback.
// Closing the returned listener stops it.
func startPprof(addr string, log *slog.Logger) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second}
	log.Info("pprof listening", "addr", l.Addr().String())
	// this goroutine owns the pprof server; it ends when l is closed
	go func() { _ = srv.Serve(l) }()
	return l, nil
}

// pprofMux routes /debug/pprof/... to the profiling handlers.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
