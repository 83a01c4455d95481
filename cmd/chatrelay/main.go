// Command chatrelay runs one replica of the chat server: flags → config →
// server → run until SIGINT or SIGTERM, then shut down gracefully.
// `chatrelay rooms` lists the deployment's rooms for operators instead
// (rooms.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/server"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "rooms" {
		if err := runRooms(os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "chatrelay:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "chatrelay:", err)
		os.Exit(1)
	}
}

func run() error {
	path := flag.String("config", "", "path to config.yaml (default: ./config.yaml when present)")
	grace := flag.Duration("shutdown-timeout", 15*time.Second, "time allowed for a graceful shutdown")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this separate address (e.g. 127.0.0.1:6060); off when empty")
	flag.Parse()
	cfg, err := config.LoadDefault(*path)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Logging)
	// packages that log without a logger of their own (a handler panic
	// in the router) use the configured format and level too
	slog.SetDefault(log)
	srv, err := server.New(cfg, log)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return err
	}
	if *pprofAddr != "" {
		pl, err := startPprof(*pprofAddr, log)
		if err != nil {
			return err
		}
		defer pl.Close()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	// the serving goroutine owns the listener until Shutdown closes it
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", *grace)
	sctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	log.Info("stopped")
	return <-errc
}

func newLogger(c config.Logging) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(c.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
