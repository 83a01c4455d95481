// Package rabbitstore is the rooms.Store on RabbitMQ, shared by every
// replica.
//
// The registry is the stream chatrelay.rooms (declared over AMQP) of JSON
// events {"event":"created"|"deleted","room":{...},"at","id"}. Every
// replica replays it from the first offset at start and follows it live
// through the relay, restarting its consumer when the broker cancels it
// (regtail.go); all apply the same events in the same order, so all
// decide alike: of two creates of one name, the first in stream order
// wins everywhere. Create and Delete publish an event and return once
// this replica applied it.
//
// Each room has a stream, declared over AMQP with the configured
// retention and bound to amq.topic with routing key room.<id>, so that
// what is published to /topic/room.<id> lands in it. A room created by
// this version gets its stream only on its first Open, which every
// publish path calls first (lazy.go): rooms that never get a message cost
// the broker nothing but their registry event. The stream is named
// room.<slug>.<id> after the room's name, with the exact name among its
// arguments, and its created event records that name; rooms whose event
// records none (created by earlier versions) keep room.<id>
// (streamname.go). Following and
// history go through one feed per room per replica (package feed): a
// stream subscription from the stream's last chunk that syncs on a marker
// it publishes itself, a ring of the newest messages, and range reads
// over AMQP for older ones (amqpClient.readRange).
package rabbitstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"chatrelay/internal/relay"
	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/feed"
	"chatrelay/internal/stomp"
)

// Defaults for the zero fields of Options.
const (
	// DefaultDeleteGrace is how long Delete waits between the deleted
	// event and deleting the stream, for the other replicas to drop
	// their subscriptions to it.
	DefaultDeleteGrace = 500 * time.Millisecond
	// DefaultRepublishAfter is how long a replica waits to read back a
	// registry event it published before it publishes it again.
	DefaultRepublishAfter = 2 * time.Second
	// DefaultReadyTimeout bounds New's wait for the registry replay.
	DefaultReadyTimeout = 30 * time.Second
)

// Options configure a Store.
type Options struct {
	// Relay carries the stream subscriptions and the registry events;
	// it must be started.
	Relay *relay.Relay
	// AMQPURLs reach the same broker over AMQP, for declaring, binding
	// and deleting streams and publishing markers: one
	// amqp://login:passcode@host:port/vhost per node, the vhost escaped
	// (see AMQPURL). The store keeps one connection: it starts at a
	// random URL, stays with one that works, and moves on to the next
	// when a dial fails or the connection drops.
	AMQPURLs []string
	// DialTimeout bounds one AMQP connect to one address (default
	// DefaultDialTimeout).
	DialTimeout time.Duration
	// Heartbeat is the AMQP heartbeat (default DefaultHeartbeat).
	Heartbeat time.Duration
	// ConnectionName names the AMQP connection in the management UI
	// (default "chatrelay rooms HOST pid PID").
	ConnectionName string
	// MaxAge is the x-max-age of new room streams (e.g. "7D", "24h",
	// "3600s"); empty: no age limit.
	MaxAge string
	// MaxBytes is the x-max-length-bytes of new room streams; 0: none.
	MaxBytes int64
	// Replicas is the x-initial-cluster-size of new room streams: how
	// many cluster nodes hold each one. 0: RabbitMQ's default, every
	// cluster member at declare time. Streams that exist keep theirs.
	Replicas int
	// IDStreamNames names new room streams room.<id>, as versions
	// before named streams did (streamname.go), instead of
	// room.<slug>.<id>; their arguments carry the room's name either
	// way.
	IDStreamNames bool
	// Buffer is how many of a room's newest messages a feed keeps
	// (default feed.DefaultBuffer).
	Buffer int
	// Idle is how long a room's feed lives on without users (default
	// feed.DefaultIdle).
	Idle time.Duration
	// DeleteGrace is the wait between a room's deleted event and the
	// deletion of its stream (default DefaultDeleteGrace).
	DeleteGrace time.Duration
	// RepublishAfter is how long the store waits to read back a
	// registry event it published before it publishes the same event
	// again (default DefaultRepublishAfter): RabbitMQ may receipt a
	// publish to a stream that has no writer (its leader just lost or
	// restarting) and store nothing. Every replica skips an event id it
	// applied before.
	RepublishAfter time.Duration
	// ReadyTimeout bounds New's wait for the broker, and for each
	// stretch of the registry replay without a record applied (default
	// DefaultReadyTimeout): a replay that progresses is waited for,
	// however long.
	ReadyTimeout time.Duration
	// ArchiveAfter archives a room whose stream has had no message for
	// this long (archive.go): its messages go to the registry and its
	// stream is deleted until its next message. 0: rooms are never
	// archived.
	ArchiveAfter time.Duration
	// ArchiveMaxMessages and ArchiveMaxBytes bound the messages of a
	// room that may be archived (default DefaultArchiveMaxMessages and
	// DefaultArchiveMaxBytes): every replica keeps them in memory.
	ArchiveMaxMessages int
	ArchiveMaxBytes    int
	// Resident lets a room without a stream take its messages into the
	// registry, up to ArchiveMaxMessages and ArchiveMaxBytes, before it
	// opens one (resident.go): through Post and PostAsync, which the
	// publish paths call before Open.
	Resident bool
	// ArchiveLease is how long a room being archived waits for its
	// archiver before the next Open reopens it (default
	// DefaultArchiveLease).
	ArchiveLease time.Duration
	// ArchiveFenceGrace is the wait between an archive's closing event
	// and its fence (default DefaultArchiveFenceGrace).
	ArchiveFenceGrace time.Duration
	// Logger receives store events. Default: discard.
	Logger *slog.Logger
	// Now returns the current time (default time.Now).
	Now func() time.Time

	// Start picks the index of the first AMQP URL dialled, given their
	// number. Default: one at random, so that replicas spread over the
	// nodes.
	Start func(n int) int

	// registryStream replaces RegistryStream (tests).
	registryStream string
	// archiveStep, when set, is called as an archive attempt on a room
	// passes "closing" (its event applied), "fenced" (unbound) and "too big"
	// (it is kept on its stream) (tests)
	archiveStep func(step, roomID string)
	// lose, when set, is asked before each registry publish through
	// the relay; true drops the event as a stream without a writer
	// would, yet reports it sent (tests). Republishes over AMQP are
	// not asked.
	lose func() bool
}

// Store is a rooms.Store on RabbitMQ.
type Store struct {
	opts     Options
	registry string // the registry stream's name
	log      *slog.Logger
	amqp     *amqpClient
	// tails holds the room tails' AMQP connections (amqpconsumer.go)
	tails   *tailPool
	feeds   *feed.Set
	reg     *registry
	stopReg func()
	// openMu guards opening: the Open in progress per room
	openMu  sync.Mutex
	opening map[string]*openCall
	// regTail is the registry tail's current run; regRestarts counts
	// its restarts (tests watch both)
	regTail     atomic.Pointer[tail]
	regRestarts atomic.Int64
	// maxAge is MaxAge as a duration (0: none), for archived messages
	maxAge time.Duration
	// arch sweeps quiet rooms (nil: ArchiveAfter is 0); stopArch ends it
	arch     *archiver
	stopArch func()
	// actMu guards active: when this replica last opened each room (every
	// publish path calls Open), kept while ArchiveAfter > 0 (archive.go)
	actMu  sync.Mutex
	active map[string]time.Time
	// vetoes counts the closings this replica aborted (tests)
	vetoes atomic.Int64
	// rebMu guards rebound: per room, the closer of the last aborted
	// closing after which this replica bound the stream (lazy.go)
	rebMu   sync.Mutex
	rebound map[string]string
	// self tells this store's posted events apart (resident.go)
	self string
	// postMu guards postQueues: per room, the messages PostAsync was
	// given and its goroutine has not yet posted or published
	postMu     sync.Mutex
	postQueues map[string]*postQueue
	// syncMu guards the syncRegistry calls waiting for the next marker,
	// and whether runSyncs serves them
	syncMu      sync.Mutex
	syncWaiting []chan error
	syncRunning bool
}

var (
	_ rooms.Store     = (*Store)(nil)
	_ rooms.Syncer    = (*Store)(nil)
	_ rooms.Moderated = (*Store)(nil)
	_ rooms.Revisable = (*Store)(nil)
)

// New declares the registry stream, replays it (over AMQP, then through
// the registry tail from where that read stopped) and returns once the
// tail reached a marker this store published after it subscribed,
// bounded by ctx and Options.ReadyTimeout (see there).
func New(ctx context.Context, opts Options) (*Store, error) {
	if opts.Relay == nil || len(opts.AMQPURLs) == 0 {
		return nil, errors.New("rabbitstore: Relay and AMQPURLs are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DeleteGrace <= 0 {
		opts.DeleteGrace = DefaultDeleteGrace
	}
	if opts.RepublishAfter <= 0 {
		opts.RepublishAfter = DefaultRepublishAfter
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.ConnectionName == "" {
		opts.ConnectionName = defaultConnectionName()
	}
	if opts.registryStream == "" {
		opts.registryStream = RegistryStream
	}
	if opts.Start == nil {
		opts.Start = randomStart
	}
	if opts.ArchiveMaxMessages <= 0 {
		opts.ArchiveMaxMessages = DefaultArchiveMaxMessages
	}
	if opts.ArchiveMaxBytes <= 0 {
		opts.ArchiveMaxBytes = DefaultArchiveMaxBytes
	}
	if opts.ArchiveLease <= 0 {
		opts.ArchiveLease = DefaultArchiveLease
	}
	if opts.ArchiveFenceGrace <= 0 {
		opts.ArchiveFenceGrace = DefaultArchiveFenceGrace
	}
	maxAge, err := parseMaxAge(opts.MaxAge)
	if err != nil {
		return nil, fmt.Errorf("rabbitstore: %w", err)
	}
	s := &Store{opts: opts, log: opts.Logger, registry: opts.registryStream, opening: make(map[string]*openCall), maxAge: maxAge,
		active: make(map[string]time.Time), rebound: make(map[string]string), self: newNonce(),
		postQueues: make(map[string]*postQueue)}
	s.amqp = newAMQPClient(opts.AMQPURLs, startIndex(opts.Start, len(opts.AMQPURLs)), opts.ConnectionName,
		opts.DialTimeout, opts.Heartbeat, opts.Logger)
	s.tails = newTailPool(opts.AMQPURLs, s.amqp.nextStart, opts.ConnectionName, opts.DialTimeout, opts.Heartbeat, opts.Logger)
	t := time.NewTimer(opts.ReadyTimeout)
	defer t.Stop()
	if err := s.declareRegistry(ctx, t.C); err != nil {
		s.amqp.close()
		return nil, fmt.Errorf("rabbitstore: %w", err)
	}
	s.feeds = feed.NewSet(feed.Config{Buffer: opts.Buffer, Idle: opts.Idle, Logger: opts.Logger},
		func(roomID string) feed.Source { return &roomSource{s: s, room: roomID} })
	s.reg = newRegistry(opts.Logger, s.feeds.Drop)
	s.reg.onCreated = s.feeds.Revive
	if opts.ArchiveAfter > 0 {
		s.reg.onClosing = s.closingApplied
	}
	if opts.Resident {
		s.reg.self, s.reg.onFilled = s.self, s.filled
	}
	if err := s.replayOverAMQP(ctx); err != nil {
		s.amqp.close()
		return nil, fmt.Errorf("rabbitstore: replay the registry: %w", err)
	}
	stop, err := s.followRegistry()
	if err != nil {
		s.amqp.close()
		return nil, fmt.Errorf("rabbitstore: follow the registry: %w", err)
	}
	s.stopReg = stop
	if err := s.tails.open(); err != nil {
		// the tails dial again as they start
		s.log.Warn("rooms: the room tails' AMQP connection failed", "err", err)
	}
	if err := s.awaitProgress(ctx, s.reg.synced); err != nil {
		s.Close()
		return nil, fmt.Errorf("rabbitstore: replay the registry: %w", err)
	}
	if opts.ArchiveAfter > 0 {
		s.stopArch = s.startArchiver()
	}
	return s, nil
}

// startIndex is pick(n) brought into [0, n).
func startIndex(pick func(int) int, n int) int { return (pick(n)%n + n) % n }

// markRegistry publishes a marker into the registry stream through the
// relay and waits for the broker's receipt.
func (s *Store) markRegistry(ctx context.Context, nonce string) error {
	return s.publish(ctx, stomp.Headers{{Key: markerHeader, Value: nonce}}, nil)
}

// markRegistryAgain is markRegistry, or, again, a marker published
// straight into the registry on a fresh AMQP channel: see relayOrFresh.
func (s *Store) markRegistryAgain(ctx context.Context, nonce string, again bool) error {
	return s.relayOrFresh(again, "a registry marker",
		func() error { return s.amqp.publishMarker(ctx, s.registry, nonce) },
		func() error { return s.markRegistry(ctx, nonce) })
}

// publish sends a record to the registry stream through the relay and
// waits for the broker's receipt.
func (s *Store) publish(ctx context.Context, h stomp.Headers, body []byte) error {
	if s.opts.lose != nil && s.opts.lose() {
		return nil
	}
	done := make(chan error, 1)
	s.opts.Relay.Publish("/amq/queue/"+s.registry, h, body, func(err error) { done <- err })
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// publishEvent publishes a registry event through the relay, or, again,
// straight into the registry on a fresh AMQP channel: see relayOrFresh.
func (s *Store) publishEvent(ctx context.Context, h stomp.Headers, body []byte, again bool) error {
	return s.relayOrFresh(again, "a registry event",
		func() error { return s.amqp.publishJSON(ctx, "", s.registry, body) },
		func() error { return s.publish(ctx, h, body) })
}

// relayOrFresh publishes what through the relay the first time; again (a
// republish) it uses a fresh AMQP channel, falling back to the relay if
// that fails. The relay's long-lived channel may be what lost the first
// one: RabbitMQ 3.10 keeps it writing to a stream's stopped writer until
// the stream coordinator tells it of the new one (see
// confirm.Options.Republish), while a fresh channel finds the new writer.
func (s *Store) relayOrFresh(again bool, what string, fresh, relay func() error) error {
	if !again {
		return relay()
	}
	err := fresh()
	if err == nil {
		return nil
	}
	s.log.Debug("rooms: republishing "+what+" over AMQP failed; using the relay", "err", err)
	return relay()
}

// record publishes ev and waits until this replica applied it; it
// returns what applying it decided. An event not read back within
// Options.RepublishAfter is published again, with the same id, until ctx
// ends: a receipt from the broker does not prove the stream stored it.
func (s *Store) record(ctx context.Context, ev event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	result, cancel := s.reg.wait(ev.ID)
	defer cancel()
	headers := stomp.Headers{{Key: "content-type", Value: "application/json"}}
	for again := false; ; again = true {
		if err := s.publishEvent(ctx, headers, body, again); err != nil {
			return fmt.Errorf("rabbitstore: publish %s event: %w", ev.Event, err)
		}
		t := time.NewTimer(s.opts.RepublishAfter)
		select {
		case err := <-result:
			t.Stop()
			return err
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("rabbitstore: wait for %s event: %w", ev.Event, ctx.Err())
		case <-t.C:
			s.log.Warn("rooms: a registry event was not read back in time; publishing it again", "event", ev.Event, "id", ev.ID, "after", s.opts.RepublishAfter)
		}
	}
}

// declareRegistry declares the registry stream, retrying while the broker
// is not there yet or its streams are still coming back after a restart
// (RabbitMQ answers NOT_FOUND "home node ... is down" for a while), until
// ctx ends or timeout fires.
func (s *Store) declareRegistry(ctx context.Context, timeout <-chan time.Time) error {
	wait := 100 * time.Millisecond
	for {
		// The registry's arguments never change, Replicas included: a
		// redeclare with other arguments than the stream has fails
		// with PRECONDITION_FAILED, so a changed argument would stop
		// every replica of an upgraded deployment from starting.
		err := s.amqp.declareStream(s.registry, streamArgs("", 0, 0), "")
		if err == nil {
			return nil
		}
		s.log.Warn("rabbitstore: registry stream not available yet; retrying", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-timeout:
			return fmt.Errorf("timed out (last error: %w)", err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
