package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/roomreport"
)

// runRooms is `chatrelay rooms`: it lists the deployment's rooms with
// their ids, names, streams, members online and message rates, from a
// replica's GET /api/admin/rooms and RabbitMQ's management API. Settings
// it is not given come from the config file (and CHATRELAY_* variables)
// the replicas use.
func runRooms(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("chatrelay rooms", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	path := fs.String("config", "", "path to config.yaml (default: ./config.yaml when present)")
	server := fs.String("server", "", "a replica's base URL (default: http://127.0.0.1:PORT of http.addr)")
	apiKey := fs.String("api-key", "", "the replicas' http.api_key (default: from the config)")
	mgmt := fs.String("management", "", `RabbitMQ management API base URL; "off" for no message counts or rates (default: http://HOST:15672 of the first of broker.addresses in rabbitmq mode, else off)`)
	user := fs.String("management-user", "", "management API user (default: broker.login)")
	password := fs.String("management-password", "", "management API password (default: broker.passcode)")
	interval := fs.Duration("interval", 5*time.Second, "time between the two samples the message rates come from")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: chatrelay rooms [flags]\n\nLists every room with its id, name, RabbitMQ stream, members online and message rate.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("rooms: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := config.LoadDefault(*path)
	if err != nil {
		return err
	}
	src := roomreport.Sources{
		Server: *server, APIKey: *apiKey, Management: *mgmt,
		User: *user, Password: *password, VHost: cfg.Broker.VHost,
	}
	if src.Server == "" {
		_, port, err := net.SplitHostPort(cfg.HTTP.Addr)
		if err != nil {
			return fmt.Errorf("rooms: http.addr %q: %w (give -server)", cfg.HTTP.Addr, err)
		}
		src.Server = "http://" + net.JoinHostPort("127.0.0.1", port)
	}
	if src.APIKey == "" {
		src.APIKey = cfg.HTTP.APIKey
	}
	if src.APIKey == "" {
		return fmt.Errorf("rooms: no API key: set http.api_key (CHATRELAY_HTTP_API_KEY) or give -api-key")
	}
	switch {
	case src.Management == "off":
		src.Management = ""
	case src.Management == "" && cfg.Broker.Mode == config.BrokerRabbitMQ && len(cfg.Broker.Addresses) > 0:
		if host, _, err := net.SplitHostPort(cfg.Broker.Addresses[0]); err == nil {
			src.Management = "http://" + net.JoinHostPort(host, "15672")
		}
	}
	if src.User == "" {
		src.User = cfg.Broker.Login
	}
	if src.Password == "" {
		src.Password = cfg.Broker.Passcode
	}
	ctx, cancel := context.WithTimeout(context.Background(), *interval+30*time.Second)
	defer cancel()
	rep, err := roomreport.Take(ctx, src, *interval)
	if err != nil {
		return fmt.Errorf("rooms: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return roomreport.WriteTable(stdout, rep)
}
