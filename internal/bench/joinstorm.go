package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"chatrelay/internal/stomp"
)

// joinGrace is how long a join storm goes on reading after every joiner
// has its RECEIPT and history, so that a duplicate or extra message
// arriving late is still counted.
const joinGrace = 500 * time.Millisecond

// joinPoll is how often the storm checks whether every joiner is done.
const joinPoll = 10 * time.Millisecond

// storm is one join-storm run's state (Config.JoinStorm).
type storm struct {
	cfg     Config
	r       *runner // rooms, error counters, write pool
	joiners []*joiner

	wg       sync.WaitGroup // reader goroutines
	closing  atomic.Bool
	complete atomic.Int64 // joiners with their RECEIPT and History messages
}

// runJoinStorm runs Config.JoinStorm: create and seed one room, connect
// every client, then have them all SUBSCRIBE with x-history and a receipt
// within JoinWindow, and report what each waited for.
func runJoinStorm(ctx context.Context, cfg Config) (*Report, error) {
	r := &runner{cfg: cfg, writePool: &sync.Pool{}}
	s := &storm{cfg: cfg, r: r}
	rep := newReport(&r.cfg)
	rep.Rates = nil
	js := &JoinStormReport{History: cfg.History, Seeded: cfg.Seed, WindowSeconds: cfg.JoinWindow.Seconds(), P99LimitMs: ms(cfg.JoinP99)}
	rep.JoinStorm = js
	rss := newRSSProbe(cfg.Pids, cfg.BrokerPids)
	rss.read(0)
	before := r.brokerTotals(ctx, "before")
	if err := r.setupRooms(ctx); err != nil {
		return nil, err
	}
	defer r.deleteRooms()
	begin := time.Now()
	if err := s.seed(ctx); err != nil {
		return nil, err
	}
	r.logf("room seeded with %d messages in %.1fs", cfg.Seed, time.Since(begin).Seconds())

	begin = time.Now()
	connected := s.connectAll(ctx)
	defer s.shutdown()
	rep.Connect = ConnectReport{Connected: connected, Failed: int64(cfg.Clients) - connected, Seconds: time.Since(begin).Seconds()}
	r.logf("%d/%d joiners connected in %.1fs", connected, cfg.Clients, rep.Connect.Seconds)
	if connected == 0 {
		rep.finish(r, rss, before, nil)
		return rep, errors.New("no client connected")
	}
	waitCtx(ctx, cfg.Settle)
	rss.read(1)
	connectedTotals := r.brokerTotals(ctx, "connected")

	s.subscribeAll(ctx, js)
	r.logf("%d SUBSCRIBEs with x-history %d in %.2fs", js.Subscribed, cfg.History, js.SubscribeSeconds)
	s.await(ctx, int64(js.Subscribed))
	r.logf("%d/%d joiners have their receipt and %d messages", s.complete.Load(), js.Subscribed, cfg.History)
	waitCtx(ctx, joinGrace)
	rss.read(2)
	s.shutdown()
	s.evaluate(js)
	rep.finish(r, rss, before, connectedTotals)
	js.judge(cfg.Clients)
	rep.OK = js.OK && rep.Errors.Total() == 0 && rep.Drops == 0 && rep.Connect.Failed == 0
	return rep, ctx.Err()
}

// connectAll connects every joiner at ConnectRate, at most
// ConnectConcurrency at a time, starts each one's reader and returns how
// many connected; s.joiners holds those only.
func (s *storm) connectAll(ctx context.Context) int64 {
	cfg := &s.cfg
	all := make([]*joiner, cfg.Clients)
	sem := make(chan struct{}, cfg.ConnectConcurrency)
	var ok atomic.Int64
	var wg sync.WaitGroup
	Schedule{Start: time.Now(), Rate: cfg.ConnectRate, Limit: int64(cfg.Clients)}.Run(ctx, func(k int64, _ time.Time) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		// one goroutine per handshake in flight (bounded by sem): it owns
		// joiner k's setup until its reader starts
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			i := int(k)
			conn, rd, err := joinConnect(ctx, cfg, s.r.writePool, cfg.URLs[i%len(cfg.URLs)], cfg.Login+"-"+strconv.Itoa(i))
			if err != nil {
				s.r.note("connect", fmt.Errorf("joiner %d: %w", i, err))
				return
			}
			j := &joiner{idx: i, conn: conn}
			all[i] = j
			ok.Add(1)
			s.wg.Add(1)
			// the reader goroutine owns the decoder and the joiner's
			// record of its subscription until the socket ends
			go j.readLoop(s, rd)
		}()
	})
	wg.Wait()
	for _, j := range all {
		if j != nil {
			s.joiners = append(s.joiners, j)
		}
	}
	return ok.Load()
}

// subscribeAll writes every joiner's SUBSCRIBE (x-history, receipt),
// spread evenly over JoinWindow, from the calling goroutine.
func (s *storm) subscribeAll(ctx context.Context, js *JoinStormReport) {
	frame := stomp.New(stomp.SUBSCRIBE, "id", joinSubID, "destination", s.r.rooms[0].dest, "ack", "auto",
		"x-history", strconv.Itoa(s.cfg.History), "receipt", joinReceipt).Encode(stomp.V12)
	var lagMax time.Duration
	var first, last time.Time
	JoinSchedule(time.Now(), len(s.joiners), s.cfg.JoinWindow).Run(ctx, func(k int64, due time.Time) {
		j := s.joiners[k]
		now := time.Now()
		if first.IsZero() {
			first = now
		}
		j.subAt.Store(now.UnixNano())
		if err := j.write(frame); err != nil {
			j.subAt.Store(0)
			s.r.note("send", fmt.Errorf("joiner %d SUBSCRIBE: %w", j.idx, err))
			return
		}
		last = now
		lagMax = max(lagMax, now.Sub(due))
		js.Subscribed++
	})
	if !last.IsZero() {
		js.SubscribeSeconds = last.Sub(first).Seconds()
	}
	js.SubscribeLagMaxMs = ms(lagMax)
}

// await waits until n joiners are complete, for at most Drain.
func (s *storm) await(ctx context.Context, n int64) {
	deadline := time.Now().Add(s.cfg.Drain)
	t := time.NewTicker(joinPoll)
	defer t.Stop()
	for s.complete.Load() < n && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// shutdown closes every joiner and waits for their readers; it may be
// called twice.
func (s *storm) shutdown() {
	if s.closing.Swap(true) {
		return
	}
	for _, j := range s.joiners {
		j.close()
	}
	s.wg.Wait()
}

// evaluate fills js from every joiner's record; the readers have ended.
func (s *storm) evaluate(js *JoinStormReport) {
	want := wantedSeeds(s.cfg.Seed, s.cfg.History)
	var receipt, nth Histogram
	for _, j := range s.joiners {
		at := j.subAt.Load()
		if at == 0 {
			continue
		}
		sub := time.Unix(0, at)
		if !j.receiptAt.IsZero() {
			js.Receipts++
			receipt.Record(j.receiptAt.Sub(sub))
		}
		if !j.nthAt.IsZero() {
			nth.Record(j.nthAt.Sub(sub))
		}
		if j.completed {
			js.Complete++
		}
		if j.afterReceipt {
			js.AfterReceipt++
		}
		c := checkHistory(j.hist, want)
		if c.Exact() {
			js.Exact++
		} else {
			js.Wrong++
		}
		js.Missing += c.Missing
		js.Duplicates += c.Duplicates
		js.Foreign += c.Foreign
		js.OutOfOrder += c.OutOfOrder
	}
	js.Receipt, js.NthHistory = receipt.Summary(), nth.Summary()
}
