package nodeloss

import (
	"fmt"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
)

// TestStartWithFirstNodeDown starts a replica while the node first in
// both broker.addresses and broker.amqp_addresses is down: it becomes
// ready on the other nodes and serves rooms (create, join, send,
// history), and a room made before the outage is still served.
func TestStartWithFirstNodeDown(t *testing.T) {
	c := rabbittest.RequireCluster(t)
	cfg := clusterConfig(c)
	before := startReplica(t, cfg)
	old := createRoom(t, before.HTTP(), unique(t)+"-old", 15*time.Second)
	first := c.Nodes()[0]
	if err := c.StopNode(first); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	r := startReplica(t, cfg)
	t.Logf("replica ready %v after start with %s down", time.Since(t0).Round(time.Millisecond), first)
	room := createRoom(t, r.HTTP(), unique(t), 15*time.Second)
	for i, id := range []string{room, old} {
		waitRoom(t, r.HTTP(), id)
		c := connect(t, r.URL(), fmt.Sprintf("user%d", i))
		if err := c.Subscribe("s", "/topic/room."+id, "x-history", "5"); err != nil {
			t.Fatal(err)
		}
		sendAndSee(t, c, id, "hello from "+id, "sent", "room "+id)
	}
}
