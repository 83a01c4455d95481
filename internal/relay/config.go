package relay

import (
	"context"
	"log/slog"
	"net"
	"time"
)

// Defaults for the zero fields of Config.
const (
	DefaultConnections  = 2
	DefaultHeartBeat    = 10 * time.Second
	DefaultReconnectMin = 100 * time.Millisecond
	DefaultReconnectMax = 5 * time.Second
	DefaultOutboxFrames = 1000
	DefaultOutboxBytes  = 8 << 20
	// DefaultVHost is the vhost sent in the CONNECT host header when
	// Config.VHost is empty.
	DefaultVHost = "/"
)

// Timeouts that are not worth a setting.
const (
	// dialTimeout bounds one TCP connect plus the STOMP handshake.
	dialTimeout = 10 * time.Second
	// writeTimeout bounds one write to the broker socket; a broker that
	// does not drain its socket for this long is treated as down.
	writeTimeout = 30 * time.Second
	// flushGrace is how long a reconnected connection holds its outbox
	// back while other upstream connections are still restoring their
	// subscriptions, so that a SEND queued during an outage is not
	// published before the subscriptions that should see it are back.
	flushGrace = 2 * time.Second
	// stableSocket is how long a socket must have lived for the
	// reconnect backoff to start over from ReconnectMin.
	stableSocket = 5 * time.Second
	// maxFrameBytes bounds one frame from the broker.
	maxFrameBytes = 16 << 20
)

// Config configures a Relay. Zero fields take the defaults above.
type Config struct {
	// Addresses are the host:port STOMP listeners of the broker (several
	// for a cluster). Each connection rotates through them on reconnect.
	Addresses []string
	// Login and Passcode are the relay's own credentials. Client
	// credentials are never forwarded.
	Login, Passcode string
	// VHost goes in the CONNECT host header; RabbitMQ treats it as the
	// virtual host. Default "/".
	VHost string
	// Connections is the number of upstream connections per replica.
	Connections int
	// HeartBeat is the upstream heart-beat asked for in both directions.
	// A broker silent for twice the negotiated interval is treated as
	// down. Negative disables heart-beats.
	HeartBeat time.Duration
	// ReconnectMin and ReconnectMax bound the reconnect backoff, which
	// doubles per failed attempt and is jittered.
	ReconnectMin, ReconnectMax time.Duration
	// OutboxFrames and OutboxBytes bound the frames buffered per upstream
	// connection while it is down.
	OutboxFrames int
	OutboxBytes  int
	// Dial opens a transport connection to addr. Default: TCP.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// Logger receives connection events. Default: discard.
	Logger *slog.Logger
}

// withDefaults returns cfg with its zero fields filled in.
func (cfg Config) withDefaults() Config {
	if cfg.Connections <= 0 {
		cfg.Connections = DefaultConnections
	}
	if cfg.VHost == "" {
		cfg.VHost = DefaultVHost
	}
	if cfg.HeartBeat == 0 {
		cfg.HeartBeat = DefaultHeartBeat
	}
	if cfg.HeartBeat < 0 {
		cfg.HeartBeat = 0
	}
	if cfg.ReconnectMin <= 0 {
		cfg.ReconnectMin = DefaultReconnectMin
	}
	if cfg.ReconnectMax <= 0 {
		cfg.ReconnectMax = DefaultReconnectMax
	}
	if cfg.ReconnectMax < cfg.ReconnectMin {
		cfg.ReconnectMax = cfg.ReconnectMin
	}
	if cfg.OutboxFrames <= 0 {
		cfg.OutboxFrames = DefaultOutboxFrames
	}
	if cfg.OutboxBytes <= 0 {
		cfg.OutboxBytes = DefaultOutboxBytes
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = func(ctx context.Context, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}
