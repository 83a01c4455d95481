package server

import (
	"fmt"
	"time"

	"chatrelay/internal/auth"
	"chatrelay/internal/chat"
	"chatrelay/internal/config"
	"chatrelay/internal/httpapi"
	"chatrelay/internal/rooms"
	"chatrelay/internal/transport"
	"chatrelay/internal/web"
)

// routes registers every route of the replica: the /app handlers on the
// router, then the HTTP endpoints on the mux (transports, metrics,
// health, REST API, tutorial REST aliases, the browser page).
func (s *Server) routes(cfg config.Config, sockJS *transport.SockJS) error {
	attachments := rooms.AttachmentRules{AllowHTTP: cfg.Rooms.Attachments.AllowHTTP}
	opts := chat.Options{MaxMessageBytes: cfg.Rooms.MaxMessageBytes, Rooms: s.store, Confirm: s.confirm,
		Language: cfg.Rooms.SystemLanguage, Tutorial: s.chatTutorial(cfg), Attachments: attachments}
	chat.Register(s.router, opts)
	dmOpts := opts
	if s.direct != nil {
		dmOpts.Direct = s.direct
	}
	chat.RegisterDM(s.router, dmOpts)
	views := chat.RoomViews{Rooms: s.store, Members: s.presence.Members, ListMaxBytes: s.listMaxBytes(), Summaries: s.summaries}
	if s.syncer != nil {
		views.Sync = s.syncer.Sync
	}
	chat.RegisterRoomViews(s.router, views)
	chat.RegisterTyping(s.router, chat.Typing{Rooms: s.store, Tracker: s.typing})
	chat.RegisterReads(s.router, chat.Reads{Marker: s.readMarker})
	if s.moderation != nil {
		chat.RegisterModeration(s.router, chat.Moderation{Service: s.moderation, ValidUser: auth.ValidUser})
	}
	if s.revision != nil {
		chat.RegisterRevision(s.router, chat.Revision{Service: s.revision, MaxMessageBytes: cfg.Rooms.MaxMessageBytes})
	}

	s.mux.Handle("/ws-stomp/", sockJS) // GET, POST and OPTIONS
	s.mux.Handle("GET /metrics", s.metrics.Handler())
	s.mux.Handle("GET /ws", s.ws)
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	// "GET /" would conflict with the method-less "/api/"
	page := web.HandlerWith(web.Options{MaxMessageBytes: cfg.Rooms.MaxMessageBytes})
	s.mux.Handle("/", page)
	// the REST API reference (Swagger UI on /api/openapi.json); more
	// specific than the API's "/api/"
	s.mux.Handle("GET /api/docs", page)
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
		Attachments:     attachments,
		Limiter:         s.limiter,
		VerifiedUsers:   cfg.Auth.Mode != config.AuthNone,
		ListMaxBytes:    s.listMaxBytes(),
		Sync:            views.Sync,
		Replica:         s.replicaView,
		Moderation:      s.moderation,
		Revision:        s.revision,
		Reads:           &s.readMarker,
		Summaries:       s.summaries,
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
