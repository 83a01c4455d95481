package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"chatrelay/internal/auth"
	"chatrelay/internal/chat"
	"chatrelay/internal/config"
	"chatrelay/internal/httpapi"
	"chatrelay/internal/presence"
	"chatrelay/internal/relay"
	"chatrelay/internal/roomlimit"
	"chatrelay/internal/roomlist"
	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/confirm"
	"chatrelay/internal/rooms/memstore"
	"chatrelay/internal/rooms/rabbitstore"
	"chatrelay/internal/router"
	"chatrelay/internal/stomp"
)

// RoomsTopic announces room creations and deletions to clients.
const RoomsTopic = "/topic/rooms"

// sinkFunc adapts a function to relay.Sink.
type sinkFunc func(*stomp.Frame)

// Deliver implements relay.Sink.
func (f sinkFunc) Deliver(fr *stomp.Frame) { f(fr) }

// setupRooms builds the room store for the broker mode, presence, the
// chat handlers and the REST API, and wires sessions to them.
func (s *Server) setupRooms(cfg config.Config) error {
	store, err := s.newStore(cfg)
	if err != nil {
		return fmt.Errorf("rooms: %w", err)
	}
	s.store = &announcingStore{Store: store, pub: s.relay}
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

	s.sessOpts.Rooms = s.store
	s.sessOpts.MaxHistory = cfg.Rooms.History.MaxReplay
	s.sessOpts.Presence = s.presence
	if pc := cfg.Rooms.Presence; pc.Messages {
		userRate := pc.UserRate
		if userRate == 0 {
			userRate = -1 // unlimited
		}
		s.announcer = presence.NewAnnouncer(presence.AnnounceOptions{
			Publish:             s.announcePresence,
			Online:              s.presence.Online,
			Elsewhere:           s.presence.Elsewhere,
			MaxBroadcastMembers: pc.MaxBroadcastMembers,
			LeaveGrace:          pc.LeaveGrace,
			EnterWindow:         pc.EnterWindow,
			UserRate:            userRate,
			UserBurst:           pc.UserBurst,
		})
		s.announcer.Start(context.Background())
		s.sessOpts.OnPresence = s.announcer.Change
	}
	// every listed room's online count, live on /topic/rooms
	s.onlineCount = roomlist.NewOnlineAnnouncer(roomlist.OnlineOptions{
		Rooms:    s.store,
		Online:   s.presence.Online,
		Publish:  s.announceOnline,
		Interval: cfg.Rooms.Presence.Interval,
	})
	s.onlineCount.Start()
	s.confirm = confirm.New(confirm.Options{
		Rooms:          s.store,
		Publisher:      s.relay,
		RepublishAfter: cfg.Rooms.Confirm.RepublishAfter,
		Timeout:        cfg.Rooms.Confirm.Timeout,
		MaxPending:     cfg.Rooms.Confirm.MaxPending,
		Logger:         s.log.With("component", "confirm"),
	})
	s.metrics.WatchConfirm(s.confirm.Stats)
	// a DISCONNECT's RECEIPT waits for the room messages still being
	// confirmed
	s.sessOpts.DisconnectWait = max(s.sessOpts.DisconnectWait, cfg.Rooms.Confirm.Timeout+time.Second)
	s.limiter = roomlimit.New(roomLimits(cfg.Rooms.Create), s.store)
	opts := chat.Options{MaxMessageBytes: cfg.Rooms.MaxMessageBytes, Rooms: s.store, Confirm: s.confirm,
		Language: cfg.Rooms.SystemLanguage, Tutorial: s.setupTutorial(cfg)}
	chat.Register(s.router, opts)
	chat.RegisterDM(s.router, opts)
	s.router.Handle("/app/rooms", s.roomList)
	s.router.Handle("/app/rooms/{id}/members", s.roomMembers)
	apiOpts := httpapi.Options{
		Store:           s.store,
		Publisher:       s.relay,
		Confirm:         s.confirm,
		Presence:        s.presence,
		APIKey:          cfg.HTTP.APIKey,
		Identify:        s.identify,
		RoomWait:        time.Second,
		ValidUser:       auth.ValidUser,
		MaxMessageBytes: cfg.Rooms.MaxMessageBytes,
		Limiter:         s.limiter,
		VerifiedUsers:   cfg.Auth.Mode != config.AuthNone,
		ListMaxBytes:    s.listMaxBytes(),
		Replica:         s.replicaView,
		Logger:          s.log.With("component", "httpapi"),
	}
	s.mux.Handle("/api/", httpapi.New(apiOpts))
	tutorial, patterns, err := httpapi.NewTutorial(apiOpts, tutorialRoutes(cfg.Tutorial.RESTAliases))
	if err != nil {
		return fmt.Errorf("tutorial.rest_aliases: %w", err)
	}
	for _, p := range patterns {
		if err := mount(s.mux, p, tutorial); err != nil {
			return fmt.Errorf("tutorial.rest_aliases: %w", err)
		}
	}
	return nil
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
		RepublishAfter: cfg.Rooms.Confirm.RepublishAfter,
		Logger:         log,
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

// roomList answers a SUBSCRIBE to /app/rooms, once, with a page of the
// rooms the user may see (public ones and the private ones it is a member
// of), oldest first: {"rooms":[...],"next":C|null}. The SUBSCRIBE's
// "limit" and "cursor" headers ask for a page as GET /api/rooms's query
// parameters do.
func (s *Server) roomList(c *router.Context) (any, error) {
	if !c.Subscribe {
		return nil, router.BadRequest("subscribe to %s to get the room list", c.Destination)
	}
	limit, _ := c.Headers.Get("limit")
	cursor, _ := c.Headers.Get("cursor")
	req, err := roomlist.ParseRequest(limit, cursor)
	if err != nil {
		return nil, router.BadRequest("%v", err)
	}
	keep := func(r rooms.Room) bool { return r.Allows(c.User) }
	online := func(id string) int { return len(s.presence.Members(id)) }
	return roomlist.Build(s.store, req, keep, online, s.listMaxBytes()), nil
}

// roomMembersView answers /app/rooms/{id}/members.
type roomMembersView struct {
	RoomID  string   `json:"roomId"`
	Members []string `json:"members"`
}

// roomMembers answers a SUBSCRIBE to /app/rooms/{id}/members with the
// users online in the room on every replica, once; a private room answers
// its members only.
func (s *Server) roomMembers(c *router.Context) (any, error) {
	if !c.Subscribe {
		return nil, router.BadRequest("subscribe to %s to get the room's members", c.Destination)
	}
	id := c.Vars["id"]
	room, ok := s.store.Get(id)
	if !ok {
		return nil, router.NotFound("room %q does not exist", id)
	}
	if !room.Allows(c.User) {
		return nil, router.Forbidden("room %q is private: only its members may see who is in it", id)
	}
	members := append([]string{}, s.presence.Members(id)...)
	slices.Sort(members)
	return roomMembersView{RoomID: id, Members: members}, nil
}

// announcePresence publishes one ENTER or LEAVE; s.announcer decides
// which (coalesced, rate-limited, none in big rooms).
func (s *Server) announcePresence(roomID, user string, entered bool) {
	typ := rooms.Leave
	if entered {
		typ = rooms.Enter
	}
	body, err := json.Marshal(chat.ChatMessage{
		ID: uuid.NewString(), RoomID: roomID, Type: typ, Sender: user, SentAt: time.Now().UTC(),
		Message: chat.SystemText(typ, user, s.cfg.Rooms.SystemLanguage),
	})
	if err != nil {
		return
	}
	h := stomp.Headers{{Key: "content-type", Value: "application/json"}}
	if err := s.relay.Publish(rooms.Topic(roomID), h, body, nil); err != nil {
		s.log.Warn("presence message not published", "room", roomID, "err", err)
	}
}

// announceOnline publishes an online-count event on /topic/rooms.
func (s *Server) announceOnline(body []byte) {
	h := stomp.Headers{{Key: "content-type", Value: "application/json"}}
	if err := s.relay.Publish(RoomsTopic, h, body, nil); err != nil {
		s.log.Debug("online counts not published", "err", err)
	}
}

// announcingStore tells clients on /topic/rooms about the rooms this
// replica creates and deletes.
type announcingStore struct {
	rooms.Store
	pub *relay.Relay
}

// roomEvent is what /topic/rooms carries.
type roomEvent struct {
	Event string     `json:"event"`
	Room  rooms.Room `json:"room"`
}

// Create implements rooms.Store and announces the room, unless it is
// private: everyone may subscribe to /topic/rooms.
func (a *announcingStore) Create(ctx context.Context, spec rooms.Spec) (rooms.Room, error) {
	r, err := a.Store.Create(ctx, spec)
	if err == nil && !r.Private {
		a.announce("created", r)
	}
	return r, err
}

// Delete implements rooms.Store and announces the deletion.
func (a *announcingStore) Delete(ctx context.Context, id string) error {
	r, _ := a.Store.Get(id)
	err := a.Store.Delete(ctx, id)
	if err == nil && !r.Private {
		a.announce("deleted", r)
	}
	return err
}

func (a *announcingStore) announce(event string, r rooms.Room) {
	body, err := json.Marshal(roomEvent{Event: event, Room: r})
	if err != nil {
		return
	}
	_ = a.pub.Publish(RoomsTopic, stomp.Headers{{Key: "content-type", Value: "application/json"}}, body, nil)
}
