// Package config loads chatrelay's settings from config.yaml and from
// CHATRELAY_<SECTION>_<KEY> environment variables. It is the only package
// that imports viper; everything else receives a plain Config value.
package config

import (
	"fmt"
	"strings"
	"time"
)

// Config is every setting of a chatrelay replica. config.yaml documents
// each key with its default.
type Config struct {
	HTTP    HTTP    `mapstructure:"http"`
	Broker  Broker  `mapstructure:"broker"`
	Auth    Auth    `mapstructure:"auth"`
	STOMP   STOMP   `mapstructure:"stomp"`
	Limits  Limits  `mapstructure:"limits"`
	Policy  Policy  `mapstructure:"policy"`
	Logging Logging `mapstructure:"logging"`
}

// HTTP configures the listener and the WebSocket handshake.
type HTTP struct {
	Addr           string   `mapstructure:"addr"`
	AllowedOrigins []string `mapstructure:"allowed_origins"`
}

// Broker selects and configures the message broker.
type Broker struct {
	Mode         string        `mapstructure:"mode"`
	Addresses    []string      `mapstructure:"addresses"`
	Login        string        `mapstructure:"login"`
	Passcode     string        `mapstructure:"passcode"`
	VHost        string        `mapstructure:"vhost"`
	Connections  int           `mapstructure:"connections"`
	HeartBeat    time.Duration `mapstructure:"heartbeat"`
	ReconnectMin time.Duration `mapstructure:"reconnect_min"`
	ReconnectMax time.Duration `mapstructure:"reconnect_max"`
	OutboxFrames int           `mapstructure:"outbox_frames"`
	OutboxBytes  int           `mapstructure:"outbox_bytes"`
}

// Broker modes.
const (
	BrokerEmbedded = "embedded"
	BrokerRabbitMQ = "rabbitmq"
)

// Auth configures how a CONNECT frame's credentials are checked.
type Auth struct {
	Mode  string            `mapstructure:"mode"`
	Users map[string]string `mapstructure:"users"`
}

// Auth modes.
const (
	AuthNone   = "none"
	AuthStatic = "static"
)

// STOMP configures client sessions.
type STOMP struct {
	HeartBeatSend    time.Duration `mapstructure:"heartbeat_send"`
	HeartBeatReceive time.Duration `mapstructure:"heartbeat_receive"`
	HeartBeatGrace   time.Duration `mapstructure:"heartbeat_grace"`
	ConnectTimeout   time.Duration `mapstructure:"connect_timeout"`
}

// Limits bound what one client may send or hold.
type Limits struct {
	MaxFrameBytes    int           `mapstructure:"max_frame_bytes"`
	MaxHeaders       int           `mapstructure:"max_headers"`
	MaxHeaderBytes   int           `mapstructure:"max_header_bytes"`
	SendQueueBytes   int           `mapstructure:"send_queue_bytes"`
	MaxSubscriptions int           `mapstructure:"max_subscriptions"`
	MaxTransactions  int           `mapstructure:"max_transactions"`
	WriteTimeout     time.Duration `mapstructure:"write_timeout"`
}

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

// Logging configures log/slog output.
type Logging struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	switch c.Broker.Mode {
	case BrokerEmbedded, BrokerRabbitMQ:
	default:
		return fmt.Errorf("broker.mode %q: want %q or %q", c.Broker.Mode, BrokerEmbedded, BrokerRabbitMQ)
	}
	if c.Broker.Mode == BrokerRabbitMQ && len(c.Broker.Addresses) == 0 {
		return fmt.Errorf("broker.addresses: at least one host:port is needed in rabbitmq mode")
	}
	for _, a := range c.Broker.Addresses {
		if !strings.Contains(a, ":") {
			return fmt.Errorf("broker.addresses: %q is not host:port", a)
		}
	}
	if c.Broker.Connections < 1 {
		return fmt.Errorf("broker.connections must be at least 1")
	}
	switch c.Auth.Mode {
	case AuthNone:
	case AuthStatic:
		if len(c.Auth.Users) == 0 {
			return fmt.Errorf("auth.mode static needs auth.users")
		}
	default:
		return fmt.Errorf("auth.mode %q: want %q or %q", c.Auth.Mode, AuthNone, AuthStatic)
	}
	if c.Limits.MaxFrameBytes < 1024 {
		return fmt.Errorf("limits.max_frame_bytes must be at least 1024")
	}
	if c.Limits.SendQueueBytes < c.Limits.MaxFrameBytes {
		return fmt.Errorf("limits.send_queue_bytes must be at least limits.max_frame_bytes")
	}
	if c.Limits.WriteTimeout <= 0 {
		return fmt.Errorf("limits.write_timeout must be positive")
	}
	if c.STOMP.ConnectTimeout <= 0 {
		return fmt.Errorf("stomp.connect_timeout must be positive")
	}
	switch c.Logging.Format {
	case "text", "json":
	default:
		return fmt.Errorf("logging.format %q: want text or json", c.Logging.Format)
	}
	return nil
}
