package rabbitstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"chatrelay/internal/relay"
	"chatrelay/internal/rooms/feed"
)

// The registry tail is restarted whenever it fails: the broker cancelled
// its consumer (the stream was deleted, or the node it read from went
// down) or it fell behind its buffer. A replica whose registry tail
// stopped would go on serving a frozen room list and never see the rooms
// other replicas create or delete.
//
// A restarted run subscribes at the offset of the last record the
// registry applied and checks that record: the registry skips it (and
// anything older), so nothing is applied twice, and everything after it
// follows, so nothing is missed. When the record there is another one, or
// none comes (RabbitMQ delivers nothing below the offset asked for until
// the stream has it), the stream is not the one this replica followed:
// it was deleted and declared again. The replica then replays it from its
// first offset into a new view, as a new replica would, and serves the
// old view until the new one is synced.

// Tuning of the restarts: the delay before one doubles from
// regRestartMin to regRestartMax (jittered), and starts over after a run
// that lasted regStable; a restarted run that has not read its start
// record regVerify after its subscription was confirmed is on another
// stream.
const (
	regRestartMin = 100 * time.Millisecond
	regRestartMax = 5 * time.Second
	regStable     = 30 * time.Second
	regVerify     = 10 * time.Second
)

// errOtherStream ends a restarted run that found the registry stream
// without the record this replica applied last.
var errOtherStream = errors.New("the registry stream lacks the record this replica applied last: it was deleted and declared again")

// regSink is the feed.Sink of one run of the registry tail: it checks the
// run's start record, passes the records on to the registry, and tells
// the supervisor how the run ended.
type regSink struct {
	reg *registry
	// check: the record at offset at must have print
	check bool
	at    int64
	print recordPrint
	// verified is set once the start record was read
	verified atomic.Bool
	// broken: the start record was not there; only the tail's goroutine
	// uses it
	broken bool
	ended  chan error // capacity 1: why the run must end
}

// Record implements feed.Sink.
func (w *regSink) Record(r feed.Record) {
	if w.broken {
		return
	}
	if w.check && !w.verified.Load() && r.Offset >= w.at {
		if r.Offset != w.at || printOf(r) != w.print {
			w.broken = true
			w.end(fmt.Errorf("%w (found another record at or past offset %d)", errOtherStream, w.at))
			return
		}
		w.verified.Store(true)
	}
	w.reg.Record(r)
}

// Synced implements feed.Sink.
func (w *regSink) Synced() {
	if !w.broken {
		w.reg.Synced()
	}
}

// Failed implements feed.Sink.
func (w *regSink) Failed(err error) { w.end(err) }

func (w *regSink) end(err error) {
	select {
	case w.ended <- err:
	default:
	}
}

// startRegistryRun starts a run of the registry tail: from the first
// offset when the registry has applied nothing, else from its last
// record, checked.
func (s *Store) startRegistryRun() (*tail, *regSink, error) {
	sink := &regSink{reg: s.reg, ended: make(chan error, 1)}
	offset := "first"
	if last, print := s.reg.lastRecord(); last >= 0 {
		sink.check, sink.at, sink.print = true, last, print
		offset = "offset=" + strconv.FormatInt(last, 10)
	}
	t, err := startTail(stompSubscriber(s.opts.Relay, s.registry, offset, s.log), s.registry, sink, s.markRegistry, s.log)
	if err != nil {
		return nil, nil, err
	}
	s.regTail.Store(t)
	return t, sink, nil
}

// followRegistry starts the registry tail from the stream's first offset,
// and a goroutine that restarts it each time it fails; stop ends both.
func (s *Store) followRegistry() (stop func(), err error) {
	t, sink, err := s.startRegistryRun()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		// owns the registry tail (whichever run is current) until stop
		defer close(done)
		s.superviseRegistry(ctx, t, sink)
	}()
	return func() { cancel(); <-done }, nil
}

// superviseRegistry waits for the current run of the registry tail to
// end and starts the next one, until ctx ends.
func (s *Store) superviseRegistry(ctx context.Context, t *tail, sink *regSink) {
	log := s.log.With("stream", s.registry)
	delay := regRestartMin
	restarts := 0
	for {
		began := time.Now()
		cause := s.awaitRun(ctx, t, sink)
		t.stop()
		if cause == nil {
			return // ctx ended
		}
		if time.Since(began) >= regStable {
			delay = regRestartMin
		}
		if errors.Is(cause, errOtherStream) {
			log.Error("rooms: replaying the registry stream from its start", "err", cause)
			s.reg.beginReplay()
		}
		for {
			wait := delay/2 + rand.N(delay/2+1)
			delay = min(2*delay, regRestartMax)
			log.Warn("rooms: the registry tail stopped; restarting it", "err", cause, "in", wait, "restarts", restarts)
			if !sleepCtx(ctx, wait) {
				return
			}
			// a SUBSCRIBE to a missing queue would close a shared relay
			// connection: make sure the stream is there first
			if err := s.declareRegistry(ctx, nil); err != nil {
				return // ctx ended
			}
			var err error
			if t, sink, err = s.startRegistryRun(); err == nil {
				restarts++
				s.regRestarts.Add(1)
				log.Info("rooms: registry tail restarted", "at", sink.at, "checked", sink.check, "restarts", restarts)
				break
			}
			if errors.Is(err, relay.ErrClosed) {
				log.Error("rooms: the relay is closed; the room list no longer follows other replicas", "err", err)
				return
			}
			cause = err
		}
	}
}

// awaitRun waits for the run t to end and returns why; nil when ctx
// ended. A checked run ends with errOtherStream when its start record has
// not come regVerify after its subscription was confirmed.
func (s *Store) awaitRun(ctx context.Context, t *tail, sink *regSink) error {
	var subOK <-chan struct{}
	if sink.check {
		subOK = t.confirmed
	}
	var verify <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-sink.ended:
			return err
		case <-subOK:
			subOK = nil
			timer := time.NewTimer(regVerify)
			defer timer.Stop()
			verify = timer.C
		case <-verify:
			verify = nil
			if !sink.verified.Load() {
				return fmt.Errorf("%w (nothing at offset %d after %v)", errOtherStream, sink.at, regVerify)
			}
		}
	}
}

// sleepCtx sleeps for d; it returns false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
