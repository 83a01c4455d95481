package rabbitstore

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"chatrelay/internal/rabbittest"
)

// TestLongReplayIsWaitedFor: a registry whose replay takes far longer
// than ReadyTimeout is replayed whole, because it progresses: a replica
// restarted at scale must not give up and exit (scenario (d) at 100,000
// rooms timed out after 30 s before).
func TestLongReplayIsWaitedFor(t *testing.T) {
	n := rabbittest.Require(t, node)
	stream := "test.registry." + newNonce()[:8]
	events := fillRegistry(t, n, stream, 20000)
	t.Cleanup(func() {
		n.WithChannel(t, func(ch *amqp.Channel) error { _, err := ch.QueueDelete(stream, false, false, false); return err })
	})
	const ready = 150 * time.Millisecond
	began := time.Now()
	rp := newReplica(t, n, func(o *Options) { o.registryStream, o.ReadyTimeout = stream, ready })
	took := time.Since(began)
	if got := rp.s.reg.taken(); got != events {
		t.Fatalf("replayed %d events, want %d", got, events)
	}
	if took < 2*ready {
		t.Fatalf("the replay took %v, not longer than ReadyTimeout %v: the test proves nothing", took, ready)
	}
	if _, ok := rp.s.Get("r0000000"); !ok {
		t.Fatal("the first room is missing after the replay")
	}
	if h, err := rp.s.History(testCtx(t), "r0019998", -1, 10); err != nil || len(h) != 3 {
		t.Fatalf("history of a room with three posted messages: %d, %v", len(h), err)
	}
}

// TestRegistrySyncSharesMarkers: many feeds syncing on the registry at
// once (rooms without a stream starting) share a few markers, and each
// sync returns only after a marker published after it was called.
func TestRegistrySyncSharesMarkers(t *testing.T) {
	n := rabbittest.Require(t, node)
	var publishes atomic.Int64
	rp := newReplica(t, n, func(o *Options) {
		o.lose = func() bool { publishes.Add(1); return false }
	})
	before := publishes.Load()
	const calls = 100
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			errs <- rp.s.syncRegistry(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if markers := publishes.Load() - before; markers < 1 || markers > 10 {
		t.Fatalf("%d markers for %d concurrent syncs, want 1 to 10", markers, calls)
	}
	// a sync called after the last marker was read needs one of its own
	before = publishes.Load()
	if err := rp.s.syncRegistry(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if publishes.Load() == before {
		t.Fatal("a later sync was served by an earlier marker")
	}
}

// TestRegistrySyncWithLostMarkers: while the relay loses every registry
// publish of a replica, receipted, a registry sync still returns: its
// second marker goes straight into the registry on a fresh AMQP channel.
func TestRegistrySyncWithLostMarkers(t *testing.T) {
	n := rabbittest.Require(t, node)
	var relayed atomic.Int64
	var lossy atomic.Bool
	rp := newReplica(t, n, func(o *Options) {
		o.lose = func() bool { relayed.Add(1); return lossy.Load() }
	})
	relayed.Store(0)
	lossy.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	began := time.Now()
	if err := rp.s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < markerRetry {
		t.Fatalf("synced after %v, before the first marker's retry (%v): the lost marker was not the case tested", took, markerRetry)
	}
	if got := relayed.Load(); got != 1 {
		t.Fatalf("%d markers through the relay, want the lost first one only", got)
	}
}
