// Command chatbench is a load tool for STOMP over WebSocket. It opens N
// clients spread over R rooms and over a list of target URLs, sends at a
// fixed aggregate rate for a fixed time (bounded in count and time), and
// reports delivered messages/s, end-to-end latency percentiles from
// timestamps carried in every body, loss, duplicates, errors, drops and
// the servers' memory.
//
// Modes:
//
//	-mode chatrelay  SEND /app/chat.send, SUBSCRIBE /topic/room.<id> of rooms
//	                 created through -api (default: the first URL's server)
//	-mode webstomp   SEND/SUBSCRIBE /topic/chatbench.<run>.<room> on RabbitMQ
//	                 Web-STOMP (ws://127.0.0.1:15674/ws), as -login/-passcode
//	-mode baseline   the chatrelay protocol against the no-broker baseline
//	                 server: in process when -urls is empty, or one started
//	                 with -serve-baseline ADDR
//
// Other uses:
//
//	chatbench -join-storm -clients 2000 -history 50 -join-window 1s
//	                                             a join storm (chatrelay): one seeded
//	                                             room, every client SUBSCRIBEs with
//	                                             x-history and a receipt in the window
//	chatbench -rooms-scale 100000 -checkpoints 1000,10000,100000 -rooms 2000 -clients 4000
//	                                             rooms at scale (chatrelay): create the
//	                                             rooms through the REST API (timed), push
//	                                             history into a fraction of them, read the
//	                                             broker's memory, processes and descriptors
//	                                             at each checkpoint, then run the rate
//	                                             steps in -rooms of them; -archive-wait 1m
//	                                             first waits at each checkpoint for the
//	                                             server to archive idle rooms' streams
//	chatbench -reads -typing-fraction 0.1 -clients 1000 -rooms 10 -rates 50,100,200
//	                                             read positions and typing (chatrelay):
//	                                             private rooms, every member reads every
//	                                             message within 2 s and a tenth of them
//	                                             type through each measured step; read
//	                                             and typing SENDs and events per second
//	chatbench -serve-baseline 127.0.0.1:9000     run only the baseline server
//	chatbench -source-addrs 127.0.0.2-127.0.0.4 -print-source-addrs
//	                                             the expanded list, for scripts
//	chatbench -summarize a.json,b.json [-o t.md] [-json all.json]
//	                                             markdown table of reports
//	                                             (and all of them as one JSON array)
//
// Exit status: 0 when the run was OK (everyone connected, no errors, every
// measured message delivered once; in a join storm, every client got its
// receipt and exactly its history, both p99s within -join-p99; with
// -rooms-scale, every room created and every history message pushed, every
// broker reading made, the create p99 within -create-p99 and, with
// -archive-wait, every checkpoint's room streams down to the bound; with
// -reads, every member's last read seen on its room's reads topic), 3 when it
// ran but was not OK, 1 when it could not run.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"chatrelay/internal/bench"
)

func main() {
	code, err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chatbench:", err)
	}
	os.Exit(code)
}

// options are the parsed command line.
type options struct {
	cfg                     bench.Config
	urls, rates, sources    string
	checkpoints             string
	pids, brokerPids        string
	rate                    float64
	jsonOut, summarize, out string
	serveBaseline           string
	serveFor, timeout       time.Duration
	quiet, printSources     bool
}

// parseFlags reads the command line into options.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	c := &o.cfg
	fs := flag.NewFlagSet("chatbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", "chatrelay", "chatrelay, webstomp or baseline")
	fs.StringVar(&o.urls, "urls", "", "comma-separated WebSocket URLs; clients are spread over them round-robin")
	fs.StringVar(&c.API, "api", "", "chatrelay base HTTP URL for creating rooms (default: the first URL's server)")
	fs.IntVar(&c.Clients, "clients", 100, "number of clients")
	fs.IntVar(&c.Rooms, "rooms", 10, "number of rooms (client i joins room i % rooms)")
	fs.IntVar(&c.Senders, "senders", 0, "how many clients send (default: clients/10, at least one per room)")
	fs.Float64Var(&o.rate, "rate", 100, "aggregate offered messages/s")
	fs.StringVar(&o.rates, "rates", "", "comma-separated rates to step through on the same connections (overrides -rate)")
	fs.BoolVar(&c.SweepAll, "sweep-all", false, "run every -rates step even after one is not sustained")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measured send time per step (idle: hold time)")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "unmeasured send time before each step")
	fs.DurationVar(&c.Drain, "drain", 10*time.Second, "longest wait for deliveries after a step")
	fs.Int64Var(&c.MaxMessages, "max-messages", 1_000_000, "hard bound on messages sent in the whole run")
	fs.IntVar(&c.MessageBytes, "size", 100, "message text length in bytes")
	fs.DurationVar(&c.P99Limit, "p99-limit", 500*time.Millisecond, "p99 latency a sustained step stays within")
	fs.StringVar(&o.pids, "pid", "", "comma-separated server pids whose VmRSS is read (growth per connection is reported)")
	fs.StringVar(&o.brokerPids, "broker-pid", "", "comma-separated broker pids whose VmRSS is read and reported apart")
	fs.StringVar(&c.APIKey, "api-key", os.Getenv("CHATRELAY_HTTP_API_KEY"), "chatrelay: the server's http.api_key, to create and delete the run's rooms (default $CHATRELAY_HTTP_API_KEY)")
	fs.BoolVar(&c.KeepRooms, "keep-rooms", false, "chatrelay: keep the rooms created (default: delete them at the end)")
	fs.StringVar(&c.Login, "login", "", "webstomp: RabbitMQ user (default guest); other modes: login prefix (default bench)")
	fs.StringVar(&c.Passcode, "passcode", "", "passcode sent at CONNECT (webstomp default guest)")
	fs.StringVar(&c.VHost, "vhost", "/", "CONNECT host header (RabbitMQ vhost)")
	fs.StringVar(&o.jsonOut, "json", "", `write the JSON report to this file ("-": stdout, the table then goes to stderr)`)
	fs.BoolVar(&c.Idle, "idle", false, "connect and subscribe, hold for -duration, send nothing")
	fs.Float64Var(&c.ConnectRate, "connect-rate", 500, "new connections per second (0: unbounded)")
	fs.IntVar(&c.ConnectConcurrency, "connect-concurrency", 0, "handshakes in flight at most (0: connect-rate/20, within 64..1024)")
	fs.StringVar(&o.sources, "source-addrs", "", "client source addresses dialled from in turn: a comma list of IPs and IPv4 ranges like 127.0.0.2-127.0.0.9 (default: the kernel picks; one address reaches ~28k connections per server address)")
	fs.DurationVar(&c.Settle, "settle", 2*time.Second, "wait after connecting before reading memory and broker counts")
	fs.DurationVar(&c.HeartBeat, "heartbeat", 0, "STOMP heart-beat offered both ways and sent (0: none)")
	fs.BoolVar(&c.Reconnect, "reconnect", false, "reconnect dropped clients (drops are counted either way)")
	fs.IntVar(&c.MaxReconnects, "max-reconnects", 5, "reconnection attempts per client with -reconnect (0.5 s backoff, doubling to 5 s)")
	fs.BoolVar(&c.WatchErrors, "watch-errors", false, "chatrelay: senders subscribe to /user/queue/errors and count what arrives")
	fs.BoolVar(&c.JoinStorm, "join-storm", false, "chatrelay: seed one room, connect -clients, then all SUBSCRIBE with x-history and a receipt within -join-window; report each one's wait (run the server with presence messages off)")
	fs.IntVar(&c.History, "history", 50, "with -join-storm: the x-history each client asks for")
	fs.IntVar(&c.Seed, "seed", 0, "with -join-storm: messages published into the room first (default: twice -history)")
	fs.DurationVar(&c.JoinWindow, "join-window", time.Second, "with -join-storm: the SUBSCRIBEs are spread evenly over this window (0: all at once)")
	fs.DurationVar(&c.JoinP99, "join-p99", 2*time.Second, "with -join-storm: p99 bound of SUBSCRIBE → RECEIPT and SUBSCRIBE → last history message")
	fs.IntVar(&c.RoomsScale, "rooms-scale", 0, "chatrelay: create this many rooms through the REST API first (timed), read the broker at -checkpoints, then run the steps in -rooms of them (at most 1,000,000)")
	fs.StringVar(&o.checkpoints, "checkpoints", "", "with -rooms-scale: comma-separated room counts to read the broker at (default: 1000, 10000, ... below the total, and the total)")
	fs.Float64Var(&c.HistoryFraction, "history-fraction", 0.5, "with -rooms-scale: the fraction of the rooms that get -history-messages")
	fs.IntVar(&c.HistoryMessages, "history-messages", 3, "with -rooms-scale: messages pushed (POST /api/rooms/{id}/messages) into each history room (at most 100)")
	fs.IntVar(&c.CreateConcurrency, "create-concurrency", 8, "with -rooms-scale: room creations (with their history) in flight at once")
	fs.Float64Var(&c.CreateRate, "create-rate", 0, "with -rooms-scale: room creations started per second on an open-loop schedule, each timed from when it was due (0: as fast as -create-concurrency allows)")
	fs.DurationVar(&c.CreateP99, "create-p99", 5*time.Millisecond, "with -rooms-scale: p99 bound of one room creation")
	fs.DurationVar(&c.ArchiveWait, "archive-wait", 0, "with -rooms-scale: at each checkpoint, before reading the broker, wait up to this long for the room streams (queues named room.*, counted through -mgmt) to be down to -archive-max-streams, the server archiving idle rooms (rooms.archive.idle_after); a wait that ends above the bound is reported NOT met and the run is not OK (0: no wait)")
	fs.IntVar(&c.ArchiveMaxStreams, "archive-max-streams", 0, "with -archive-wait: the most room streams a checkpoint's wait accepts (default: -rooms + 50)")
	fs.StringVar(&c.BrokerCtl, "broker-ctl", "", "with -rooms-scale: an executable running rabbitmqctl for the broker node (bench/rabbitnode's RABBIT_CTL), for its Erlang memory and processes")
	fs.BoolVar(&c.Reads, "reads", false, "chatrelay: read positions and typing at realistic rates: private rooms (every client of a room a member, the first its owner), every member follows the room's reads and typing topics and reads every message within 2 s (one /app/rooms/{id}/read per pending batch); -typing-fraction of them type through each measured step")
	fs.Float64Var(&c.TypingFraction, "typing-fraction", 0.1, "with -reads: the fraction of each room's members who signal typing every ~1 s through each measured step")
	fs.StringVar(&c.Mgmt, "mgmt", "", "RabbitMQ management base URL (http://127.0.0.1:15672) to read object totals from")
	fs.StringVar(&c.MgmtUser, "mgmt-user", "guest", "management API user")
	fs.StringVar(&c.MgmtPass, "mgmt-pass", "guest", "management API password")
	fs.StringVar(&c.Label, "label", "", "name of the run in reports")
	fs.StringVar(&c.RunID, "run-id", "", "makes room and topic names unique (default: from the clock)")
	fs.DurationVar(&o.timeout, "timeout", 0, "bound on the whole run (default: computed from the phases plus 2m)")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines on stderr")
	fs.BoolVar(&o.printSources, "print-source-addrs", false, "only print -source-addrs expanded, one comma list (for scripts)")
	fs.StringVar(&o.serveBaseline, "serve-baseline", "", "only run the baseline server on this address until SIGINT/SIGTERM")
	fs.DurationVar(&o.serveFor, "serve-for", 2*time.Hour, "with -serve-baseline: stop after this long")
	fs.StringVar(&o.summarize, "summarize", "", "comma-separated JSON reports to print as one markdown table (-json: also as one JSON array)")
	fs.StringVar(&o.out, "o", "", "with -summarize: write the table to this file")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c.Mode = bench.Mode(*mode)
	c.URLs = splitList(o.urls)
	if c.Mode == bench.ModeWebSTOMP {
		if c.Login == "" {
			c.Login = "guest"
		}
		if c.Passcode == "" {
			c.Passcode = "guest"
		}
	}
	c.Rates = []float64{o.rate}
	if o.rates != "" {
		c.Rates = nil
		for _, s := range splitList(o.rates) {
			r, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("-rates: %w", err)
			}
			c.Rates = append(c.Rates, r)
		}
	}
	var err error
	for _, cp := range splitList(o.checkpoints) {
		n, err := strconv.Atoi(strings.ReplaceAll(cp, "_", ""))
		if err != nil {
			return nil, fmt.Errorf("-checkpoints: %w", err)
		}
		c.Checkpoints = append(c.Checkpoints, n)
	}
	if c.SourceAddrs, err = bench.ParseSourceAddrs(o.sources); err != nil {
		return nil, fmt.Errorf("-source-addrs: %w", err)
	}
	if c.Pids, err = parsePids(o.pids); err != nil {
		return nil, err
	}
	if c.BrokerPids, err = parsePids(o.brokerPids); err != nil {
		return nil, err
	}
	if c.Senders == 0 {
		c.Senders = -1 // the default fraction
	}
	return o, nil
}

// parsePids parses a comma list of process ids.
func parsePids(list string) ([]int, error) {
	var pids []int
	for _, s := range splitList(list) {
		pid, err := strconv.Atoi(s)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("pid %q: not a pid", s)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// splitList splits a comma list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// run is main without the exit: it returns the exit status.
func run(args []string, stdout, stderr io.Writer) (int, error) {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, nil
		}
		return 1, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch {
	case o.printSources:
		_, err := fmt.Fprintln(stdout, bench.FormatSourceAddrs(o.cfg.SourceAddrs))
		return 0, err
	case o.summarize != "":
		return summarize(o, stdout)
	case o.serveBaseline != "":
		return serveBaseline(ctx, o, stdout)
	}
	cfg := o.cfg
	if soft, hard, err := bench.RaiseFileLimit(uint64(cfg.Clients) + 1024); err != nil || soft < uint64(cfg.Clients)+64 {
		fmt.Fprintf(stderr, "chatbench: warning: open-file limit %d (hard %d) for %d clients: %v\n", soft, hard, cfg.Clients, err)
	}
	if !o.quiet {
		cfg.Progress = stderr
	}
	if cfg.Mode == bench.ModeBaseline && len(cfg.URLs) == 0 {
		b, err := bench.StartBaseline("127.0.0.1:0")
		if err != nil {
			return 1, err
		}
		defer b.Close()
		cfg.URLs = []string{b.URL()}
		fmt.Fprintf(stderr, "chatbench: in-process baseline server at %s\n", b.URL())
	}
	timeout := o.timeout
	if timeout <= 0 {
		timeout = estimate(cfg)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rep, runErr := bench.Run(ctx, cfg)
	if rep == nil {
		return 1, runErr
	}
	table := stdout
	if o.jsonOut == "-" {
		table = stderr
		if err := rep.WriteJSON(stdout); err != nil {
			return 1, err
		}
	} else if o.jsonOut != "" {
		if err := writeFile(o.jsonOut, rep.WriteJSON); err != nil {
			return 1, err
		}
	}
	if err := rep.WriteTable(table); err != nil {
		return 1, err
	}
	if runErr != nil {
		return 1, runErr
	}
	if !rep.OK {
		return 3, nil
	}
	return 0, nil
}

// estimate bounds a run: connecting, every step's phases, settling and
// two minutes of slack.
func estimate(c bench.Config) time.Duration {
	d := 2*time.Minute + c.Settle
	if c.ConnectRate > 0 {
		d += time.Duration(float64(c.Clients) / c.ConnectRate * float64(time.Second))
	}
	if c.Idle {
		return d + c.Duration
	}
	if c.JoinStorm {
		return d + c.JoinWindow + c.Drain
	}
	if c.RoomsScale > 0 {
		// up to 10 ms per request, at least as slow as one at a time,
		// and every checkpoint's settle and archive wait
		reqs := float64(c.RoomsScale) * (1 + c.HistoryFraction*float64(c.HistoryMessages))
		cps := len(c.Checkpoints) + 1 // the total, when the list stops short of it
		if len(c.Checkpoints) == 0 {
			cps = len(bench.DefaultCheckpoints(c.RoomsScale))
		}
		d += time.Duration(reqs*float64(10*time.Millisecond)) + time.Duration(cps+3)*c.Settle + time.Duration(cps)*c.ArchiveWait
	}
	if c.Reads {
		d += bench.ReadDelayMax + c.Drain // every member's last read
	}
	return d + time.Duration(len(c.Rates))*(c.Warmup+c.Duration+2*c.Drain)
}

// writeFile creates path and fills it with write.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// summarize prints reports as a markdown table.
func summarize(o *options, stdout io.Writer) (int, error) {
	var reps []*bench.Report
	for _, p := range splitList(o.summarize) {
		rep, err := bench.ReadReport(p)
		if err != nil {
			return 1, err
		}
		reps = append(reps, rep)
	}
	if o.jsonOut != "" {
		write := func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(reps)
		}
		if err := writeFile(o.jsonOut, write); err != nil {
			return 1, err
		}
	}
	if o.out == "" {
		return 0, bench.WriteMarkdown(stdout, reps)
	}
	return 0, writeFile(o.out, func(w io.Writer) error { return bench.WriteMarkdown(w, reps) })
}

// serveBaseline runs only the baseline server until a signal or -serve-for.
func serveBaseline(ctx context.Context, o *options, stdout io.Writer) (int, error) {
	if _, _, err := bench.RaiseFileLimit(1 << 16); err != nil {
		fmt.Fprintln(os.Stderr, "chatbench: warning: raising the open-file limit:", err)
	}
	b, err := bench.StartBaseline(o.serveBaseline)
	if err != nil {
		return 1, err
	}
	fmt.Fprintf(stdout, "baseline %s pid %d\n", b.URL(), os.Getpid())
	ctx, cancel := context.WithTimeout(ctx, o.serveFor)
	defer cancel()
	<-ctx.Done()
	if err := b.Close(); err != nil {
		return 1, err
	}
	fmt.Fprintf(stdout, "baseline stopped; %d slow consumers dropped\n", b.SlowConsumers())
	return 0, nil
}
