package config

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/i18n"
)

// repoConfig is the config.yaml shipped at the repository root.
func repoConfig(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "config.yaml")
}

func TestShippedConfigEqualsDefaults(t *testing.T) {
	got, err := Load(repoConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("config.yaml and Defaults() disagree:\n got %+v\nwant %+v", got, want)
	}
	none, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(none, want) {
		t.Fatalf("Load(\"\") differs from Defaults():\n got %+v\nwant %+v", none, want)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	t.Setenv("CHATRELAY_BROKER_MODE", "rabbitmq")
	t.Setenv("CHATRELAY_BROKER_ADDRESSES", "a:1,b:2")
	t.Setenv("CHATRELAY_AUTH_MODE", "static")
	t.Setenv("CHATRELAY_AUTH_USERS", "alice=pw1,bob=pw2")
	t.Setenv("CHATRELAY_HTTP_ADDR", "127.0.0.1:9999")
	t.Setenv("CHATRELAY_STOMP_HEARTBEAT_SEND", "3s")
	t.Setenv("CHATRELAY_ROOMS_CONFIRM_TIMEOUT", "30s")
	t.Setenv("CHATRELAY_STOMP_DEFAULT_LANGUAGE", "ko")
	c, err := Load(repoConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.Broker.Mode != BrokerRabbitMQ || !reflect.DeepEqual(c.Broker.Addresses, []string{"a:1", "b:2"}) {
		t.Fatalf("broker: %+v", c.Broker)
	}
	if c.Auth.Mode != AuthStatic || c.Auth.Users["bob"] != "pw2" || len(c.Auth.Users) != 2 {
		t.Fatalf("auth: %+v", c.Auth)
	}
	if c.HTTP.Addr != "127.0.0.1:9999" || c.STOMP.HeartBeatSend != 3*time.Second {
		t.Fatalf("http/stomp: %+v %+v", c.HTTP, c.STOMP)
	}
	if c.Rooms.Confirm.Timeout != 30*time.Second || c.Rooms.Confirm.RepublishAfter != 2*time.Second {
		t.Fatalf("rooms.confirm: %+v", c.Rooms.Confirm)
	}
	if c.STOMP.Language() != i18n.Ko {
		t.Fatalf("stomp.default_language %q: language %q", c.STOMP.DefaultLanguage, c.STOMP.Language())
	}
}

func TestInvalidSettingsAreRefused(t *testing.T) {
	for _, tt := range []struct{ key, value string }{
		{"CHATRELAY_BROKER_MODE", "kafka"},
		{"CHATRELAY_AUTH_MODE", "static"}, // without users
		{"CHATRELAY_BROKER_CONNECTIONS", "0"},
		{"CHATRELAY_LIMITS_MAX_FRAME_BYTES", "10"},
		{"CHATRELAY_BROKER_ADDRESSES", "no-port"},
		{"CHATRELAY_LIMITS_WRITE_TIMEOUT", "0s"},
		{"CHATRELAY_LIMITS_PRECONNECT_BYTES", "0"},
		{"CHATRELAY_LIMITS_MAX_CONNECTIONS", "0"},
		{"CHATRELAY_LIMITS_MAX_CONNECTIONS_PER_USER", "-1"},
		{"CHATRELAY_LIMITS_MAX_CONNECTIONS_PER_ADDRESS", "0"},
		{"CHATRELAY_AUTH_MODE", "jwt"}, // without a secret
		{"CHATRELAY_LIMITS_SEND_RATE", "-1"},
		{"CHATRELAY_LIMITS_SEND_BURST", "0"}, // with the default rate
		{"CHATRELAY_LIMITS_SEND_ABUSE", "-1"},
		{"CHATRELAY_LIMITS_SEND_ABUSE", "100001"},
		{"CHATRELAY_LIMITS_SEND_ABUSE_WINDOW", "0s"}, // with the default abuse limit
		{"CHATRELAY_ROOMS_CONFIRM_REPUBLISH_AFTER", "0s"},
		{"CHATRELAY_ROOMS_CONFIRM_TIMEOUT", "1s"}, // shorter than the default republish_after
		{"CHATRELAY_STOMP_WEBSOCKET_FRAMES", "text"},
		{"CHATRELAY_STOMP_DEFAULT_LANGUAGE", "fr"},
		{"CHATRELAY_STOMP_DEFAULT_LANGUAGE", "ko;q=0.5"},
		{"CHATRELAY_POLICY_ALLOW_WILDCARDS", "true"}, // with the default embedded broker
	} {
		t.Run(tt.key, func(t *testing.T) {
			t.Setenv(tt.key, tt.value)
			if _, err := Load(""); err == nil {
				t.Fatalf("%s=%s accepted", tt.key, tt.value)
			}
		})
	}
}

func TestJWTSettings(t *testing.T) {
	secret := "0123456789abcdef0123456789abcdef"
	for _, tt := range []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{"HS256", map[string]string{"SECRET": secret}, true},
		{"HS256 short secret", map[string]string{"SECRET": secret[:31]}, false},
		{"HS256 no secret", map[string]string{}, false},
		{"RS256", map[string]string{"ALGORITHM": "RS256", "PUBLIC_KEY_FILE": "/etc/chatrelay/jwt.pem"}, true},
		{"RS256 no key file", map[string]string{"ALGORITHM": "RS256"}, false},
		{"none", map[string]string{"ALGORITHM": "none", "SECRET": secret}, false},
		{"HS512", map[string]string{"ALGORITHM": "HS512", "SECRET": secret}, false},
		{"negative leeway", map[string]string{"SECRET": secret, "LEEWAY": "-1s"}, false},
		{"cookie with ;", map[string]string{"SECRET": secret, "COOKIE": "a;b"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CHATRELAY_AUTH_MODE", "jwt")
			for k, v := range tt.env {
				t.Setenv("CHATRELAY_AUTH_JWT_"+k, v)
			}
			c, err := Load("")
			if tt.ok != (err == nil) {
				t.Fatalf("ok %v, got %v", tt.ok, err)
			}
			if err == nil && (c.Auth.Mode != AuthJWT || c.Auth.JWT.Leeway != 30*time.Second) {
				t.Fatalf("auth: %+v", c.Auth)
			}
			if err != nil && strings.Contains(err.Error(), secret[:31]) {
				t.Fatalf("error quotes the secret: %v", err)
			}
		})
	}
}

func TestJWTDefaults(t *testing.T) {
	j := Defaults().Auth.JWT
	if j.Algorithm != JWTHS256 || j.Cookie != "chatrelay_token" || j.QueryParam != "access_token" || j.Leeway != 30*time.Second {
		t.Fatalf("%+v", j)
	}
}

func TestMissingFileIsAnError(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yaml")); err == nil {
		t.Fatal("missing file accepted")
	}
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("broker:\n  mode: rabbitmq\n  addresses: [\"h:1\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil || c.Broker.Mode != BrokerRabbitMQ || c.Broker.Connections != 2 {
		t.Fatalf("%+v %v", c.Broker, err)
	}
}

func TestSendRateLimits(t *testing.T) {
	d := Defaults().Limits
	if d.SendRate != 20 || d.SendBurst != 40 || d.SendAbuse != 50 || d.SendAbuseWindow != 10*time.Second ||
		d.SubscribeRate != 5 || d.SubscribeBurst != 40 {
		t.Fatalf("defaults: %+v", d)
	}
	// rate 0 turns rate limiting off; burst and window then do not matter
	t.Setenv("CHATRELAY_LIMITS_SEND_RATE", "0")
	t.Setenv("CHATRELAY_LIMITS_SEND_BURST", "0")
	t.Setenv("CHATRELAY_LIMITS_SEND_ABUSE_WINDOW", "0s")
	// the abuse window is shared: a SUBSCRIBE rate still needs it
	if _, err := Load(""); err == nil || !strings.Contains(err.Error(), "send_abuse_window") {
		t.Fatalf("subscribe_rate without an abuse window: %v", err)
	}
	t.Setenv("CHATRELAY_LIMITS_SUBSCRIBE_RATE", "0")
	t.Setenv("CHATRELAY_LIMITS_SUBSCRIBE_BURST", "0")
	c, err := Load("")
	if err != nil || c.Limits.SendRate != 0 || c.Limits.SubscribeRate != 0 {
		t.Fatalf("unlimited: %+v %v", c.Limits, err)
	}
	t.Setenv("CHATRELAY_LIMITS_SUBSCRIBE_RATE", "1")
	if _, err := Load(""); err == nil || !strings.Contains(err.Error(), "subscribe_burst") {
		t.Fatalf("subscribe_rate without a burst: %v", err)
	}
	t.Setenv("CHATRELAY_LIMITS_SUBSCRIBE_RATE", "0")
	t.Setenv("CHATRELAY_LIMITS_SEND_RATE", "2.5")
	t.Setenv("CHATRELAY_LIMITS_SEND_BURST", "5")
	t.Setenv("CHATRELAY_LIMITS_SEND_ABUSE", "0")
	if c, err = Load(""); err != nil || c.Limits.SendRate != 2.5 || c.Limits.SendBurst != 5 || c.Limits.SendAbuse != 0 {
		t.Fatalf("fractional rate, never close: %+v %v", c.Limits, err)
	}
}
