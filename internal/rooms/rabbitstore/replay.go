package rabbitstore

import (
	"context"
	"fmt"
	"time"

	"chatrelay/internal/rooms/feed"
)

// Catching up with the registry: a starting replica replays the whole
// registry stream (replayOverAMQP, then its registry tail from where that
// read stopped), waiting as long as the replay progresses; a running
// replica brings its registry view up to the stream's end when it needs
// to (syncRegistry: a room feed starting on a room without a stream,
// whose log is the registry view).

// replayOverAMQP applies the registry stream from its first offset up to
// a marker, read over AMQP, which RabbitMQ delivers about twice as fast
// as a STOMP subscription through the relay (BenchmarkRegistryReplay), so
// that the registry tail started next has little left to replay. It
// fails only when ctx ends: a read the broker refuses, breaks off or
// stalls (no record for ReadyTimeout) is no failure, the registry tail,
// which retries refusals, replays what it did not.
func (s *Store) replayOverAMQP(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	done := make(chan struct{})
	read := make(chan error, 1)
	go func() {
		// owns the replay's read until it reaches its marker or ctx ends
		defer close(done)
		read <- s.amqp.readStream(ctx, s.registry, "first", true, func(r feed.Record) bool {
			s.reg.Record(r)
			return true
		})
	}()
	err := s.awaitProgress(ctx, done)
	cancel()
	<-done
	if perr := parent.Err(); perr != nil {
		return perr
	}
	if err == nil {
		err = <-read
	}
	if err != nil {
		// the read is a shortcut: the registry tail replays the rest
		// itself, riding out what refused the read (a cluster node
		// without its replica of the registry yet, say)
		s.log.Warn("rooms: the registry's AMQP read stopped; the registry tail replays the rest", "err", err)
	}
	return nil
}

// awaitProgress waits until done is closed; it fails when ctx ends or
// the registry applied no record for ReadyTimeout (the broker is gone,
// or the replay stalled). A replay that goes on, however long, is waited
// for: a replica must not give up on a large registry.
func (s *Store) awaitProgress(ctx context.Context, done <-chan struct{}) error {
	every := max(s.opts.ReadyTimeout/10, 10*time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	last, _ := s.reg.lastRecord()
	since := time.Now()
	for {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case now := <-tick.C:
			if at, _ := s.reg.lastRecord(); at != last {
				last, since = at, now
			} else if now.Sub(since) >= s.opts.ReadyTimeout {
				return fmt.Errorf("no registry record applied for %v", s.opts.ReadyTimeout)
			}
		}
	}
}

// syncRegistry returns once the served view has applied everything the
// registry stream held when it was called, or ctx ends. Calls share
// markers: one marker, published after every call waiting for it,
// serves them all (a room feed starting on each of many rooms at once
// costs a few registry records, not one each).
func (s *Store) syncRegistry(ctx context.Context) error {
	ch := make(chan error, 1)
	s.syncMu.Lock()
	s.syncWaiting = append(s.syncWaiting, ch)
	if !s.syncRunning {
		s.syncRunning = true
		go s.runSyncs() // owns the waiting calls' markers until none waits
	}
	s.syncMu.Unlock()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runSyncs serves the waiting syncRegistry calls, a marker per batch.
func (s *Store) runSyncs() {
	for {
		s.syncMu.Lock()
		batch := s.syncWaiting
		s.syncWaiting = nil
		if len(batch) == 0 {
			s.syncRunning = false
			s.syncMu.Unlock()
			return
		}
		s.syncMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 2*markerTimeout)
		err := s.markAndRead(ctx)
		cancel()
		for _, ch := range batch {
			ch <- err
		}
	}
}

// markAndRead publishes a marker into the registry and waits until the
// served view read it, publishing another after markerRetry (a receipt is
// no proof), until ctx ends. Markers after the first go straight into
// the registry on a fresh AMQP channel, as registry events do when
// published again (publishEvent).
func (s *Store) markAndRead(ctx context.Context) error {
	for again := false; ; again = true {
		nonce := newNonce()
		read, forget := s.reg.wait(nonce)
		if err := s.markRegistryAgain(ctx, nonce, again); err != nil {
			forget()
			return fmt.Errorf("rabbitstore: registry marker: %w", err)
		}
		t := time.NewTimer(markerRetry)
		select {
		case <-read:
			t.Stop()
			return nil
		case <-ctx.Done():
			t.Stop()
			forget()
			return ctx.Err()
		case <-t.C:
			forget()
		}
	}
}
