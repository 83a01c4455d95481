// Package config loads chatrelay's settings from config.yaml and from
// CHATRELAY_<SECTION>_<KEY> environment variables. It is the only package
// that imports viper; everything else receives a plain Config value.
package config

import (
	"fmt"
	"strings"
	"time"

	"chatrelay/internal/auth"
	"chatrelay/internal/chat"
	"chatrelay/internal/i18n"
)

// Config is every setting of a chatrelay replica. config.yaml documents
// each key with its default.
type Config struct {
	HTTP     HTTP     `mapstructure:"http"`
	Broker   Broker   `mapstructure:"broker"`
	Auth     Auth     `mapstructure:"auth"`
	STOMP    STOMP    `mapstructure:"stomp"`
	Limits   Limits   `mapstructure:"limits"`
	Policy   Policy   `mapstructure:"policy"`
	Rooms    Rooms    `mapstructure:"rooms"`
	Tutorial Tutorial `mapstructure:"tutorial"`
	Logging  Logging  `mapstructure:"logging"`
}

// HTTP configures the listener, the HTTP server's timeouts and the
// WebSocket handshake.
type HTTP struct {
	Addr               string        `mapstructure:"addr"`
	AllowedOrigins     []string      `mapstructure:"allowed_origins"`
	APIKey             string        `mapstructure:"api_key"`
	RequireSubprotocol bool          `mapstructure:"require_subprotocol"`
	ReadHeaderTimeout  time.Duration `mapstructure:"read_header_timeout"`
	ReadTimeout        time.Duration `mapstructure:"read_timeout"`
	WriteTimeout       time.Duration `mapstructure:"write_timeout"`
	IdleTimeout        time.Duration `mapstructure:"idle_timeout"`
	MaxBodyBytes       int64         `mapstructure:"max_body_bytes"`
}

// MaxBodyCeiling is the largest http.max_body_bytes: the REST API never
// decodes a longer body (httpapi.MaxBodyBytes; defaults_test.go checks
// that they agree).
const MaxBodyCeiling = 64 << 10

// validate reports the first HTTP setting that cannot work.
func (h HTTP) validate() error {
	if h.ReadHeaderTimeout <= 0 || h.ReadTimeout <= 0 || h.WriteTimeout <= 0 || h.IdleTimeout <= 0 {
		return fmt.Errorf("http.read_header_timeout, http.read_timeout, http.write_timeout and http.idle_timeout must be positive")
	}
	if h.ReadTimeout < h.ReadHeaderTimeout {
		return fmt.Errorf("http.read_timeout (%v) must be at least http.read_header_timeout (%v): it covers the headers too", h.ReadTimeout, h.ReadHeaderTimeout)
	}
	if h.MaxBodyBytes < 1024 || h.MaxBodyBytes > MaxBodyCeiling {
		return fmt.Errorf("http.max_body_bytes must be between 1024 and %d", MaxBodyCeiling)
	}
	return nil
}

// Broker selects and configures the message broker.
type Broker struct {
	Mode          string        `mapstructure:"mode"`
	Addresses     []string      `mapstructure:"addresses"`
	AMQPAddresses []string      `mapstructure:"amqp_addresses"`
	Login         string        `mapstructure:"login"`
	Passcode      string        `mapstructure:"passcode"`
	VHost         string        `mapstructure:"vhost"`
	Connections   int           `mapstructure:"connections"`
	HeartBeat     time.Duration `mapstructure:"heartbeat"`
	ReconnectMin  time.Duration `mapstructure:"reconnect_min"`
	ReconnectMax  time.Duration `mapstructure:"reconnect_max"`
	OutboxFrames  int           `mapstructure:"outbox_frames"`
	OutboxBytes   int           `mapstructure:"outbox_bytes"`
	// ReplicaID names this replica in the broker's connection list
	// (see ReplicaName); empty: HOST:PORT (see DefaultReplicaID).
	ReplicaID string `mapstructure:"replica_id"`
}

// MaxReplicaIDBytes bounds broker.replica_id: it goes into an AMQP
// connection name, a short string of at most 255 bytes.
const MaxReplicaIDBytes = 100

// Broker modes.
const (
	BrokerEmbedded = "embedded"
	BrokerRabbitMQ = "rabbitmq"
)

// Auth configures how a CONNECT frame's credentials are checked.
type Auth struct {
	Mode  string            `mapstructure:"mode"`
	Users map[string]string `mapstructure:"users"`
	JWT   JWT               `mapstructure:"jwt"`
}

// Auth modes.
const (
	AuthNone   = "none"
	AuthStatic = "static"
	AuthJWT    = "jwt"
)

// JWT configures auth.mode jwt: how tokens are verified and where the
// WebSocket handshake may carry one.
type JWT struct {
	Algorithm     string        `mapstructure:"algorithm"`
	Secret        string        `mapstructure:"secret"`
	PublicKeyFile string        `mapstructure:"public_key_file"`
	Cookie        string        `mapstructure:"cookie"`
	QueryParam    string        `mapstructure:"query_param"`
	Leeway        time.Duration `mapstructure:"leeway"`
}

// JWT algorithms (the only ones accepted; "none" never is).
const (
	JWTHS256 = auth.HS256
	JWTRS256 = auth.RS256
)

// STOMP configures client sessions.
type STOMP struct {
	HeartBeatSend    time.Duration `mapstructure:"heartbeat_send"`
	HeartBeatReceive time.Duration `mapstructure:"heartbeat_receive"`
	HeartBeatGrace   time.Duration `mapstructure:"heartbeat_grace"`
	ConnectTimeout   time.Duration `mapstructure:"connect_timeout"`
	// WebSocketFrames is how frames go on /ws: "auto" (a text message
	// when valid UTF-8, binary otherwise) or "binary" (always).
	WebSocketFrames string `mapstructure:"websocket_frames"`
	// DefaultLanguage is the language (en or ko) of the texts on
	// /user/queue/errors for a session whose CONNECT accept-language
	// header and handshake Accept-Language name neither.
	DefaultLanguage string `mapstructure:"default_language"`
}

// Language returns stomp.default_language as an i18n.Lang; Validate has
// checked it.
func (s STOMP) Language() i18n.Lang {
	l, err := i18n.Parse(s.DefaultLanguage)
	if err != nil {
		return i18n.Default
	}
	return l
}

// stomp.websocket_frames values.
const (
	WebSocketFramesAuto   = "auto"
	WebSocketFramesBinary = "binary"
)

// Limits bound what one client may send or hold, and how many
// connections a replica accepts.
type Limits struct {
	MaxFrameBytes    int `mapstructure:"max_frame_bytes"`
	MaxHeaders       int `mapstructure:"max_headers"`
	MaxHeaderBytes   int `mapstructure:"max_header_bytes"`
	PreconnectBytes  int `mapstructure:"preconnect_bytes"`
	SendQueueBytes   int `mapstructure:"send_queue_bytes"`
	MaxSubscriptions int `mapstructure:"max_subscriptions"`
	MaxTransactions  int `mapstructure:"max_transactions"`
	// MaxTransactionBytes bounds the SENDs (body and headers) a
	// connection's open transactions hold until COMMIT or ABORT.
	MaxTransactionBytes      int           `mapstructure:"max_transaction_bytes"`
	WriteTimeout             time.Duration `mapstructure:"write_timeout"`
	MaxConnections           int           `mapstructure:"max_connections"`
	MaxConnectionsPerUser    int           `mapstructure:"max_connections_per_user"`
	MaxConnectionsPerAddress int           `mapstructure:"max_connections_per_address"`
	// SendRate is SENDs per second per session (0: unlimited), SendBurst
	// how many may come at once; SubscribeRate and SubscribeBurst are the
	// same for SUBSCRIBEs. More than SendAbuse refused SENDs and
	// SUBSCRIBEs within SendAbuseWindow end the session (SendAbuse 0:
	// never).
	SendRate        float64       `mapstructure:"send_rate"`
	SendBurst       int           `mapstructure:"send_burst"`
	SubscribeRate   float64       `mapstructure:"subscribe_rate"`
	SubscribeBurst  int           `mapstructure:"subscribe_burst"`
	SendAbuse       int           `mapstructure:"send_abuse"`
	SendAbuseWindow time.Duration `mapstructure:"send_abuse_window"`
}

// maxSendAbuse bounds limits.send_abuse: each session keeps that many
// refusal times.
const maxSendAbuse = 100000

// Alias rewrites a client destination pattern to another.
type Alias struct {
	From string `mapstructure:"from"`
	To   string `mapstructure:"to"`
}

// Policy decides which destinations and headers clients may use.
type Policy struct {
	Aliases         []Alias  `mapstructure:"aliases"`
	ClientSend      []string `mapstructure:"client_send"`
	ClientSubscribe []string `mapstructure:"client_subscribe"`
	AllowHeaders    []string `mapstructure:"allow_headers"`
	AllowWildcards  bool     `mapstructure:"allow_wildcards"`
}

// Rooms configures chat rooms, their history and presence.
type Rooms struct {
	History         History `mapstructure:"history"`
	MaxMessageBytes int     `mapstructure:"max_message_bytes"`
	// SystemLanguage is the language of the texts the server writes
	// into stored ENTER and LEAVE messages: ko or en.
	SystemLanguage string     `mapstructure:"system_language"`
	Presence       Presence   `mapstructure:"presence"`
	Create         RoomCreate `mapstructure:"create"`
	// Direct bounds the direct conversations (private message rooms)
	// as Create bounds the others, counted apart from them.
	Direct  RoomCreate `mapstructure:"direct"`
	Confirm Confirm    `mapstructure:"confirm"`
	Archive Archive    `mapstructure:"archive"`
	Typing  Typing     `mapstructure:"typing"`
	Reads   Reads      `mapstructure:"reads"`
	// Attachments: which links messages may carry (rooms.ParseAttachments).
	Attachments Attachments `mapstructure:"attachments"`
}

// Attachments configures message attachments: the server stores no
// files, it checks the links messages carry.
type Attachments struct {
	// AllowHTTP accepts http links besides https ones.
	AllowHTTP bool `mapstructure:"allow_http"`
}

// Typing configures typing indicators (/app/rooms/{id}/typing, events on
// /topic/room.<id>.typing; see package typing).
type Typing struct {
	TTL             time.Duration `mapstructure:"ttl"`
	Refresh         time.Duration `mapstructure:"refresh"`
	UserRate        float64       `mapstructure:"user_rate"`
	UserBurst       int           `mapstructure:"user_burst"`
	MaxRoomsPerUser int           `mapstructure:"max_rooms_per_user"`
	MaxTracked      int           `mapstructure:"max_tracked"`
}

// Reads configures read positions (/app/rooms/{id}/read, unread counts;
// see package readstate).
type Reads struct {
	// Flush is the time between two writes of a replica's new
	// positions to the broker (one record for all of them).
	Flush time.Duration `mapstructure:"flush"`
	// ConfirmTimeout is how long a write waits to be read back before
	// it is written again.
	ConfirmTimeout time.Duration `mapstructure:"confirm_timeout"`
	// SnapshotEvery is the time between two snapshots of every position.
	SnapshotEvery time.Duration `mapstructure:"snapshot_every"`
	// MaxPositions bounds the positions a replica admits.
	MaxPositions int `mapstructure:"max_positions"`
}

// Archive configures the archiving of quiet rooms (RabbitMQ mode): a
// room whose stream has had no message for IdleAfter, and holds at most
// MaxMessages messages of at most MaxBytes in all, has them kept in the
// room registry and its stream deleted until its next message.
type Archive struct {
	// IdleAfter: 0 archives nothing.
	IdleAfter   time.Duration `mapstructure:"idle_after"`
	MaxMessages int           `mapstructure:"max_messages"`
	MaxBytes    int           `mapstructure:"max_bytes"`
	// Resident lets a room without a stream (never opened, or archived)
	// take its messages into the registry, within MaxMessages and
	// MaxBytes, before its first stream is declared.
	Resident bool `mapstructure:"resident"`
}

// maxArchiveBytes bounds rooms.archive.max_bytes: an archived room's
// messages travel in one registry event, one STOMP frame.
const maxArchiveBytes = 1 << 20

// Confirm configures the end-to-end confirmation of room messages: a
// room SEND is receipted (and a room push answered) only once the message
// is read back from the room's history.
type Confirm struct {
	// RepublishAfter is how long a message may stay unseen before it is
	// published again (same id: readers drop the copy).
	RepublishAfter time.Duration `mapstructure:"republish_after"`
	// Timeout is how long a message may stay unseen in all before its
	// sender gets a not_stored error instead of the RECEIPT (or 201).
	Timeout time.Duration `mapstructure:"timeout"`
	// MaxPending bounds the room messages waiting to be seen stored on
	// this replica, in all rooms; a room SEND beyond it gets a busy
	// error (a push 503) at once.
	MaxPending int `mapstructure:"max_pending"`
}

// RoomCreate bounds room creation (each room is a stream in RabbitMQ):
// rates per user and per client address, the rooms one user or one
// address may own, and all rooms together.
type RoomCreate struct {
	MaxRooms         int     `mapstructure:"max_rooms"`
	UserPerMinute    float64 `mapstructure:"user_per_minute"`
	UserBurst        int     `mapstructure:"user_burst"`
	UserQuota        int     `mapstructure:"user_quota"`
	AddressPerMinute float64 `mapstructure:"address_per_minute"`
	AddressBurst     int     `mapstructure:"address_burst"`
	AddressQuota     int     `mapstructure:"address_quota"`
	MaxTracked       int     `mapstructure:"max_tracked"`
}

// validate checks that every bound is positive: there is no "unlimited".
// section names the limits in errors (rooms.create, rooms.direct).
func (c *RoomCreate) validate(section string) error {
	if c.MaxRooms < 1 || c.UserQuota < 1 || c.AddressQuota < 1 || c.MaxTracked < 1 {
		return fmt.Errorf("%s.max_rooms, user_quota, address_quota and max_tracked must be positive", section)
	}
	if c.UserPerMinute <= 0 || c.AddressPerMinute <= 0 || c.UserBurst < 1 || c.AddressBurst < 1 {
		return fmt.Errorf("%s.user_per_minute, address_per_minute, user_burst and address_burst must be positive", section)
	}
	return nil
}

// History configures each room's message history.
type History struct {
	MaxAge    string `mapstructure:"max_age"`
	MaxBytes  int64  `mapstructure:"max_bytes"`
	Buffer    int    `mapstructure:"buffer"`
	MaxReplay int    `mapstructure:"max_replay"`
	// Replicas is the x-initial-cluster-size of new room streams: how
	// many RabbitMQ cluster nodes hold each room's history. 0 leaves it
	// to RabbitMQ, which puts a replica on every cluster member at
	// declare time.
	Replicas int `mapstructure:"replicas"`
	// NamedStreams names new room streams room.<slug>.<id> after the
	// room; false keeps room.<id>, which replicas of versions before
	// named streams expect (turn it off while such replicas still run).
	NamedStreams bool `mapstructure:"named_streams"`
}

// Presence configures who-is-online tracking.
type Presence struct {
	Messages bool          `mapstructure:"messages"`
	Interval time.Duration `mapstructure:"interval"`
	Expiry   time.Duration `mapstructure:"expiry"`
	// MaxBroadcastMembers: rooms with more users online get no ENTER or
	// LEAVE messages (their member counts still change).
	MaxBroadcastMembers int `mapstructure:"max_broadcast_members"`
	// LeaveGrace holds a LEAVE; a re-join within it publishes nothing.
	LeaveGrace time.Duration `mapstructure:"leave_grace"`
	// EnterWindow is the least time between two ENTERs of one user into
	// one room.
	EnterWindow time.Duration `mapstructure:"enter_window"`
	// UserRate and UserBurst are each user's ENTER budget across rooms
	// (per second; rate 0 means unlimited).
	UserRate  float64 `mapstructure:"user_rate"`
	UserBurst int     `mapstructure:"user_burst"`
}

// Tutorial configures the Spring-tutorial compatibility (see README):
// clients written as the Korean Spring STOMP chat tutorials are.
type Tutorial struct {
	// Mode turns on, for sessions without a login, the body's sender as
	// the user shown and the client's own ENTER as its presence
	// announcement: on, off or auto (on in auth.mode none).
	Mode string `mapstructure:"mode"`
	// CreateRooms lets an unknown room id on a tutorial path (an aliased
	// room SUBSCRIBE or SEND) create the room, within rooms.create.*:
	// on, off or auto (on in auth.mode none).
	CreateRooms string `mapstructure:"create_rooms"`
	// RESTAliases serve the tutorial's REST routes as aliases of the
	// room API, answering the tutorial's JSON ({"roomId","name"}).
	RESTAliases []RESTAlias `mapstructure:"rest_aliases"`
}

// RESTAlias maps "METHOD /path" (a {id} segment names the room) to a
// room API operation: list, create or get.
type RESTAlias struct {
	From string `mapstructure:"from"`
	To   string `mapstructure:"to"`
}

// Tutorial switch values (tutorial.mode, tutorial.create_rooms).
const (
	SwitchAuto = "auto"
	SwitchOn   = "on"
	SwitchOff  = "off"
)

// REST alias operations (tutorial.rest_aliases[].to).
const (
	RESTList   = "list"
	RESTCreate = "create"
	RESTGet    = "get"
)

// On reports whether a switch is on under auth mode authMode: auto is on
// in auth.mode none only.
func On(sw, authMode string) bool {
	return sw == SwitchOn || (sw == SwitchAuto && authMode == AuthNone)
}

// validate checks the tutorial settings.
func (t *Tutorial) validate() error {
	for key, v := range map[string]string{"tutorial.mode": t.Mode, "tutorial.create_rooms": t.CreateRooms} {
		if v != SwitchAuto && v != SwitchOn && v != SwitchOff {
			return fmt.Errorf("%s %q: want auto, on or off", key, v)
		}
	}
	for _, a := range t.RESTAliases {
		method, path, ok := strings.Cut(a.From, " ")
		if !ok || (method != "GET" && method != "POST") || !strings.HasPrefix(path, "/") {
			return fmt.Errorf("tutorial.rest_aliases: from %q: want \"GET /path\" or \"POST /path\"", a.From)
		}
		if strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/ws") || path == "/" {
			return fmt.Errorf("tutorial.rest_aliases: from %q would hide a chatrelay route", a.From)
		}
		want := map[string]string{RESTList: "GET", RESTCreate: "POST", RESTGet: "GET"}[a.To]
		switch {
		case want == "":
			return fmt.Errorf("tutorial.rest_aliases: to %q: want list, create or get", a.To)
		case want != method:
			return fmt.Errorf("tutorial.rest_aliases: %s needs %s, not %q", a.To, want, a.From)
		case (a.To == RESTGet) != strings.Contains(path, "{id}"):
			return fmt.Errorf("tutorial.rest_aliases: from %q: get, and only get, takes a {id} segment", a.From)
		}
	}
	return nil
}

// Logging configures log/slog output.
type Logging struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	if err := c.HTTP.validate(); err != nil {
		return err
	}
	switch c.Broker.Mode {
	case BrokerEmbedded, BrokerRabbitMQ:
	default:
		return fmt.Errorf("broker.mode %q: want %q or %q", c.Broker.Mode, BrokerEmbedded, BrokerRabbitMQ)
	}
	if c.Broker.Mode == BrokerRabbitMQ && len(c.Broker.Addresses) == 0 {
		return fmt.Errorf("broker.addresses: at least one host:port is needed in rabbitmq mode")
	}
	if c.Broker.Mode == BrokerRabbitMQ && len(c.Broker.AMQPAddresses) == 0 {
		return fmt.Errorf("broker.amqp_addresses: at least one host:port is needed in rabbitmq mode (room streams)")
	}
	if c.Broker.Mode == BrokerEmbedded && c.Policy.AllowWildcards {
		// go-stomp's server matches topic names exactly: a wildcard
		// subscription would be accepted and never receive anything
		return fmt.Errorf("policy.allow_wildcards needs broker.mode rabbitmq: the embedded broker matches topic names exactly")
	}
	for _, a := range append(c.Broker.Addresses, c.Broker.AMQPAddresses...) {
		if !strings.Contains(a, ":") {
			return fmt.Errorf("broker.addresses: %q is not host:port", a)
		}
	}
	if c.Broker.Connections < 1 {
		return fmt.Errorf("broker.connections must be at least 1")
	}
	if err := validReplicaID(c.Broker.ReplicaID); err != nil {
		return err
	}
	switch c.Auth.Mode {
	case AuthNone:
	case AuthStatic:
		if len(c.Auth.Users) == 0 {
			return fmt.Errorf("auth.mode static needs auth.users")
		}
	case AuthJWT:
		if err := c.Auth.JWT.validate(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("auth.mode %q: want %q, %q or %q", c.Auth.Mode, AuthNone, AuthStatic, AuthJWT)
	}
	if c.Limits.MaxFrameBytes < 1024 {
		return fmt.Errorf("limits.max_frame_bytes must be at least 1024")
	}
	if c.Limits.SendQueueBytes < c.Limits.MaxFrameBytes {
		return fmt.Errorf("limits.send_queue_bytes must be at least limits.max_frame_bytes")
	}
	if c.Limits.MaxHeaders < 1 || c.Limits.MaxHeaderBytes < 1 {
		return fmt.Errorf("limits.max_headers and limits.max_header_bytes must be positive")
	}
	if c.Limits.PreconnectBytes < 1 {
		return fmt.Errorf("limits.preconnect_bytes must be positive")
	}
	if c.Limits.MaxConnections < 1 || c.Limits.MaxConnectionsPerUser < 1 || c.Limits.MaxConnectionsPerAddress < 1 {
		return fmt.Errorf("limits.max_connections, max_connections_per_user and max_connections_per_address must be positive")
	}
	if c.Limits.WriteTimeout <= 0 {
		return fmt.Errorf("limits.write_timeout must be positive")
	}
	if c.Limits.SendRate < 0 || c.Limits.SendBurst < 0 || c.Limits.SendAbuse < 0 || c.Limits.SendAbuseWindow < 0 {
		return fmt.Errorf("limits.send_rate, send_burst, send_abuse and send_abuse_window must not be negative")
	}
	if c.Limits.SendRate > 0 && c.Limits.SendBurst < 1 {
		return fmt.Errorf("limits.send_burst must be at least 1 when limits.send_rate is set")
	}
	if c.Limits.SubscribeRate < 0 || c.Limits.SubscribeBurst < 0 {
		return fmt.Errorf("limits.subscribe_rate and subscribe_burst must not be negative")
	}
	if c.Limits.SubscribeRate > 0 && c.Limits.SubscribeBurst < 1 {
		return fmt.Errorf("limits.subscribe_burst must be at least 1 when limits.subscribe_rate is set")
	}
	if c.Limits.SendAbuse > maxSendAbuse {
		return fmt.Errorf("limits.send_abuse must be at most %d", maxSendAbuse)
	}
	if (c.Limits.SendRate > 0 || c.Limits.SubscribeRate > 0) && c.Limits.SendAbuse > 0 && c.Limits.SendAbuseWindow <= 0 {
		return fmt.Errorf("limits.send_abuse_window must be positive when limits.send_abuse is set")
	}
	if c.STOMP.ConnectTimeout <= 0 {
		return fmt.Errorf("stomp.connect_timeout must be positive")
	}
	if w := c.STOMP.WebSocketFrames; w != WebSocketFramesAuto && w != WebSocketFramesBinary {
		return fmt.Errorf("stomp.websocket_frames %q: want auto or binary (a text message must be valid UTF-8, so there is no text-only setting)", w)
	}
	if _, err := i18n.Parse(c.STOMP.DefaultLanguage); err != nil {
		return fmt.Errorf("stomp.default_language: %w", err)
	}
	if !validMaxAge(c.Rooms.History.MaxAge) {
		return fmt.Errorf("rooms.history.max_age %q: want a number followed by Y, M, D, h, m or s (e.g. 7D)", c.Rooms.History.MaxAge)
	}
	if c.Rooms.History.MaxBytes < 1 || c.Rooms.History.Buffer < 1 || c.Rooms.History.MaxReplay < 1 {
		return fmt.Errorf("rooms.history.max_bytes, buffer and max_replay must be positive")
	}
	if c.Rooms.History.Replicas < 0 {
		return fmt.Errorf("rooms.history.replicas %d: want 0 (every cluster node) or a number of nodes", c.Rooms.History.Replicas)
	}
	if c.Rooms.MaxMessageBytes < 1 {
		return fmt.Errorf("rooms.max_message_bytes must be positive")
	}
	if l := c.Rooms.SystemLanguage; !chat.KnownLanguage(l) {
		return fmt.Errorf("rooms.system_language %q: want %s", l, strings.Join(chat.SystemLanguages, " or "))
	}
	if err := c.Tutorial.validate(); err != nil {
		return err
	}
	if c.Rooms.Presence.Interval <= 0 || c.Rooms.Presence.Expiry <= c.Rooms.Presence.Interval {
		return fmt.Errorf("rooms.presence.expiry must be longer than rooms.presence.interval (> 0)")
	}
	if a := c.Rooms.Archive; a.IdleAfter < 0 || (a.IdleAfter > 0 && a.IdleAfter < time.Second) || a.MaxMessages < 1 || a.MaxBytes < 1 || a.MaxBytes > maxArchiveBytes {
		return fmt.Errorf("rooms.archive: idle_after must be 0 (off) or at least 1s, max_messages positive, max_bytes within 1..%d", maxArchiveBytes)
	}
	if err := c.Rooms.Create.validate("rooms.create"); err != nil {
		return err
	}
	if err := c.Rooms.Direct.validate("rooms.direct"); err != nil {
		return err
	}
	if p := c.Rooms.Presence; p.MaxBroadcastMembers < 1 || p.LeaveGrace <= 0 || p.EnterWindow <= 0 {
		return fmt.Errorf("rooms.presence.max_broadcast_members, leave_grace and enter_window must be positive")
	}
	if cf := c.Rooms.Confirm; cf.RepublishAfter <= 0 || cf.Timeout < cf.RepublishAfter {
		return fmt.Errorf("rooms.confirm.republish_after must be positive and rooms.confirm.timeout at least as long")
	}
	if c.Rooms.Confirm.MaxPending < 1 {
		return fmt.Errorf("rooms.confirm.max_pending %d: must be positive", c.Rooms.Confirm.MaxPending)
	}
	if t := c.Rooms.Typing; t.TTL <= 0 || t.Refresh <= 0 || t.Refresh >= t.TTL || t.UserRate <= 0 || t.UserBurst < 1 ||
		t.MaxRoomsPerUser < 1 || t.MaxTracked < 1 {
		return fmt.Errorf("rooms.typing: ttl, refresh, user_rate, user_burst, max_rooms_per_user and max_tracked must be positive, and refresh shorter than ttl")
	}
	if r := c.Rooms.Reads; r.Flush <= 0 || r.ConfirmTimeout <= r.Flush || r.SnapshotEvery < time.Minute || r.MaxPositions < 1 {
		return fmt.Errorf("rooms.reads: flush, confirm_timeout and max_positions must be positive, confirm_timeout longer than flush, snapshot_every at least 1m")
	}
	if p := c.Rooms.Presence; p.UserRate < 0 || (p.UserRate > 0 && p.UserBurst < 1) {
		return fmt.Errorf("rooms.presence.user_rate must be >= 0 (0: unlimited) and user_burst positive")
	}
	switch c.Logging.Format {
	case "text", "json":
	default:
		return fmt.Errorf("logging.format %q: want text or json", c.Logging.Format)
	}
	return nil
}

// validate checks the jwt settings for auth.mode jwt.
func (j *JWT) validate() error {
	switch j.Algorithm {
	case JWTHS256:
		if len(j.Secret) < auth.MinSecretBytes {
			return fmt.Errorf("auth.jwt.secret must be at least %d bytes for HS256", auth.MinSecretBytes)
		}
	case JWTRS256:
		if j.PublicKeyFile == "" {
			return fmt.Errorf("auth.jwt.public_key_file is needed for RS256")
		}
	default:
		return fmt.Errorf("auth.jwt.algorithm %q: want %q or %q", j.Algorithm, JWTHS256, JWTRS256)
	}
	if j.Leeway < 0 {
		return fmt.Errorf("auth.jwt.leeway must not be negative")
	}
	for _, kv := range [][2]string{{"cookie", j.Cookie}, {"query_param", j.QueryParam}} {
		if strings.ContainsAny(kv[1], " \t\r\n;,=\"") {
			return fmt.Errorf("auth.jwt.%s %q is not a valid name", kv[0], kv[1])
		}
	}
	return nil
}

// validMaxAge accepts RabbitMQ's x-max-age syntax: digits and one unit.
func validMaxAge(s string) bool {
	if len(s) < 2 || !strings.ContainsRune("YMDhms", rune(s[len(s)-1])) {
		return false
	}
	for _, c := range s[:len(s)-1] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
