// Package server is chatrelay's composition root: it builds the broker,
// relay, policy, router, room store, presence, chat handlers, REST API and
// transports from a Config and serves HTTP. The rooms and presence are
// built in rooms.go, the sessions' options in options.go, every /app and
// HTTP route is registered in routes.go, and the Spring-tutorial wiring is
// in tutorial.go.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"

	"chatrelay/internal/auth"
	"chatrelay/internal/broker/embedded"
	"chatrelay/internal/config"
	"chatrelay/internal/destination"
	"chatrelay/internal/direct"
	"chatrelay/internal/metrics"
	"chatrelay/internal/moderation"
	"chatrelay/internal/presence"
	"chatrelay/internal/readstate"
	"chatrelay/internal/relay"
	"chatrelay/internal/revision"
	"chatrelay/internal/roomlimit"
	"chatrelay/internal/roomlist"
	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/confirm"
	"chatrelay/internal/router"
	"chatrelay/internal/session"
	"chatrelay/internal/stomp"
	"chatrelay/internal/transport"
	"chatrelay/internal/typing"
)

// Version is reported in the CONNECTED frame's server header.
const Version = "chatrelay/0.1.0"

// Server is one chatrelay replica.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	broker   *embedded.Broker // nil in rabbitmq mode
	relay    *relay.Relay
	router   *router.Router
	sessOpts *session.Options
	http     *http.Server
	mux      *http.ServeMux

	store     rooms.Store
	amqpNames amqpNamed          // the store's AMQP connections (nil: embedded)
	limiter   *roomlimit.Limiter // room creation, on every route
	confirm   *confirm.Confirmer // room messages until stored
	// poster takes messages of rooms without a stream into the registry
	// (nil: embedded mode, or rooms.archive.resident off)
	poster roomPoster
	// syncer brings the view of the rooms up to every replica's changes
	// before a room list (nil: the embedded store, which cannot lag)
	syncer      rooms.Syncer
	presence    *presence.Presence
	announcer   *presence.Announcer // nil without rooms.presence.messages
	onlineCount *roomlist.OnlineAnnouncer
	// typing decides which typing signals become events; typingSweeper
	// publishes the stops of users gone quiet
	typing *typing.Tracker
	// moderation carries out kicks, bans, mutes and moderator changes
	// (nil for a store that keeps no moderation state)
	moderation *moderation.Service
	// direct finds and creates the direct rooms private messages are
	// kept in (nil for a store without them)
	direct *direct.Service
	// reads holds the read positions; readMarker sets and shows them for
	// clients, summaries adds unread counts to room lists (reads.go)
	reads      *readstate.Service
	readMarker readstate.Marker
	summaries  *readstate.Summarizer
	// revision edits and deletes room messages (nil for a store that
	// cannot tell which messages may change)
	revision      *revision.Service
	typingSweeper *typing.Sweeper
	presenceSub   *relay.Client

	// upstreams tracks the relay's STOMP connections to RabbitMQ (nil
	// with the embedded broker)
	upstreams *upstreams

	ws            *transport.WebSocket
	metrics       *metrics.Metrics
	slowConsumers atomic.Int64

	mu       sync.Mutex
	sessions map[*session.Session]struct{}
	closing  bool
}

// New builds a replica from cfg. It starts the embedded broker (in
// embedded mode) and the relay's connection attempts, but serves nothing
// until Serve.
func New(cfg config.Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, sessions: map[*session.Session]struct{}{}}
	policy, err := destination.New(policyConfig(cfg.Policy))
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	authn, tokens, err := authenticator(cfg.Auth)
	if err != nil {
		return nil, err
	}
	rcfg := relay.Config{
		Addresses:    cfg.Broker.Addresses,
		Login:        cfg.Broker.Login,
		Passcode:     cfg.Broker.Passcode,
		VHost:        cfg.Broker.VHost,
		Connections:  cfg.Broker.Connections,
		HeartBeat:    cfg.Broker.HeartBeat,
		ReconnectMin: cfg.Broker.ReconnectMin,
		ReconnectMax: cfg.Broker.ReconnectMax,
		OutboxFrames: cfg.Broker.OutboxFrames,
		OutboxBytes:  cfg.Broker.OutboxBytes,
		Logger:       log.With("component", "relay"),
	}
	if cfg.Broker.Mode == config.BrokerEmbedded {
		b, err := embedded.Start(log)
		if err != nil {
			return nil, fmt.Errorf("embedded broker: %w", err)
		}
		s.broker = b
		rcfg.Addresses = []string{"embedded"}
		rcfg.Dial = b.Dial
	} else {
		s.upstreams = newUpstreams()
		rcfg.Dial = s.upstreams.dial
	}
	s.relay = relay.New(rcfg)
	s.metrics = metrics.New()
	s.metrics.Known(
		[]string{session.LimitPreconnectBytes, session.LimitMaxFrameBytes, session.LimitConnsPerUser, session.LimitMaxSubscriptions,
			session.LimitMaxTransactions, session.LimitMaxTxBytes, session.LimitSendAbuse},
		[]string{transport.RefusedOrigin, transport.RefusedSubprotocol, transport.RefusedMaxConns, transport.RefusedMaxPerAddress})
	s.metrics.WatchRelay(s.relay.Stats)
	s.metrics.WatchReady(s.relay.Ready)
	s.router = router.New()
	s.mux = http.NewServeMux()
	s.relay.Start()
	if err := s.setup(cfg, policy, authn, tokens); err != nil {
		_ = s.relay.Close(context.Background())
		if s.broker != nil {
			_ = s.broker.Close()
		}
		return nil, err
	}
	return s, nil
}

// setup builds what serves clients on top of the relay: the rooms and
// presence (setupRooms), the sessions' options, the transports, the HTTP
// server and every route (routes.go).
func (s *Server) setup(cfg config.Config, policy *destination.Policy, authn auth.Authenticator, tokens transport.TokenCarriers) error {
	if err := s.setupRooms(cfg); err != nil {
		return err
	}
	s.sessOpts = s.sessionOptions(cfg, policy, authn)
	s.ws = transport.NewWebSocket(transport.WebSocketOptions{
		Origins: transport.NewOriginChecker(cfg.HTTP.AllowedOrigins),
		Limits: transport.HandshakeLimits{
			MaxConnections:     cfg.Limits.MaxConnections,
			MaxPerAddress:      cfg.Limits.MaxConnectionsPerAddress,
			RequireSubprotocol: cfg.HTTP.RequireSubprotocol,
		},
		MaxMessage:   int64(cfg.Limits.MaxFrameBytes) + 1024,
		WriteTimeout: cfg.Limits.WriteTimeout,
		Tokens:       tokens,
		Log:          s.log.With("component", "websocket"),
		NewSession:   s.newSession,
	})
	s.ws.SetObserver(s.metrics)
	sockJS := transport.NewSockJS("/ws-stomp", s.ws, s.log.With("component", "sockjs"))
	s.http = newHTTPServer(cfg.HTTP, s.ws, s.mux)
	s.http.RegisterOnShutdown(sockJS.Shutdown) // its streaming requests would hold Shutdown
	return s.routes(cfg, sockJS)
}

// Router returns the /app router, so that more handlers can be added
// before Serve.
func (s *Server) Router() *router.Router { return s.router }

// Relay returns the broker relay (for server-side publishing).
func (s *Server) Relay() *relay.Relay { return s.relay }

// SlowConsumers returns how many sessions were closed because their
// client did not read fast enough.
func (s *Server) SlowConsumers() int64 { return s.slowConsumers.Load() }

// Connections returns the connections this replica counts in its limits:
// every TCP connection (plain HTTP, WebSocket) and every SockJS session of
// an HTTP transport.
func (s *Server) Connections() int { return s.ws.Connections() }

// Handler returns the HTTP handler with every endpoint, without the
// connection limits and body bound Serve applies.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve accepts connections on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	s.log.Info("listening", "addr", l.Addr().String(), "broker", s.brokerDescription())
	err := s.http.Serve(s.ws.Listener(l))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *Server) brokerDescription() string {
	if s.broker != nil {
		return "embedded (in-process, single node)"
	}
	return fmt.Sprintf("rabbitmq %v vhost %q, %d connections", s.cfg.Broker.Addresses, s.cfg.Broker.VHost, s.cfg.Broker.Connections)
}

// newSession creates and registers the session of an accepted connection
// (the endpoints' transport.SessionFactory).
func (s *Server) newSession(conn session.Conn, remote string, v stomp.Version, hs session.Handshake) transport.Handler {
	sess := session.New(s.sessOpts, conn, remote, v, hs, s.forget)
	s.mu.Lock()
	closing := s.closing
	if !closing {
		s.sessions[sess] = struct{}{}
	}
	s.mu.Unlock()
	if closing {
		sess.Shutdown()
	}
	return sess
}

func (s *Server) forget(sess *session.Session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
}

// Shutdown stops accepting connections, tells every client the server is
// going away (an ERROR, then a close with a reason), waits for their
// sockets to close, then closes the relay's upstream connections cleanly
// and stops the embedded broker.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	live := make([]*session.Session, 0, len(s.sessions))
	for sess := range s.sessions {
		live = append(live, sess)
	}
	s.mu.Unlock()
	err := s.http.Shutdown(ctx) // hijacked WebSockets are not waited for here
	for _, sess := range live {
		sess.Shutdown()
	}
	for _, sess := range live {
		select {
		case <-sess.Done():
		case <-ctx.Done():
		}
	}
	if s.announcer != nil {
		s.announcer.Close() // publishes the LEAVEs held in their grace
	}
	s.onlineCount.Close()
	s.typingSweeper.Close()
	if s.reads != nil {
		s.reads.Close()
	}
	_ = s.presence.Close()
	s.presenceSub.Close()
	// room messages the sessions sent are still published until seen
	// stored (their senders have gone; nothing else would try again)
	_ = s.confirm.Drain(ctx)
	s.confirm.Close()
	if serr := s.store.Close(); serr != nil && err == nil {
		err = serr
	}
	if rerr := s.relay.Close(ctx); rerr != nil && err == nil {
		err = rerr
	}
	if s.broker != nil {
		if berr := s.broker.Close(); berr != nil && err == nil {
			err = berr
		}
	}
	return err
}

// authenticator builds the configured authenticator and, in jwt mode,
// the handshake carriers the WebSocket endpoint reads a token from.
func authenticator(c config.Auth) (auth.Authenticator, transport.TokenCarriers, error) {
	switch c.Mode {
	case config.AuthStatic:
		return auth.Static{Users: c.Users}, transport.TokenCarriers{}, nil
	case config.AuthJWT:
		jc := auth.JWTConfig{Algorithm: c.JWT.Algorithm, Secret: []byte(c.JWT.Secret), Leeway: c.JWT.Leeway}
		if c.JWT.Algorithm == config.JWTRS256 {
			pem, err := os.ReadFile(c.JWT.PublicKeyFile)
			if err != nil {
				return nil, transport.TokenCarriers{}, fmt.Errorf("auth.jwt.public_key_file: %w", err)
			}
			jc.PublicKeyPEM = pem
		}
		j, err := auth.NewJWT(jc)
		if err != nil {
			return nil, transport.TokenCarriers{}, fmt.Errorf("auth: %w", err)
		}
		return j, transport.TokenCarriers{QueryParam: c.JWT.QueryParam, Cookie: c.JWT.Cookie}, nil
	default:
		return auth.None{}, transport.TokenCarriers{}, nil
	}
}

// policyConfig converts the config section to the policy's own type.
func policyConfig(p config.Policy) destination.Config {
	c := destination.Config{
		ClientSend:      p.ClientSend,
		ClientSubscribe: p.ClientSubscribe,
		AllowHeaders:    p.AllowHeaders,
		AllowWildcards:  p.AllowWildcards,
	}
	if p.Aliases != nil {
		c.Aliases = make([]destination.Alias, len(p.Aliases))
		for i, a := range p.Aliases {
			c.Aliases[i] = destination.Alias{From: a.From, To: a.To}
		}
	}
	return c
}
