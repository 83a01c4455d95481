package config

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"
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
}

func TestInvalidSettingsAreRefused(t *testing.T) {
	for _, tt := range []struct{ key, value string }{
		{"CHATRELAY_BROKER_MODE", "kafka"},
		{"CHATRELAY_AUTH_MODE", "static"}, // without users
		{"CHATRELAY_BROKER_CONNECTIONS", "0"},
		{"CHATRELAY_LIMITS_MAX_FRAME_BYTES", "10"},
		{"CHATRELAY_BROKER_ADDRESSES", "no-port"},
		{"CHATRELAY_LIMITS_WRITE_TIMEOUT", "0s"},
	} {
		t.Run(tt.key, func(t *testing.T) {
			t.Setenv(tt.key, tt.value)
			if _, err := Load(""); err == nil {
				t.Fatalf("%s=%s accepted", tt.key, tt.value)
			}
		})
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
