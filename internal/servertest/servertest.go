// Package servertest runs chatrelay for tests outside internal/server: an
// in-process replica on a 127.0.0.1 port chosen at run time. (The built
// binary, for child processes, is internal/proctest's.)
package servertest

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/server"
)

// Replica is a chatrelay server serving on a loopback port until the test
// that started it ends.
type Replica struct {
	// Server is the running server.
	Server *server.Server
	// Addr is its host:port.
	Addr string
}

// URL returns the replica's WebSocket endpoint.
func (r *Replica) URL() string { return "ws://" + r.Addr + "/ws" }

// HTTP returns the replica's base URL.
func (r *Replica) HTTP() string { return "http://" + r.Addr }

// Start runs a server with cfg (logging to log, or nowhere when nil) until
// the test ends, and waits up to ready for its relay's first upstream
// connection. The server is shut down in t.Cleanup.
func Start(t testing.TB, cfg config.Config, log *slog.Logger, ready time.Duration) *Replica {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv, err := server.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	// the serving goroutine owns the listener until Shutdown closes it
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), ready)
	defer cancel()
	if err := srv.Relay().WaitReady(ctx); err != nil {
		t.Fatalf("relay not ready (broker %s %v, user %q, vhost %q): %v",
			cfg.Broker.Mode, cfg.Broker.Addresses, cfg.Broker.Login, cfg.Broker.VHost, err)
	}
	return &Replica{Server: srv, Addr: l.Addr().String()}
}
