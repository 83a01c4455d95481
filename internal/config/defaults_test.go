package config

import (
	"reflect"
	"strings"
	"testing"

	"chatrelay/internal/auth"
	"chatrelay/internal/chat"
	"chatrelay/internal/destination"
	"chatrelay/internal/httpapi"
	"chatrelay/internal/i18n"
	"chatrelay/internal/presence"
	"chatrelay/internal/relay"
	"chatrelay/internal/roomlist"
	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/confirm"
	"chatrelay/internal/rooms/feed"
	"chatrelay/internal/rooms/rabbitstore"
	"chatrelay/internal/stomp"
	"chatrelay/internal/typing"
)

// TestDefaultsAgreeWithPackages checks that the configuration loaded
// with no file and no environment gives each package what it would use
// on its own (the zero field of its options), so that running with the
// default config and building a package with zero options never differ.
func TestDefaultsAgreeWithPackages(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	policy := destination.DefaultConfig()
	aliases := make([]destination.Alias, len(c.Policy.Aliases))
	for i, a := range c.Policy.Aliases {
		aliases[i] = destination.Alias{From: a.From, To: a.To}
	}
	for _, tt := range []struct {
		key     string // the config key, and the package field it feeds
		config  any    // the loaded default
		pkg     any    // the package's own default
		pkgName string
	}{
		{"policy.aliases", aliases, policy.Aliases, "destination.DefaultConfig().Aliases"},
		{"policy.client_send", c.Policy.ClientSend, policy.ClientSend, "destination.DefaultConfig().ClientSend"},
		{"policy.client_subscribe", c.Policy.ClientSubscribe, policy.ClientSubscribe, "destination.DefaultConfig().ClientSubscribe"},

		{"broker.vhost", c.Broker.VHost, relay.DefaultVHost, "relay.DefaultVHost"},
		{"broker.connections", c.Broker.Connections, relay.DefaultConnections, "relay.DefaultConnections"},
		{"broker.heartbeat", c.Broker.HeartBeat, relay.DefaultHeartBeat, "relay.DefaultHeartBeat"},
		{"broker.reconnect_min", c.Broker.ReconnectMin, relay.DefaultReconnectMin, "relay.DefaultReconnectMin"},
		{"broker.reconnect_max", c.Broker.ReconnectMax, relay.DefaultReconnectMax, "relay.DefaultReconnectMax"},
		{"broker.outbox_frames", c.Broker.OutboxFrames, relay.DefaultOutboxFrames, "relay.DefaultOutboxFrames"},
		{"broker.outbox_bytes", c.Broker.OutboxBytes, relay.DefaultOutboxBytes, "relay.DefaultOutboxBytes"},
		// the server gives the room store's AMQP connection the broker's
		// heart-beat too
		{"broker.heartbeat", c.Broker.HeartBeat, rabbitstore.DefaultHeartbeat, "rabbitstore.DefaultHeartbeat"},

		{"auth.jwt.algorithm", c.Auth.JWT.Algorithm, auth.HS256, "auth.HS256"},

		{"stomp.default_language", c.STOMP.Language(), i18n.Default, "i18n.Default"},

		{"limits.max_frame_bytes", c.Limits.MaxFrameBytes, stomp.DefaultLimits.MaxFrameBytes, "stomp.DefaultLimits.MaxFrameBytes"},
		{"limits.max_headers", c.Limits.MaxHeaders, stomp.DefaultLimits.MaxHeaders, "stomp.DefaultLimits.MaxHeaders"},
		{"limits.max_header_bytes", c.Limits.MaxHeaderBytes, stomp.DefaultLimits.MaxHeaderBytes, "stomp.DefaultLimits.MaxHeaderBytes"},

		{"http.max_body_bytes", c.HTTP.MaxBodyBytes, int64(httpapi.MaxBodyBytes), "httpapi.MaxBodyBytes"},
		{"(ceiling of) http.max_body_bytes", int64(MaxBodyCeiling), int64(httpapi.MaxBodyBytes), "httpapi.MaxBodyBytes"},

		// chat, the push API and the web page all default to it
		{"rooms.max_message_bytes", c.Rooms.MaxMessageBytes, rooms.DefaultMaxMessageBytes, "rooms.DefaultMaxMessageBytes"},
		{"rooms.system_language", c.Rooms.SystemLanguage, chat.LangKorean, "chat.LangKorean"},
		// memstore and rabbitstore default to it
		{"rooms.history.buffer", c.Rooms.History.Buffer, feed.DefaultBuffer, "feed.DefaultBuffer"},

		{"rooms.presence.interval", c.Rooms.Presence.Interval, presence.DefaultInterval, "presence.DefaultInterval"},
		{"rooms.presence.expiry", c.Rooms.Presence.Expiry, presence.DefaultExpiry, "presence.DefaultExpiry"},
		{"rooms.presence.max_broadcast_members", c.Rooms.Presence.MaxBroadcastMembers, presence.DefaultMaxBroadcastMembers, "presence.DefaultMaxBroadcastMembers"},
		{"rooms.presence.leave_grace", c.Rooms.Presence.LeaveGrace, presence.DefaultLeaveGrace, "presence.DefaultLeaveGrace"},
		{"rooms.presence.enter_window", c.Rooms.Presence.EnterWindow, presence.DefaultEnterWindow, "presence.DefaultEnterWindow"},
		{"rooms.presence.user_rate", c.Rooms.Presence.UserRate, presence.DefaultUserRate, "presence.DefaultUserRate"},
		{"rooms.presence.user_burst", c.Rooms.Presence.UserBurst, presence.DefaultUserBurst, "presence.DefaultUserBurst"},
		// the server compares online counts at the presence interval
		{"rooms.presence.interval", c.Rooms.Presence.Interval, roomlist.DefaultOnlineInterval, "roomlist.DefaultOnlineInterval"},

		{"rooms.typing.ttl", c.Rooms.Typing.TTL, typing.DefaultTTL, "typing.DefaultTTL"},
		{"rooms.typing.refresh", c.Rooms.Typing.Refresh, typing.DefaultRefresh, "typing.DefaultRefresh"},
		{"rooms.typing.user_rate", c.Rooms.Typing.UserRate, typing.DefaultRate, "typing.DefaultRate"},
		{"rooms.typing.user_burst", c.Rooms.Typing.UserBurst, typing.DefaultBurst, "typing.DefaultBurst"},
		{"rooms.typing.max_rooms_per_user", c.Rooms.Typing.MaxRoomsPerUser, typing.DefaultMaxRoomsPerUser, "typing.DefaultMaxRoomsPerUser"},
		{"rooms.typing.max_tracked", c.Rooms.Typing.MaxTracked, typing.DefaultMaxTracked, "typing.DefaultMaxTracked"},

		{"rooms.confirm.republish_after", c.Rooms.Confirm.RepublishAfter, confirm.DefaultRepublishAfter, "confirm.DefaultRepublishAfter"},
		{"rooms.confirm.timeout", c.Rooms.Confirm.Timeout, confirm.DefaultTimeout, "confirm.DefaultTimeout"},
		{"rooms.confirm.max_pending", c.Rooms.Confirm.MaxPending, confirm.DefaultMaxPending, "confirm.DefaultMaxPending"},
		// registry events are confirmed like room messages
		{"rooms.confirm.republish_after", c.Rooms.Confirm.RepublishAfter, rabbitstore.DefaultRepublishAfter, "rabbitstore.DefaultRepublishAfter"},
	} {
		if !reflect.DeepEqual(tt.config, tt.pkg) {
			t.Errorf("%s defaults to %v (%T), %s is %v (%T)", tt.key, tt.config, tt.config, tt.pkgName, tt.pkg, tt.pkg)
		}
	}
}

// TestValidationAgreesWithPackages checks that Validate accepts what the
// packages accept at the edges it checks for them.
func TestValidationAgreesWithPackages(t *testing.T) {
	for _, n := range []int{auth.MinSecretBytes - 1, auth.MinSecretBytes} {
		secret := strings.Repeat("k", n)
		c := Defaults()
		c.Auth.Mode = AuthJWT
		c.Auth.JWT.Secret = secret
		_, authErr := auth.NewJWT(auth.JWTConfig{Algorithm: auth.HS256, Secret: []byte(secret)})
		if cfgErr := c.Validate(); (cfgErr == nil) != (authErr == nil) {
			t.Errorf("a %d-byte HS256 secret: config says %v, auth says %v", n, cfgErr, authErr)
		}
	}
	for _, lang := range append([]string{"", "fr", "KO"}, chat.SystemLanguages...) {
		c := Defaults()
		c.Rooms.SystemLanguage = lang
		if err := c.Validate(); (err == nil) != chat.KnownLanguage(lang) {
			t.Errorf("rooms.system_language %q: config says %v, chat.KnownLanguage %v", lang, err, chat.KnownLanguage(lang))
		}
	}
}
