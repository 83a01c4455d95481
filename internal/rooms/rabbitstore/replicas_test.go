package rabbitstore

import (
	"net/url"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/rooms"
)

// Options.Replicas becomes the x-initial-cluster-size of new room streams
// and of nothing else: the registry stream keeps the arguments it always
// had, since a redeclare with other ones fails.

// queueArgs returns the arguments of queue name in vhost "/" as the
// management API reports them.
func queueArgs(t *testing.T, n *rabbittest.Node, name string) map[string]any {
	t.Helper()
	var q rabbittest.Queue
	err := rabbittest.WaitFor(10*time.Second, func() (bool, error) {
		err := n.MgmtGet("/api/queues/%2F/"+url.PathEscape(name), &q)
		return err == nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return q.Arguments
}

// TestReplicasSetsInitialClusterSize: a room created with Replicas 1 has
// x-initial-cluster-size 1 on its stream (one node accepts that); one
// created with Replicas 0 and the registry stream have none.
func TestReplicasSetsInitialClusterSize(t *testing.T) {
	n := rabbittest.Require(t, node)
	one := newReplica(t, n, func(o *Options) { o.Replicas = 1 })
	room, err := one.s.Create(testCtx(t), rooms.Spec{Name: roomName(t), CreatedBy: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if err := one.s.Open(testCtx(t), room.ID); err != nil {
		t.Fatal(err)
	}
	args := queueArgs(t, n, room.Stream)
	// JSON numbers decode as float64
	if got, ok := args["x-initial-cluster-size"].(float64); !ok || got != 1 {
		t.Fatalf("room stream arguments %v, want x-initial-cluster-size 1", args)
	}
	if args["x-queue-type"] != "stream" || args["x-max-age"] != "1D" {
		t.Fatalf("room stream arguments %v lost the others", args)
	}
	if args := queueArgs(t, n, one.s.registry); args["x-initial-cluster-size"] != nil {
		t.Fatalf("registry stream arguments %v: Replicas must not reach them", args)
	}
	dflt := newReplica(t, n, nil)
	room, err = dflt.s.Create(testCtx(t), rooms.Spec{Name: roomName(t), CreatedBy: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if err := dflt.s.Open(testCtx(t), room.ID); err != nil {
		t.Fatal(err)
	}
	if args := queueArgs(t, n, room.Stream); args["x-initial-cluster-size"] != nil {
		t.Fatalf("Replicas 0 gave the room stream %v", args)
	}
}

// TestReplicasOnCluster: on a 3-node cluster a room stream declared
// with Replicas 2 has two members, and one declared with Replicas 0 (the
// default) has a member on every node.
func TestReplicasOnCluster(t *testing.T) {
	c := rabbittest.RequireCluster(t)
	for _, tt := range []struct{ replicas, members int }{{2, 2}, {0, len(c.Nodes())}} {
		rp := newReplicaOn(t, c.Nodes(), func(o *Options) { o.Replicas = tt.replicas })
		room, err := rp.s.Create(testCtx(t), rooms.Spec{Name: roomName(t), CreatedBy: "ann"})
		if err != nil {
			t.Fatal(err)
		}
		if err := rp.s.Open(testCtx(t), room.ID); err != nil {
			t.Fatal(err)
		}
		var r rabbittest.Replicas
		// the management statistics list the members a moment after
		// the declare: wait until they show a leader and every member
		// online
		err = rabbittest.WaitFor(30*time.Second, func() (bool, error) {
			r, err = c.QueueReplicas("/", room.Stream)
			return err == nil && r.Leader != nil && len(r.Members) > 0 && len(r.Online) == len(r.Members), err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Members) != tt.members {
			t.Errorf("Replicas %d: room stream has %d members, want %d", tt.replicas, len(r.Members), tt.members)
		}
		t.Logf("Replicas %d: %d members, led by %s", tt.replicas, len(r.Members), r.Leader.Name)
	}
}
