// Package bench is the logic of cmd/chatbench: STOMP-over-WebSocket load
// clients spread over rooms and target URLs, open-loop rate pacing, a
// latency histogram, loss and duplicate accounting from a marker carried
// in every message body, memory and broker probes, the report, and the
// no-broker baseline server.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Mode says what the clients talk to and which destinations they use.
type Mode string

// The modes.
const (
	// ModeChatrelay: SEND /app/chat.send, SUBSCRIBE /topic/room.<id> of
	// rooms created through the REST API.
	ModeChatrelay Mode = "chatrelay"
	// ModeWebSTOMP: SEND and SUBSCRIBE /topic/<name> on RabbitMQ's
	// Web-STOMP plugin directly.
	ModeWebSTOMP Mode = "webstomp"
	// ModeBaseline: the chatrelay protocol against the no-broker
	// baseline server (Baseline).
	ModeBaseline Mode = "baseline"
)

// Config is one benchmark run.
type Config struct {
	Mode Mode
	// URLs are the WebSocket endpoints; client i uses URLs[i % len].
	URLs []string
	// API is the base HTTP URL rooms are created through (chatrelay mode).
	API string
	// APIKey is the server's http.api_key: rooms are created and deleted
	// with it, which spares a run the per-address room quota (the cap on
	// all rooms, rooms.create.max_rooms, still holds). Without it rooms
	// are created anonymously and cannot be deleted at the end.
	APIKey string
	// Clients, Rooms and Senders: client i joins room i % Rooms; clients
	// 0..Senders-1 send (so senders are spread over the rooms).
	Clients, Rooms, Senders int
	// Rates are aggregate offered messages/s, one step each, run in
	// order on the same connections; the run stops after the first step
	// that is not sustained unless SweepAll.
	Rates    []float64
	SweepAll bool
	// Warmup and Duration are each step's unmeasured and measured send
	// phases; Drain bounds the wait for deliveries after a step.
	Warmup, Duration, Drain time.Duration
	// MaxMessages bounds all sends of the run (warm-up included).
	MaxMessages int64
	// MessageBytes is the length of each message's text.
	MessageBytes int
	// P99Limit is the p99 latency a sustained step must stay within.
	P99Limit time.Duration
	// Idle: connect and subscribe, hold for Duration, send nothing.
	Idle bool
	// ConnectRate bounds new connections per second (0: no bound) and
	// ConnectConcurrency the handshakes in flight (0: DefaultConnectConcurrency).
	ConnectRate        float64
	ConnectConcurrency int
	// SourceAddrs are the local addresses clients dial from, in turn
	// (ParseSourceAddrs); none lets the kernel pick. Each gives about
	// 28,000 connections to one server address.
	SourceAddrs []netip.Addr
	// Settle is waited after connecting, before memory and broker counts
	// are read.
	Settle time.Duration
	// HeartBeat, when positive, is offered both ways at CONNECT and sent.
	HeartBeat time.Duration
	// Reconnect makes dropped clients reconnect, at most MaxReconnects
	// times each; drops are counted either way.
	Reconnect     bool
	MaxReconnects int
	// Login and Passcode: the broker user in webstomp mode; in the other
	// modes client i logs in as Login + "-" + i.
	Login, Passcode, VHost string
	// WatchErrors subscribes chatrelay senders to /user/queue/errors.
	WatchErrors bool
	// KeepRooms leaves the rooms a chatrelay run created; by default they
	// are deleted at the end (their streams would stay in RabbitMQ).
	KeepRooms bool
	// Pids are the server processes whose RSS is read and divided by the
	// connections; BrokerPids are read and reported apart (RabbitMQ
	// behind chatrelay).
	Pids, BrokerPids []int
	// Mgmt is RabbitMQ's management base URL; MgmtUser and MgmtPass its
	// credentials. When set, object totals are read before and after
	// connecting.
	Mgmt, MgmtUser, MgmtPass string
	// JoinStorm runs a join storm instead of rate steps (chatrelay mode
	// only): one room is seeded with Seed messages through /app/chat.send,
	// every client connects, then all SUBSCRIBE with x-history: History
	// and a receipt, spread evenly over JoinWindow; each one's wait for
	// its RECEIPT and its History-th message is reported, and whether it
	// got exactly the last History messages. JoinP99 bounds both p99s;
	// Drain bounds the wait for the slowest joiner. Run it with presence
	// messages off: an ENTER is a room message, so it is history too.
	JoinStorm           bool
	History, Seed       int
	JoinWindow, JoinP99 time.Duration
	// RoomsScale, when positive, runs scenario (d), rooms at scale
	// (chatrelay mode only): RoomsScale rooms are created through the
	// REST API, CreateConcurrency requests at a time, each timed (p99
	// bound CreateP99); HistoryMessages are pushed (POST
	// /api/rooms/{id}/messages) into the HistoryFraction of them
	// (HasHistory); the broker is read before the first room and at
	// every count in Checkpoints (its memory, processes and descriptors:
	// Mgmt, BrokerCtl, BrokerPids). Then Rooms of them (ActiveRooms) get
	// the Clients as members and the rate steps run in them as in any
	// other run, and the broker is read once more.
	RoomsScale, HistoryMessages int
	HistoryFraction             float64
	Checkpoints                 []int
	CreateConcurrency           int
	CreateP99                   time.Duration
	// CreateRate, when positive, starts the creations on an open-loop
	// schedule of CreateRate per second (CreateConcurrency still bounds
	// those in flight, and a creation's time counts from when it was
	// due), so that its latency is measured at a known load rather than
	// at the saturation CreateConcurrency closed loops reach.
	CreateRate float64
	// ArchiveWait, when positive, waits at every checkpoint (before the
	// broker is read) until the broker holds at most ArchiveMaxStreams
	// room streams (queues named room.*; read from Mgmt), polling, for at
	// most ArchiveWait: the server archives idle rooms' streams
	// (rooms.archive.idle_after), and the reading is meant to be of the
	// broker once it has caught up. A wait that times out is reported NOT
	// met and makes the run not OK. ArchiveMaxStreams 0 means Rooms +
	// ArchiveSlack.
	ArchiveWait       time.Duration
	ArchiveMaxStreams int
	// BrokerCtl is an executable that runs rabbitmqctl for the broker
	// node (bench/rabbitnode writes one: RABBIT_CTL); with it a
	// rooms-at-scale reading garbage-collects the node and reads its
	// Erlang memory and processes.
	BrokerCtl string
	// Reads runs the rate steps (chatrelay mode) with read positions
	// and typing at realistic rates: the rooms are created private, with
	// every client of a room as a member (the first one its owner); every
	// client also follows the room's reads and typing topics, reads every
	// message within ReadDelayMax (one /app/rooms/{id}/read SEND per
	// pending batch, with the newest offset received), and
	// TypingFraction of each room's members (IsTyper) signal typing every
	// TypingEvery through each measured step and stop at its end. The
	// report adds the read and typing SENDs and events per second and
	// whether every member's last read came back on the reads topic.
	Reads          bool
	TypingFraction float64
	// RunID makes room and topic names unique; Label names the run in
	// reports.
	RunID, Label string
	// Progress receives one line per phase; nil discards it.
	Progress io.Writer
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Rooms <= 0 {
		c.Rooms = 1
	}
	if c.Senders < 0 || (c.Senders == 0 && !c.Idle) {
		c.Senders = DefaultSenders(c.Clients, c.Rooms)
	}
	if c.Senders > c.Clients {
		c.Senders = c.Clients
	}
	if c.Idle {
		c.Senders = 0
	}
	if len(c.Rates) == 0 {
		c.Rates = []float64{100}
	}
	if c.MaxMessages <= 0 {
		c.MaxMessages = 1_000_000
	}
	if c.MessageBytes <= 0 {
		c.MessageBytes = 100
	}
	if c.ConnectConcurrency <= 0 {
		c.ConnectConcurrency = DefaultConnectConcurrency(c.ConnectRate)
	}
	if c.MaxReconnects <= 0 {
		c.MaxReconnects = 5
	}
	if c.VHost == "" {
		c.VHost = "/"
	}
	if c.Login == "" {
		c.Login = "bench"
	}
	if c.RunID == "" {
		c.RunID = strconv.FormatInt(time.Now().UnixNano()%1_000_000_000, 36)
	}
	if c.P99Limit <= 0 {
		c.P99Limit = 500 * time.Millisecond
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.JoinStorm {
		c.joinDefaults()
	}
	if c.RoomsScale > 0 {
		c.scaleDefaults()
	}
}

// joinDefaults fills a join storm's unset fields: one room, no senders,
// Seed twice History (so the replay must pick the newest), 1 s window,
// 2 s p99 bound, 10 s drain.
func (c *Config) joinDefaults() {
	c.Rooms, c.Senders, c.Idle = 1, 0, false
	if c.History <= 0 {
		c.History = 50
	}
	if c.Seed < c.History {
		c.Seed = 2 * c.History
	}
	if c.JoinWindow < 0 {
		c.JoinWindow = 0
	}
	if c.JoinP99 <= 0 {
		c.JoinP99 = 2 * time.Second
	}
	if c.Drain <= 0 {
		c.Drain = 10 * time.Second
	}
}

// DefaultSenders is the sender count when none is given: a tenth of the
// clients, but at least one per room.
func DefaultSenders(clients, rooms int) int {
	n := clients / 10
	if n < rooms {
		n = rooms
	}
	if n > clients {
		n = clients
	}
	return n
}

// DefaultConnectConcurrency is the handshakes in flight when none is
// given: enough for rate connections/s when each setup (handshake,
// CONNECT, SUBSCRIBE and their receipts) takes up to 50 ms, at least 64,
// and 1,024 for an unbounded rate.
func DefaultConnectConcurrency(rate float64) int {
	if rate <= 0 {
		return 1024
	}
	return max(64, min(1024, int(rate/20)))
}

// Validate reports a configuration that cannot run.
func (c *Config) Validate() error {
	switch c.Mode {
	case ModeChatrelay, ModeWebSTOMP, ModeBaseline:
	default:
		return fmt.Errorf("mode %q: want chatrelay, webstomp or baseline", c.Mode)
	}
	switch {
	case len(c.URLs) == 0:
		return errors.New("no target URLs")
	case c.Clients <= 0:
		return errors.New("clients must be positive")
	case c.Rooms > c.Clients:
		return fmt.Errorf("%d rooms for %d clients: every room needs a member", c.Rooms, c.Clients)
	case c.JoinStorm && c.Mode != ModeChatrelay:
		return fmt.Errorf("a join storm needs x-history: mode chatrelay, not %s", c.Mode)
	case c.RoomsScale > 0 && c.JoinStorm:
		return errors.New("a join storm and rooms at scale are separate runs")
	case c.JoinStorm:
		return nil
	case c.Reads && (c.Mode != ModeChatrelay || c.Idle || c.RoomsScale > 0):
		return errors.New("reads and typing need rate steps in mode chatrelay, in rooms the run creates (not -idle, not -rooms-scale)")
	case c.Reads && (c.Clients+c.Rooms-1)/c.Rooms-1 > maxPrivateMembers:
		return fmt.Errorf("reads: %d clients in %d rooms: a private room has at most %d members besides its owner", c.Clients, c.Rooms, maxPrivateMembers)
	case c.TypingFraction < 0 || c.TypingFraction > 1:
		return fmt.Errorf("typing fraction %v: want 0 to 1", c.TypingFraction)
	case c.Duration <= 0:
		return errors.New("duration must be positive")
	}
	for _, r := range c.Rates {
		if r <= 0 && !c.Idle {
			return fmt.Errorf("rate %v: must be positive", r)
		}
	}
	if c.RoomsScale > 0 {
		return c.validateScale()
	}
	return nil
}

// runner is one run's shared state.
type runner struct {
	cfg       Config
	rooms     []*room
	allRooms  []*room // a rooms-at-scale run's every room (rooms: the active ones)
	clients   []*client
	steps     []*stepStats // one per rate; fixed before clients connect
	ran       int          // steps started; owned by Run's goroutine
	created   bool         // chatrelay rooms were created through the API
	act       *activity    // a reads run's schedule and counters; nil otherwise
	writePool *sync.Pool
	netDial   *sourceDialer // nil: the default dialer

	wg      sync.WaitGroup // reader goroutines
	sendWG  sync.WaitGroup // sender goroutines
	closing atomic.Bool
	pending atomic.Int64 // jobs handed to senders and not yet done

	drops, reconnects, other                     atomic.Int64
	errorFrames, socketErrors, connectErrors     atomic.Int64
	probeErrors                                  atomic.Int64
	sendErrors, handlerErrors, skipped, warmSent atomic.Int64
	warmDelivered                                atomic.Int64
	samplesMu                                    sync.Mutex
	samples                                      []string
}

// stepStats are one rate step's counters, updated by senders and readers.
type stepStats struct {
	rate                      float64
	sent, skipped, sendErrors atomic.Int64
	expected, delivered       atomic.Int64
	duplicates, reordered     atomic.Int64
	lagMax, lastDelivery      atomic.Int64 // ns; Unix ns
	hist                      Histogram
	start, end                time.Time // measured send phase
	errorsStart, errorsEnd    int64     // errorCount around the step; owned by Run's goroutine
	// CPU and a reads run's counters at start and end; owned by Run's goroutine
	cpuStart, cpuEnd cpuSample
	actStart, actEnd *activityCounts
}

// maxSamples bounds the error messages a report keeps.
const maxSamples = 20

// note counts an error of a kind and keeps the first few messages.
func (r *runner) note(kind string, err error) {
	switch kind {
	case "socket":
		r.socketErrors.Add(1)
	case "connect":
		r.connectErrors.Add(1)
	case "send":
		r.sendErrors.Add(1)
	}
	r.samplesMu.Lock()
	if len(r.samples) < maxSamples {
		r.samples = append(r.samples, kind+": "+err.Error())
	}
	r.samplesMu.Unlock()
}

// account records the outcome of one send.
func (r *runner) account(j job, members int64, now time.Time, err error) {
	if err != nil {
		if j.measured {
			r.steps[j.step].sendErrors.Add(1)
		}
		r.note("send", err)
		return
	}
	if !j.measured {
		r.warmSent.Add(1)
		return
	}
	s := r.steps[j.step]
	s.sent.Add(1)
	s.expected.Add(members)
	storeMax(&s.lagMax, int64(now.Sub(j.due)))
}

// logf writes one progress line.
func (r *runner) logf(format string, a ...any) {
	fmt.Fprintf(r.cfg.Progress, "chatbench: "+format+"\n", a...)
}

// Run executes the benchmark described by cfg and returns its report.
// Everything it starts has ended when it returns.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.JoinStorm {
		return runJoinStorm(ctx, cfg)
	}
	r := &runner{cfg: cfg, writePool: &sync.Pool{}, netDial: newSourceDialer(cfg.SourceAddrs)}
	if !cfg.Idle {
		// allocated before any reader starts and never reassigned
		for _, rate := range cfg.Rates {
			r.steps = append(r.steps, &stepStats{rate: rate})
		}
	}
	rep := newReport(&r.cfg)
	// "before" is before the rooms too: their streams are part of what a
	// mode costs the broker
	rss := newRSSProbe(cfg.Pids, cfg.BrokerPids)
	rss.read(0)
	before := r.brokerTotals(ctx, "before")
	if cfg.RoomsScale > 0 {
		rep.RoomsScale = newRoomsScaleReport(&r.cfg)
		defer r.deleteRooms()
		if err := r.scaleRooms(ctx, rep.RoomsScale); err != nil {
			rep.finish(r, rss, before, nil)
			return rep, err
		}
	} else {
		if err := r.setupRooms(ctx); err != nil {
			return nil, err
		}
		defer r.deleteRooms()
	}
	r.makeClients()
	if cfg.Reads {
		r.act = newActivity(r)
	}
	var connectedTotals map[string]int64
	defer r.shutdown()

	if r.cfg.HeartBeat > 0 {
		// from the first connection on, not after the last: a slow connect
		// phase must not leave early clients silent for longer than a
		// server's idle timeout (Web-STOMP closes a client it has heard
		// nothing from for 60 s)
		hbCtx, stop := context.WithCancel(ctx)
		defer stop()
		r.wg.Add(1)
		// the heart-beat goroutine owns the heart-beat schedule (see heartBeats)
		go r.heartBeats(hbCtx)
	}
	begin := time.Now()
	connected := r.connectAll(ctx)
	rep.Connect = newConnectReport(connected, int64(len(r.clients)), time.Since(begin))
	rep.Connect.SourceAddrs = len(cfg.SourceAddrs)
	r.logf("%d/%d clients connected in %.1fs (%.0f/s)", connected, len(r.clients), rep.Connect.Seconds, rep.Connect.PerSecond)
	if connected == 0 {
		rep.finish(r, rss, before, nil)
		return rep, errors.New("no client connected")
	}
	waitCtx(ctx, cfg.Settle)
	rep.JoinDeliveries = r.other.Load() // the joins' announcements have arrived by now
	rss.read(1)
	connectedTotals = r.brokerTotals(ctx, "connected")

	if cfg.Idle {
		r.logf("holding %d idle connections for %v", connected, cfg.Duration)
		waitCtx(ctx, cfg.Duration)
	} else if r.act != nil {
		r.act.start()
		r.runSteps(ctx)
		settled := r.act.settle(ctx, cfg.Drain)
		r.act.close()
		rep.Reads = newReadsReport(r.act, cfg.TypingFraction, settled)
		r.logf("reads: %d/%d members saw their last read on the reads topic", rep.Reads.LastReadSeen, rep.Reads.Readers)
	} else {
		r.runSteps(ctx)
	}
	if rs := rep.RoomsScale; rs != nil {
		snap := r.brokerSnapshot(ctx, cfg.RoomsScale)
		rs.AfterActive = &snap
		r.logf("broker with %d active rooms: %s", len(r.rooms), snap.line())
	}
	rss.read(2)
	rep.finish(r, rss, before, connectedTotals)
	return rep, ctx.Err()
}

// makeClients lays the clients out over rooms and URLs.
func (r *runner) makeClients() {
	cfg := &r.cfg
	r.clients = make([]*client, cfg.Clients)
	for i := range r.clients {
		c := &client{r: r, idx: i, room: r.rooms[i%len(r.rooms)], url: cfg.URLs[i%len(cfg.URLs)], sender: i < cfg.Senders}
		c.login = memberLogin(cfg, i)
		if cfg.Reads {
			c.rd = newReadState(c.login, IsTyper(i/len(r.rooms), cfg.TypingFraction))
		}
		r.clients[i] = c
	}
}

// memberLogin is the login of client i: Login, in webstomp mode (the
// broker user), else Login-i.
func memberLogin(cfg *Config, i int) string {
	if cfg.Mode == ModeWebSTOMP {
		return cfg.Login
	}
	return cfg.Login + "-" + strconv.Itoa(i)
}

// connectAll connects every client at the configured rate, at most
// ConnectConcurrency at a time, and returns how many succeeded.
func (r *runner) connectAll(ctx context.Context) int64 {
	sem := make(chan struct{}, r.cfg.ConnectConcurrency)
	var ok atomic.Int64
	var wg sync.WaitGroup
	sched := Schedule{Start: time.Now(), Rate: r.cfg.ConnectRate, Limit: int64(len(r.clients))}
	sched.Run(ctx, func(k int64, _ time.Time) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		c := r.clients[k]
		// one goroutine per handshake in flight (bounded by sem): it owns
		// the client's setup until start hands the socket to the reader
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := c.start(ctx); err != nil {
				r.note("connect", fmt.Errorf("client %d: %w", c.idx, err))
				return
			}
			ok.Add(1)
		}()
		if k > 0 && k%1000 == 0 {
			r.logf("%d clients dialled", k)
		}
	})
	wg.Wait()
	return ok.Load()
}

// heartBeats is the heart-beat goroutine: it owns the heart-beat
// schedule, writing an EOL to every client once per HeartBeat/2.
func (r *runner) heartBeats(ctx context.Context) {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.HeartBeat / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, c := range r.clients {
			if r.closing.Load() {
				return
			}
			_ = c.write([]byte{'\n'}) // a dead socket is the reader's to report
		}
	}
}

// shutdown closes every client and waits for every goroutine the run
// started.
func (r *runner) shutdown() {
	r.closing.Store(true)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, c := range r.clients {
		sem <- struct{}{}
		wg.Add(1)
		// a closing goroutine owns one client's goodbye (bounded by sem)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.close()
		}()
	}
	wg.Wait()
	r.wg.Wait()
}

// waitCtx waits for d or until ctx ends.
func waitCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
