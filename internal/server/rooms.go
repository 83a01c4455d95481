package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"chatrelay/internal/chat"
	"chatrelay/internal/config"
	"chatrelay/internal/direct"
	"chatrelay/internal/moderation"
	"chatrelay/internal/presence"
	"chatrelay/internal/relay"
	"chatrelay/internal/revision"
	"chatrelay/internal/roomlimit"
	"chatrelay/internal/roomlist"
	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/confirm"
	"chatrelay/internal/rooms/memstore"
	"chatrelay/internal/rooms/rabbitstore"
	"chatrelay/internal/stomp"
	"chatrelay/internal/typing"
)

// Both stores count rooms for the creation limiter without copying them.
var (
	_ roomlimit.Counter = (*memstore.Store)(nil)
	_ roomlimit.Counter = (*rabbitstore.Store)(nil)
)

// sinkFunc adapts a function to relay.Sink.
type sinkFunc func(*stomp.Frame)

// Deliver implements relay.Sink.
func (f sinkFunc) Deliver(fr *stomp.Frame) { f(fr) }

// setupRooms builds the room store for the broker mode, presence, its
// ENTER/LEAVE announcer, the online counts, the confirmer and the room
// creation limiter. The routes and sessions are wired to them later
// (routes.go, sessionOptions).
func (s *Server) setupRooms(cfg config.Config) error {
	store, err := s.newStore(cfg)
	if err != nil {
		return fmt.Errorf("rooms: %w", err)
	}
	s.store = roomlist.Announcing(store, s.relay)
	if p, ok := store.(roomPoster); ok && cfg.Broker.Mode != config.BrokerEmbedded && cfg.Rooms.Archive.Resident {
		s.poster = p
	}
	if sy, ok := store.(rooms.Syncer); ok {
		s.syncer = sy
	}
	if st, ok := store.(amqpNamed); ok {
		s.amqpNames = st
	}
	s.presence = presence.New(presence.Options{
		Publisher: livePublisher{s.relay},
		Interval:  cfg.Rooms.Presence.Interval,
		Expiry:    cfg.Rooms.Presence.Expiry,
		Logger:    s.log.With("component", "presence"),
	})
	s.presenceSub = s.relay.Attach(sinkFunc(func(f *stomp.Frame) {
		if f.Command == stomp.MESSAGE {
			if err := s.presence.Receive(f.Body); err != nil {
				s.log.Debug("bad presence snapshot", "err", err)
			}
		}
	}))
	if err := s.presenceSub.Subscribe("presence", presence.Topic, nil); err != nil {
		return fmt.Errorf("presence: %w", err)
	}
	s.presence.Start(context.Background())

	if pc := cfg.Rooms.Presence; pc.Messages {
		userRate := pc.UserRate
		if userRate == 0 {
			userRate = -1 // unlimited
		}
		s.announcer = presence.NewAnnouncer(presence.AnnounceOptions{
			Publish:             chat.PresenceMessages(s.relay, s.store.Open, s.postFunc(), cfg.Rooms.SystemLanguage, s.log),
			Online:              s.presence.Online,
			Elsewhere:           s.presence.Elsewhere,
			MaxBroadcastMembers: pc.MaxBroadcastMembers,
			LeaveGrace:          pc.LeaveGrace,
			EnterWindow:         pc.EnterWindow,
			UserRate:            userRate,
			UserBurst:           pc.UserBurst,
		})
		s.announcer.Start(context.Background())
	}
	// every listed room's online count, live on /topic/rooms
	s.onlineCount = roomlist.NewOnlineAnnouncer(roomlist.OnlineOptions{
		Rooms:    s.store,
		Occupied: s.presence.Occupied,
		Publish:  roomlist.OnlinePublisher(s.relay, s.log),
		Interval: cfg.Rooms.Presence.Interval,
	})
	s.onlineCount.Start()
	// who is typing where; the sweeper ends quiet typists (typing.go)
	tc := cfg.Rooms.Typing
	s.typing = typing.NewTracker(typing.Options{TTL: tc.TTL, Refresh: tc.Refresh, Rate: tc.UserRate, Burst: tc.UserBurst,
		MaxRoomsPerUser: tc.MaxRoomsPerUser, MaxTracked: tc.MaxTracked})
	typingStops := livePublisher{s.relay}
	s.typingSweeper = typing.NewSweeper(s.typing, func(dest string, body []byte) {
		_ = typingStops.Publish(dest, stomp.Headers{{Key: "content-type", Value: "application/json"}}, body, nil)
	})
	s.typingSweeper.Start()
	var poster confirm.Poster // nil unless rooms take posts
	if s.poster != nil {
		poster = s.poster
	}
	var republish func(context.Context, string, []byte) error // nil: the relay publishes again
	if rp, ok := store.(interface {
		Republish(ctx context.Context, roomID string, body []byte) error
	}); ok {
		republish = rp.Republish
	}
	s.confirm = confirm.New(confirm.Options{
		Rooms:          s.store,
		Poster:         poster,
		Republish:      republish,
		Publisher:      s.relay,
		RepublishAfter: cfg.Rooms.Confirm.RepublishAfter,
		Timeout:        cfg.Rooms.Confirm.Timeout,
		MaxPending:     cfg.Rooms.Confirm.MaxPending,
		Logger:         s.log.With("component", "confirm"),
	})
	s.metrics.WatchConfirm(s.confirm.Stats)
	// kicks, bans, mutes and moderators: state in the store itself,
	// announcements stored through the confirmer
	if ms, ok := store.(moderation.Store); ok {
		s.moderation = moderation.New(moderation.Options{Rooms: ms, Messages: s.confirm, Language: cfg.Rooms.SystemLanguage})
	}
	// private conversations: direct rooms, with limits of their own
	if ds, ok := store.(direct.Store); ok {
		lim := roomLimits(cfg.Rooms.Direct)
		lim.Section = "rooms.direct"
		s.direct = direct.New(direct.Options{Rooms: ds, Limits: lim, Verified: cfg.Auth.Mode != config.AuthNone})
	}
	// edits and deletions: EDIT and DELETE messages, stored through the
	// confirmer, which the feeds fold into what they name
	if rs, ok := store.(revision.Store); ok {
		s.revision = revision.New(revision.Options{Rooms: rs, Messages: s.confirm, MaxMessageBytes: cfg.Rooms.MaxMessageBytes})
	}
	// the store itself, not its announcing wrapper: the limiter counts
	// through roomlimit.Counter instead of copying every room
	s.limiter = roomlimit.New(roomLimits(cfg.Rooms.Create), store)
	// read positions and unread counts (reads.go)
	return s.setupReads(cfg, store)
}

// roomPoster is a room store that takes messages of rooms without a
// stream into its registry (rabbitstore.Store with rooms.archive.resident).
type roomPoster interface {
	confirm.Poster
	// Queued returns how many messages wait to be posted or published.
	Queued() int
}

var _ roomPoster = (*rabbitstore.Store)(nil)

// postFunc returns the poster's PostAsync for presence messages; nil
// without one.
func (s *Server) postFunc() func(roomID, msgID string, body []byte, publish func()) bool {
	if s.poster == nil {
		return nil
	}
	return s.poster.PostAsync
}

// onPresence returns session.Options.OnPresence: the announcer's, nil
// without rooms.presence.messages.
func (s *Server) onPresence() func(roomID, user string, entered bool) {
	if s.announcer == nil {
		return nil
	}
	return s.announcer.Change
}

// roomLimits converts the config section to the limiter's own type.
func roomLimits(c config.RoomCreate) roomlimit.Limits {
	return roomlimit.Limits{
		MaxRooms:         c.MaxRooms,
		UserPerMinute:    c.UserPerMinute,
		UserBurst:        c.UserBurst,
		UserQuota:        c.UserQuota,
		AddressPerMinute: c.AddressPerMinute,
		AddressBurst:     c.AddressBurst,
		AddressQuota:     c.AddressQuota,
		MaxTracked:       c.MaxTracked,
	}
}

// listHeadroom is what a room list page leaves of the largest reply a
// session sends for the MESSAGE frame's headers.
const listHeadroom = 1024

// listMaxBytes bounds the JSON of one room list page, over REST and
// STOMP alike, so that a page always fits in one /app reply.
func (s *Server) listMaxBytes() int { return s.sessOpts.MaxReplyBytes() - listHeadroom }

// newStore returns the in-memory store in embedded mode and the RabbitMQ
// one otherwise; the latter waits for the registry's replay.
func (s *Server) newStore(cfg config.Config) (rooms.Store, error) {
	log := s.log.With("component", "rooms")
	if cfg.Broker.Mode == config.BrokerEmbedded {
		return memstore.New(memstore.Options{Relay: s.relay, Buffer: cfg.Rooms.History.Buffer, Logger: log})
	}
	urls, err := amqpURLs(cfg.Broker)
	if err != nil {
		return nil, err
	}
	return rabbitstore.New(context.Background(), rabbitstore.Options{
		Relay:     s.relay,
		AMQPURLs:  urls,
		Heartbeat: cfg.Broker.HeartBeat,
		// operators tell the replicas apart by it
		ConnectionName: amqpConnectionName(cfg.ReplicaName()),
		Start:          amqpStart,
		MaxAge:         cfg.Rooms.History.MaxAge,
		MaxBytes:       cfg.Rooms.History.MaxBytes,
		Replicas:       cfg.Rooms.History.Replicas,
		IDStreamNames:  !cfg.Rooms.History.NamedStreams,
		Buffer:         cfg.Rooms.History.Buffer,
		// registry events are confirmed like room messages
		RepublishAfter:     cfg.Rooms.Confirm.RepublishAfter,
		ArchiveAfter:       cfg.Rooms.Archive.IdleAfter,
		ArchiveMaxMessages: cfg.Rooms.Archive.MaxMessages,
		ArchiveMaxBytes:    cfg.Rooms.Archive.MaxBytes,
		Resident:           cfg.Rooms.Archive.Resident,
		Logger:             log,
	})
}

// amqpStart picks the first of broker.amqp_addresses a replica dials;
// nil: one at random. Tests pin it.
var amqpStart func(n int) int

// amqpURLs returns an AMQP URL for each of broker.amqp_addresses, in
// their order: the store connects to one of them and moves on to the
// next when it cannot.
func amqpURLs(b config.Broker) ([]string, error) {
	urls := make([]string, 0, len(b.AMQPAddresses))
	for _, addr := range b.AMQPAddresses {
		host, portText, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("broker.amqp_addresses: %w", err)
		}
		port, err := strconv.Atoi(portText)
		if err != nil {
			return nil, fmt.Errorf("broker.amqp_addresses: bad port %q in %q", portText, addr)
		}
		urls = append(urls, rabbitstore.AMQPURL(host, port, b.Login, b.Passcode, b.VHost))
	}
	return urls, nil
}

// errBrokerDown refuses a publish that is only worth making now.
var errBrokerDown = errors.New("broker unavailable")

// livePublisher publishes only while the broker is reachable: presence
// snapshots are sent again every interval, so queueing stale ones in the
// outbox would only take the room clients' SENDs need.
type livePublisher struct{ r *relay.Relay }

// Publish implements presence.Publisher.
func (p livePublisher) Publish(dest string, h stomp.Headers, body []byte, onAccepted func(error)) error {
	if !p.r.Ready() {
		if onAccepted != nil {
			onAccepted(errBrokerDown)
		}
		return errBrokerDown
	}
	return p.r.Publish(dest, h, body, onAccepted)
}
