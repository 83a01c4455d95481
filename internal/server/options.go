package server

import (
	"time"

	"chatrelay/internal/auth"
	"chatrelay/internal/config"
	"chatrelay/internal/destination"
	"chatrelay/internal/session"
	"chatrelay/internal/stomp"
)

// sessionOptions builds, once, the options every session of this replica
// shares, from cfg and the parts New and setupRooms built.
func (s *Server) sessionOptions(cfg config.Config, policy *destination.Policy, authn auth.Authenticator) *session.Options {
	tutorial := config.On(cfg.Tutorial.Mode, cfg.Auth.Mode)
	return &session.Options{
		Broker: session.RelayBroker(s.relay),
		Policy: policy,
		Router: s.router,
		Auth:   authn,
		Limits: stomp.Limits{
			MaxFrameBytes:  cfg.Limits.MaxFrameBytes,
			MaxHeaders:     cfg.Limits.MaxHeaders,
			MaxHeaderBytes: cfg.Limits.MaxHeaderBytes,
		},
		Logger:           s.log.With("component", "session"),
		Server:           Version,
		HeartBeatSend:    cfg.STOMP.HeartBeatSend,
		HeartBeatReceive: cfg.STOMP.HeartBeatReceive,
		HeartBeatGrace:   cfg.STOMP.HeartBeatGrace,
		ConnectTimeout:   cfg.STOMP.ConnectTimeout,
		BinaryFrames:     cfg.STOMP.WebSocketFrames == config.WebSocketFramesBinary,
		DefaultLanguage:  cfg.STOMP.Language(),
		DurableTopics:    cfg.Broker.Mode == config.BrokerRabbitMQ,
		PreconnectBytes:  cfg.Limits.PreconnectBytes,
		SendQueueBytes:   cfg.Limits.SendQueueBytes,
		MaxSubscriptions: cfg.Limits.MaxSubscriptions,
		MaxTransactions:  cfg.Limits.MaxTransactions,
		MaxTxBytes:       cfg.Limits.MaxTransactionBytes,
		SendLimits: session.SendLimits{
			Rate:           cfg.Limits.SendRate,
			Burst:          cfg.Limits.SendBurst,
			SubscribeRate:  cfg.Limits.SubscribeRate,
			SubscribeBurst: cfg.Limits.SubscribeBurst,
			Abuse:          cfg.Limits.SendAbuse,
			AbuseWindow:    cfg.Limits.SendAbuseWindow,
		},
		UserConns:     session.NewConnCounter(cfg.Limits.MaxConnectionsPerUser),
		SlowConsumers: &s.slowConsumers,
		Observer:      s.metrics,
		// a DISCONNECT's RECEIPT waits for the room messages still being
		// confirmed
		DisconnectWait: cfg.Rooms.Confirm.Timeout + time.Second,
		Rooms:          s.store,
		MaxHistory:     cfg.Rooms.History.MaxReplay,
		Presence:       s.presence,
		OnPresence:     s.onPresence(),
		// tutorial.mode: a client's own ENTER is its presence
		// announcement; tutorial.create_rooms: aliased room SUBSCRIBEs
		// create unknown rooms (see tutorial.go)
		ClientPresence: tutorial,
		CreateRoom:     s.roomCreator(cfg),
	}
}
