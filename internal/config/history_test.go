package config

import (
	"strings"
	"testing"
)

// TestHistoryReplicas: rooms.history.replicas defaults to 0 (RabbitMQ
// picks: every cluster node), can be set from the environment, and a
// negative count is refused with an error that names the key.
func TestHistoryReplicas(t *testing.T) {
	if d := Defaults().Rooms.History.Replicas; d != 0 {
		t.Fatalf("default replicas %d, want 0", d)
	}
	c, err := Load(repoConfig(t))
	if err != nil || c.Rooms.History.Replicas != 0 {
		t.Fatalf("config.yaml: replicas %d, err %v", c.Rooms.History.Replicas, err)
	}
	t.Setenv("CHATRELAY_ROOMS_HISTORY_REPLICAS", "2")
	if c, err = Load(""); err != nil || c.Rooms.History.Replicas != 2 {
		t.Fatalf("override: replicas %d, err %v", c.Rooms.History.Replicas, err)
	}
	t.Setenv("CHATRELAY_ROOMS_HISTORY_REPLICAS", "-1")
	_, err = Load("")
	if err == nil {
		t.Fatal("rooms.history.replicas -1 accepted")
	}
	if !strings.Contains(err.Error(), "rooms.history.replicas") {
		t.Fatalf("error does not name the key: %v", err)
	}
}
