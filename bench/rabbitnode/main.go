// Command rabbitnode runs a private RabbitMQ node for bench/run.sh when no
// RabbitMQ with the STOMP, Web-STOMP and management plugins is given: it
// starts one with internal/rabbittest (its own name, data, cookie and free
// 127.0.0.1 ports; nothing system-wide changes), writes the node's ports,
// beam pid and a rabbitmqctl script for it (RABBIT_CTL) as shell
// variables to -env, and stops the node on SIGINT or SIGTERM, or after
// -max-lifetime. The node also dies with this process.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/testkit"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rabbitnode:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := flag.String("dir", "", "node directory, wiped first (default: a new temporary directory, removed at exit)")
	envFile := flag.String("env", "", "write RABBIT_* shell variables here once the node is up (default: stdout)")
	lifetime := flag.Duration("max-lifetime", 3*time.Hour, "stop the node after this long whatever happens")
	config := flag.String("config", "", "a file of extra rabbitmq.conf lines (new-style key = value) for the node")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("", "chatbench-rabbit-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	// RabbitMQ needs a descriptor per connection. Go raises its own soft
	// limit at start but gives children the original one unless
	// Setrlimit is called, so it is called even when nothing changes.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	var opts rabbittest.Options
	if *config != "" {
		text, err := os.ReadFile(*config)
		if err != nil {
			return err
		}
		opts.Config = string(text)
	}
	n, err := rabbittest.StartWith(*dir, opts)
	if err != nil {
		return err
	}
	if len(n.DroppedConfig) > 0 {
		fmt.Fprintf(os.Stderr, "rabbitnode: not applied from %s: %v\n", *config, n.DroppedConfig)
	}
	defer func() {
		if err := n.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "rabbitnode: stop:", err)
		}
	}()
	pid, err := testkit.ReadPid(filepath.Join(n.Dir, "rabbitmq.pid"))
	if err != nil {
		return fmt.Errorf("node pid: %w", err)
	}
	// a rabbitmqctl for this node, for chatbench -broker-ctl
	ctl := filepath.Join(n.Dir, "ctl")
	if err := n.WriteCtlScript(ctl); err != nil {
		return err
	}
	vars := fmt.Sprintf("RABBIT_HOST=127.0.0.1\nRABBIT_AMQP_PORT=%d\nRABBIT_STOMP_PORT=%d\nRABBIT_WEBSTOMP_PORT=%d\nRABBIT_MGMT_PORT=%d\nRABBIT_PID=%d\nRABBIT_NODE=%s\nRABBIT_CTL=%s\n",
		n.AMQPPort, n.STOMPPort, n.WebSTOMPPort, n.MgmtPort, pid, n.Name, ctl)
	if *envFile == "" {
		fmt.Print(vars)
	} else if err := os.WriteFile(*envFile, []byte(vars), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "rabbitnode: %s up in %v (web-stomp %d, stomp %d, amqp %d, mgmt %d, pid %d)\n",
		n.Name, n.Started.Round(time.Millisecond), n.WebSTOMPPort, n.STOMPPort, n.AMQPPort, n.MgmtPort, pid)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *lifetime)
	defer cancel()
	<-ctx.Done()
	return nil
}
