package config

import (
	"time"

	"github.com/spf13/viper"

	"chatrelay/internal/chat"
	"chatrelay/internal/destination"
	"chatrelay/internal/i18n"
	"chatrelay/internal/presence"
	"chatrelay/internal/readstate"
	"chatrelay/internal/relay"
	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/confirm"
	"chatrelay/internal/rooms/feed"
	"chatrelay/internal/stomp"
	"chatrelay/internal/typing"
)

// Defaults returns the configuration used when nothing is set. A setting
// that a package also defaults on its own (a zero field of its options)
// takes that package's default here, so that the two cannot differ:
// defaults_test.go checks each of them.
func Defaults() Config {
	return Config{
		HTTP: HTTP{Addr: ":8080", AllowedOrigins: []string{}, APIKey: "", RequireSubprotocol: false,
			ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 30 * time.Second, MaxBodyBytes: MaxBodyCeiling},
		Broker: Broker{
			Mode:          BrokerEmbedded,
			Addresses:     []string{"127.0.0.1:61613"},
			AMQPAddresses: []string{"127.0.0.1:5672"},
			Login:         "guest",
			Passcode:      "guest",
			VHost:         relay.DefaultVHost,
			Connections:   relay.DefaultConnections,
			HeartBeat:     relay.DefaultHeartBeat,
			ReconnectMin:  relay.DefaultReconnectMin,
			ReconnectMax:  relay.DefaultReconnectMax,
			OutboxFrames:  relay.DefaultOutboxFrames,
			OutboxBytes:   relay.DefaultOutboxBytes,
		},
		Auth: Auth{
			Mode:  AuthNone,
			Users: map[string]string{},
			JWT: JWT{
				Algorithm:  JWTHS256,
				Cookie:     "chatrelay_token",
				QueryParam: "access_token",
				Leeway:     30 * time.Second,
			},
		},
		STOMP: STOMP{
			HeartBeatSend:    time.Second,
			HeartBeatReceive: time.Second,
			HeartBeatGrace:   500 * time.Millisecond,
			ConnectTimeout:   10 * time.Second,
			WebSocketFrames:  WebSocketFramesAuto,
			DefaultLanguage:  string(i18n.Default),
		},
		Limits: Limits{
			MaxFrameBytes:            stomp.DefaultLimits.MaxFrameBytes,
			MaxHeaders:               stomp.DefaultLimits.MaxHeaders,
			MaxHeaderBytes:           stomp.DefaultLimits.MaxHeaderBytes,
			PreconnectBytes:          8 << 10,
			SendQueueBytes:           4 << 20,
			MaxSubscriptions:         256,
			MaxTransactions:          16,
			MaxTransactionBytes:      1 << 20,
			WriteTimeout:             10 * time.Second,
			MaxConnections:           10000,
			MaxConnectionsPerUser:    16,
			MaxConnectionsPerAddress: 256,
			SendRate:                 20,
			SendBurst:                40,
			SubscribeRate:            5,
			SubscribeBurst:           40,
			SendAbuse:                50,
			SendAbuseWindow:          10 * time.Second,
		},
		Policy: Policy{
			Aliases:         policyAliases(destination.DefaultAliases()),
			ClientSend:      destination.DefaultClientSend(),
			ClientSubscribe: destination.DefaultClientSubscribe(),
			AllowHeaders:    []string{},
		},
		Rooms: Rooms{
			History: History{MaxAge: "7D", MaxBytes: 100 << 20, Buffer: feed.DefaultBuffer, MaxReplay: 1000,
				NamedStreams: true},
			MaxMessageBytes: rooms.DefaultMaxMessageBytes,
			SystemLanguage:  chat.LangKorean,
			Archive: Archive{IdleAfter: time.Hour, MaxMessages: 100, // rabbitstore.DefaultArchiveMax*
				MaxBytes: 64 << 10, Resident: true},
			Typing: Typing{TTL: typing.DefaultTTL, Refresh: typing.DefaultRefresh, UserRate: typing.DefaultRate,
				UserBurst: typing.DefaultBurst, MaxRoomsPerUser: typing.DefaultMaxRoomsPerUser, MaxTracked: typing.DefaultMaxTracked},
			Reads: Reads{Flush: readstate.DefaultFlush, ConfirmTimeout: readstate.DefaultConfirmTimeout,
				SnapshotEvery: readstate.DefaultSnapshotEvery, MaxPositions: readstate.DefaultMaxPositions},
			Presence: Presence{Messages: true, Interval: presence.DefaultInterval, Expiry: presence.DefaultExpiry,
				MaxBroadcastMembers: presence.DefaultMaxBroadcastMembers, LeaveGrace: presence.DefaultLeaveGrace,
				EnterWindow: presence.DefaultEnterWindow, UserRate: presence.DefaultUserRate,
				UserBurst: presence.DefaultUserBurst},
			Create: RoomCreate{
				MaxRooms:         300,
				UserPerMinute:    10,
				UserBurst:        5,
				UserQuota:        20,
				AddressPerMinute: 5,
				AddressBurst:     5,
				AddressQuota:     10,
				MaxTracked:       10000,
			},
			Direct: RoomCreate{
				MaxRooms:         100000,
				UserPerMinute:    30,
				UserBurst:        30,
				UserQuota:        5000,
				AddressPerMinute: 30,
				AddressBurst:     30,
				AddressQuota:     5000,
				MaxTracked:       10000,
			},
			Confirm: Confirm{RepublishAfter: confirm.DefaultRepublishAfter, Timeout: confirm.DefaultTimeout,
				MaxPending: confirm.DefaultMaxPending},
		},
		Tutorial: Tutorial{
			Mode:        SwitchAuto,
			CreateRooms: SwitchAuto,
			RESTAliases: []RESTAlias{
				{"GET /chat/rooms", RESTList},
				{"POST /chat/room", RESTCreate},
				{"GET /chat/room/{id}", RESTGet},
			},
		},
		Logging: Logging{Level: "info", Format: "text"},
	}
}

// policyAliases converts the destination policy's aliases to the config's
// type.
func policyAliases(as []destination.Alias) []Alias {
	out := make([]Alias, len(as))
	for i, a := range as {
		out[i] = Alias{From: a.From, To: a.To}
	}
	return out
}

// setDefaults registers every key with viper, which is also what makes
// environment variables visible to Unmarshal.
func setDefaults(v *viper.Viper) {
	d := Defaults()
	v.SetDefault("http.addr", d.HTTP.Addr)
	v.SetDefault("http.allowed_origins", d.HTTP.AllowedOrigins)
	v.SetDefault("http.api_key", d.HTTP.APIKey)
	v.SetDefault("http.require_subprotocol", d.HTTP.RequireSubprotocol)
	v.SetDefault("http.read_header_timeout", d.HTTP.ReadHeaderTimeout)
	v.SetDefault("http.read_timeout", d.HTTP.ReadTimeout)
	v.SetDefault("http.write_timeout", d.HTTP.WriteTimeout)
	v.SetDefault("http.idle_timeout", d.HTTP.IdleTimeout)
	v.SetDefault("http.max_body_bytes", d.HTTP.MaxBodyBytes)
	v.SetDefault("broker.mode", d.Broker.Mode)
	v.SetDefault("broker.addresses", d.Broker.Addresses)
	v.SetDefault("broker.amqp_addresses", d.Broker.AMQPAddresses)
	v.SetDefault("broker.login", d.Broker.Login)
	v.SetDefault("broker.passcode", d.Broker.Passcode)
	v.SetDefault("broker.vhost", d.Broker.VHost)
	v.SetDefault("broker.connections", d.Broker.Connections)
	v.SetDefault("broker.heartbeat", d.Broker.HeartBeat)
	v.SetDefault("broker.reconnect_min", d.Broker.ReconnectMin)
	v.SetDefault("broker.reconnect_max", d.Broker.ReconnectMax)
	v.SetDefault("broker.outbox_frames", d.Broker.OutboxFrames)
	v.SetDefault("broker.outbox_bytes", d.Broker.OutboxBytes)
	v.SetDefault("broker.replica_id", d.Broker.ReplicaID)
	v.SetDefault("auth.mode", d.Auth.Mode)
	v.SetDefault("auth.users", d.Auth.Users)
	v.SetDefault("auth.jwt.algorithm", d.Auth.JWT.Algorithm)
	v.SetDefault("auth.jwt.secret", d.Auth.JWT.Secret)
	v.SetDefault("auth.jwt.public_key_file", d.Auth.JWT.PublicKeyFile)
	v.SetDefault("auth.jwt.cookie", d.Auth.JWT.Cookie)
	v.SetDefault("auth.jwt.query_param", d.Auth.JWT.QueryParam)
	v.SetDefault("auth.jwt.leeway", d.Auth.JWT.Leeway)
	v.SetDefault("stomp.heartbeat_send", d.STOMP.HeartBeatSend)
	v.SetDefault("stomp.heartbeat_receive", d.STOMP.HeartBeatReceive)
	v.SetDefault("stomp.heartbeat_grace", d.STOMP.HeartBeatGrace)
	v.SetDefault("stomp.connect_timeout", d.STOMP.ConnectTimeout)
	v.SetDefault("stomp.websocket_frames", d.STOMP.WebSocketFrames)
	v.SetDefault("stomp.default_language", d.STOMP.DefaultLanguage)
	v.SetDefault("limits.max_frame_bytes", d.Limits.MaxFrameBytes)
	v.SetDefault("limits.max_headers", d.Limits.MaxHeaders)
	v.SetDefault("limits.max_header_bytes", d.Limits.MaxHeaderBytes)
	v.SetDefault("limits.send_queue_bytes", d.Limits.SendQueueBytes)
	v.SetDefault("limits.max_subscriptions", d.Limits.MaxSubscriptions)
	v.SetDefault("limits.max_transactions", d.Limits.MaxTransactions)
	v.SetDefault("limits.max_transaction_bytes", d.Limits.MaxTransactionBytes)
	v.SetDefault("limits.write_timeout", d.Limits.WriteTimeout)
	v.SetDefault("limits.preconnect_bytes", d.Limits.PreconnectBytes)
	v.SetDefault("limits.max_connections", d.Limits.MaxConnections)
	v.SetDefault("limits.max_connections_per_user", d.Limits.MaxConnectionsPerUser)
	v.SetDefault("limits.max_connections_per_address", d.Limits.MaxConnectionsPerAddress)
	v.SetDefault("limits.send_rate", d.Limits.SendRate)
	v.SetDefault("limits.send_burst", d.Limits.SendBurst)
	v.SetDefault("limits.subscribe_rate", d.Limits.SubscribeRate)
	v.SetDefault("limits.subscribe_burst", d.Limits.SubscribeBurst)
	v.SetDefault("limits.send_abuse", d.Limits.SendAbuse)
	v.SetDefault("limits.send_abuse_window", d.Limits.SendAbuseWindow)
	aliases := make([]map[string]any, len(d.Policy.Aliases))
	for i, a := range d.Policy.Aliases {
		aliases[i] = map[string]any{"from": a.From, "to": a.To}
	}
	v.SetDefault("policy.aliases", aliases)
	v.SetDefault("policy.client_send", d.Policy.ClientSend)
	v.SetDefault("policy.client_subscribe", d.Policy.ClientSubscribe)
	v.SetDefault("policy.allow_headers", d.Policy.AllowHeaders)
	v.SetDefault("policy.allow_wildcards", d.Policy.AllowWildcards)
	v.SetDefault("rooms.history.max_age", d.Rooms.History.MaxAge)
	v.SetDefault("rooms.history.max_bytes", d.Rooms.History.MaxBytes)
	v.SetDefault("rooms.history.buffer", d.Rooms.History.Buffer)
	v.SetDefault("rooms.history.max_replay", d.Rooms.History.MaxReplay)
	v.SetDefault("rooms.history.replicas", d.Rooms.History.Replicas)
	v.SetDefault("rooms.history.named_streams", d.Rooms.History.NamedStreams)
	v.SetDefault("rooms.archive.idle_after", d.Rooms.Archive.IdleAfter)
	v.SetDefault("rooms.archive.max_messages", d.Rooms.Archive.MaxMessages)
	v.SetDefault("rooms.archive.max_bytes", d.Rooms.Archive.MaxBytes)
	v.SetDefault("rooms.archive.resident", d.Rooms.Archive.Resident)
	v.SetDefault("rooms.max_message_bytes", d.Rooms.MaxMessageBytes)
	v.SetDefault("rooms.system_language", d.Rooms.SystemLanguage)
	v.SetDefault("tutorial.mode", d.Tutorial.Mode)
	v.SetDefault("tutorial.create_rooms", d.Tutorial.CreateRooms)
	restAliases := make([]map[string]any, len(d.Tutorial.RESTAliases))
	for i, a := range d.Tutorial.RESTAliases {
		restAliases[i] = map[string]any{"from": a.From, "to": a.To}
	}
	v.SetDefault("tutorial.rest_aliases", restAliases)
	v.SetDefault("rooms.presence.messages", d.Rooms.Presence.Messages)
	v.SetDefault("rooms.presence.interval", d.Rooms.Presence.Interval)
	v.SetDefault("rooms.presence.expiry", d.Rooms.Presence.Expiry)
	v.SetDefault("rooms.create.max_rooms", d.Rooms.Create.MaxRooms)
	v.SetDefault("rooms.create.user_per_minute", d.Rooms.Create.UserPerMinute)
	v.SetDefault("rooms.create.user_burst", d.Rooms.Create.UserBurst)
	v.SetDefault("rooms.create.user_quota", d.Rooms.Create.UserQuota)
	v.SetDefault("rooms.create.address_per_minute", d.Rooms.Create.AddressPerMinute)
	v.SetDefault("rooms.create.address_burst", d.Rooms.Create.AddressBurst)
	v.SetDefault("rooms.create.address_quota", d.Rooms.Create.AddressQuota)
	v.SetDefault("rooms.create.max_tracked", d.Rooms.Create.MaxTracked)
	v.SetDefault("rooms.direct.max_rooms", d.Rooms.Direct.MaxRooms)
	v.SetDefault("rooms.direct.user_per_minute", d.Rooms.Direct.UserPerMinute)
	v.SetDefault("rooms.direct.user_burst", d.Rooms.Direct.UserBurst)
	v.SetDefault("rooms.direct.user_quota", d.Rooms.Direct.UserQuota)
	v.SetDefault("rooms.direct.address_per_minute", d.Rooms.Direct.AddressPerMinute)
	v.SetDefault("rooms.direct.address_burst", d.Rooms.Direct.AddressBurst)
	v.SetDefault("rooms.direct.address_quota", d.Rooms.Direct.AddressQuota)
	v.SetDefault("rooms.direct.max_tracked", d.Rooms.Direct.MaxTracked)
	v.SetDefault("rooms.presence.max_broadcast_members", d.Rooms.Presence.MaxBroadcastMembers)
	v.SetDefault("rooms.presence.leave_grace", d.Rooms.Presence.LeaveGrace)
	v.SetDefault("rooms.presence.enter_window", d.Rooms.Presence.EnterWindow)
	v.SetDefault("rooms.presence.user_rate", d.Rooms.Presence.UserRate)
	v.SetDefault("rooms.presence.user_burst", d.Rooms.Presence.UserBurst)
	v.SetDefault("rooms.attachments.allow_http", d.Rooms.Attachments.AllowHTTP)
	v.SetDefault("rooms.typing.ttl", d.Rooms.Typing.TTL)
	v.SetDefault("rooms.typing.refresh", d.Rooms.Typing.Refresh)
	v.SetDefault("rooms.typing.user_rate", d.Rooms.Typing.UserRate)
	v.SetDefault("rooms.typing.user_burst", d.Rooms.Typing.UserBurst)
	v.SetDefault("rooms.typing.max_rooms_per_user", d.Rooms.Typing.MaxRoomsPerUser)
	v.SetDefault("rooms.typing.max_tracked", d.Rooms.Typing.MaxTracked)
	v.SetDefault("rooms.reads.flush", d.Rooms.Reads.Flush)
	v.SetDefault("rooms.reads.confirm_timeout", d.Rooms.Reads.ConfirmTimeout)
	v.SetDefault("rooms.reads.snapshot_every", d.Rooms.Reads.SnapshotEvery)
	v.SetDefault("rooms.reads.max_positions", d.Rooms.Reads.MaxPositions)
	v.SetDefault("rooms.confirm.republish_after", d.Rooms.Confirm.RepublishAfter)
	v.SetDefault("rooms.confirm.timeout", d.Rooms.Confirm.Timeout)
	v.SetDefault("rooms.confirm.max_pending", d.Rooms.Confirm.MaxPending)
	v.SetDefault("logging.level", d.Logging.Level)
	v.SetDefault("logging.format", d.Logging.Format)
}
