// Command roomcost measures what RabbitMQ objects cost the broker, to
// weigh how rooms could map onto RabbitMQ (docs/rooms-at-scale.md): it
// starts a private RabbitMQ node with internal/rabbittest, and for each
// candidate (a stream per room as rabbitstore declares them, classic v1
// and v2 and quorum queues, a binding per room, an exchange per room, 16
// partition streams) creates the objects of -n rooms over AMQP in a fresh
// vhost, and reports the growth of the node's memory, Erlang processes
// and file descriptors and the declare latency; the vhost is deleted
// before the next candidate. Then it times reading one room's last
// messages from a partition stream shared with -history messages of other
// rooms against reading them from the room's own stream. The node is
// stopped at the end and dies with this process.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"chatrelay/internal/rabbittest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "roomcost:", err)
		os.Exit(1)
	}
}

func run() error {
	n := flag.Int("n", 300, "rooms per candidate (the docs use 1000 and 10000)")
	only := flag.String("only", "", "run only the candidates whose name contains one of these +-separated strings; \"none\" runs none")
	history := flag.Int("history", 100000, "messages of other rooms in the partition stream of the history read; 0 skips it")
	limit := flag.Duration("limit", 3*time.Minute, "stop creating a candidate's objects after this long")
	flag.Parse()
	// RabbitMQ needs a descriptor per stream segment and index; Go gives
	// children its original soft limit unless Setrlimit is called.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	dir, err := os.MkdirTemp("", "chatrelay-roomcost-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	node, err := rabbittest.StartWith(dir, rabbittest.Options{Config: nodeConfig})
	if err != nil {
		return err
	}
	defer func() {
		if err := node.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "roomcost: stop:", err)
		}
	}()
	fmt.Fprintf(os.Stderr, "roomcost: node %s up in %v (fd limit %d)\n", node.Name, node.Started.Round(time.Millisecond), lim.Max)
	b, err := newBroker(node)
	if err != nil {
		return err
	}
	var results []Result
	for k, c := range candidates() {
		if !selected(c.name, *only) {
			continue
		}
		r, err := measure(b, fmt.Sprintf("roomcost-%d", k), c, *n, *limit)
		if err != nil {
			// the others may still measure (a node out of
			// descriptors recovers once the vhost is gone)
			fmt.Fprintf(os.Stderr, "roomcost: %s: %v\n", c.name, err)
			continue
		}
		results = append(results, r)
	}
	fmt.Printf("\n-n %d, RabbitMQ node %s\n\n%s\n", *n, node.Name, tableHeader)
	for _, r := range results {
		fmt.Println(r.Row())
	}
	if *history > 0 {
		h, err := historyRun(b, *history)
		if err != nil {
			return fmt.Errorf("history: %w", err)
		}
		fmt.Printf("\n%s\n", h)
	}
	return nil
}

// selected reports whether candidate name contains one of only's
// +-separated substrings (all when only is empty; names hold commas).
func selected(name, only string) bool {
	if only == "" {
		return true
	}
	for _, s := range strings.Split(only, "+") {
		if s != "" && strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// measure runs candidate c for n rooms in a fresh vhost, between two
// snapshots, and deletes the vhost.
func measure(b *broker, vhost string, c candidate, n int, limit time.Duration) (Result, error) {
	if err := b.addVhost(vhost); err != nil {
		return Result{}, err
	}
	defer func() {
		if err := b.deleteVhost(vhost); err != nil {
			fmt.Fprintln(os.Stderr, "roomcost: delete vhost:", err)
		}
	}()
	conn, err := b.dial(vhost)
	if err != nil {
		return Result{}, err
	}
	defer conn.Close()
	before, err := b.snapshot()
	if err != nil {
		return Result{}, err
	}
	r, err := c.run(conn, n, limit)
	if err != nil {
		return r, err
	}
	time.Sleep(b.settle) // let new objects emit their first stats
	r.Before = before
	if r.After, err = b.snapshot(); err != nil {
		return r, err
	}
	// now: deleting the vhost can take many minutes
	fmt.Fprintln(os.Stderr, r.Row())
	return r, nil
}

// historyRun runs measureHistory in a fresh vhost.
func historyRun(b *broker, others int) (historyResult, error) {
	const vhost = "roomcost-history"
	if err := b.addVhost(vhost); err != nil {
		return historyResult{}, err
	}
	defer b.deleteVhost(vhost)
	conn, err := b.dial(vhost)
	if err != nil {
		return historyResult{}, err
	}
	defer conn.Close()
	return measureHistory(conn, others, 50)
}
