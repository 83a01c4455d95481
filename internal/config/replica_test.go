package config

import (
	"os"
	"strings"
	"testing"
)

func TestReplicaID(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	c := Defaults()
	if got, want := c.ReplicaName(), host+":8080"; got != want {
		t.Fatalf("default replica name %q, want %q", got, want)
	}
	c.HTTP.Addr = "127.0.0.1:0"
	if got, want := c.ReplicaName(), host+":0"; got != want {
		t.Fatalf("replica name %q, want %q", got, want)
	}
	t.Setenv("CHATRELAY_BROKER_REPLICA_ID", "web-1 blue")
	c, err = Load("")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ReplicaName(); got != "web-1 blue" {
		t.Fatalf("replica name from the environment %q", got)
	}
	for _, bad := range []string{strings.Repeat("x", MaxReplicaIDBytes+1), "a\nb", "\xff"} {
		t.Setenv("CHATRELAY_BROKER_REPLICA_ID", bad)
		if _, err := Load(""); err == nil || !strings.Contains(err.Error(), "broker.replica_id") {
			t.Errorf("replica_id %q: %v", bad, err)
		}
	}
}
