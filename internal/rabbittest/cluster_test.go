package rabbittest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Cluster tests share one lazily started 3-node cluster (RequireCluster);
// TestMain (Main) stops it at the end.

// TestClusterForms: the shared cluster has three distinct nodes, each of
// which lists all three as members and running; each answers STOMP; the
// management API of node 1 knows which node each client is on; and
// messages cross nodes.
func TestClusterForms(t *testing.T) {
	c := RequireCluster(t)
	t.Logf("cluster of %d started in %v (nodes up in %v, joined in %v)",
		len(c.Nodes()), c.Started.Round(time.Millisecond), c.Booted.Round(time.Millisecond), (c.Started - c.Booted).Round(time.Millisecond))
	nodes := c.Nodes()
	if len(nodes) != DefaultClusterSize {
		t.Fatalf("%d nodes, want %d", len(nodes), DefaultClusterSize)
	}
	ports := map[int]string{}
	for _, n := range nodes {
		t.Logf("%s: last start %v, stomp %s, amqp %s", n.Name, n.Started.Round(time.Millisecond), n.STOMPAddr(), n.AMQPAddr())
		for _, p := range []int{n.AMQPPort, n.STOMPPort, n.WebSTOMPPort, n.MgmtPort, n.DistPort} {
			if other, dup := ports[p]; dup {
				t.Fatalf("port %d used by %s and %s", p, other, n.Name)
			}
			ports[p] = n.Name
		}
		if c.Node(n.Name) != n {
			t.Errorf("Node(%q) does not find it", n.Name)
		}
		st, err := n.ClusterStatus()
		if err != nil {
			t.Fatal(err)
		}
		if !sameSet(st.DiskNodes, names(nodes)) || !sameSet(st.RunningNodes, names(nodes)) {
			t.Errorf("%s sees members %v running %v, want all of %v", n.Name, st.DiskNodes, st.RunningNodes, names(nodes))
		}
		if err := n.PingSTOMP(); err != nil {
			t.Errorf("%s: %v", n.Name, err)
		}
	}
	if c.Node("nobody@localhost") != nil {
		t.Error("Node finds a stranger")
	}
	for i, n := range nodes {
		if c.STOMPAddrs()[i] != n.STOMPAddr() || c.AMQPAddrs()[i] != n.AMQPAddr() || c.WebSTOMPURLs()[i] != n.WebSTOMPURL() {
			t.Errorf("addresses of node %d: %v %v %v", i+1, c.STOMPAddrs(), c.AMQPAddrs(), c.WebSTOMPURLs())
		}
	}
	for _, n := range nodes {
		s := dialSTOMP(t, n)
		port := s.c.LocalAddr().(*net.TCPAddr).Port
		got, err := c.ConnectionNode(port, 15*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Errorf("connection to %s reported on %s", n.Name, got.Name)
		}
	}
	if n, err := c.ConnectionNode(1, time.Second); err == nil {
		t.Errorf("a connection from port 1 found on %s", n.Name)
	}
	roundTrip(t, nodes[0], nodes[2], "/topic/cluster.forms")
	roundTrip(t, nodes[2], nodes[1], "/topic/cluster.forms")
}

// TestClusterStreamReplicas: a stream declared with x-initial-cluster-size
// 3 has a replica on every node, all online, and a leader; one declared
// with size 1 has exactly one, its leader. A classic queue has no replicas.
func TestClusterStreamReplicas(t *testing.T) {
	c := RequireCluster(t)
	nodes := c.Nodes()
	declareQueue(t, c, nodes[1], "cluster.replicas3", amqp.Table{"x-queue-type": "stream", "x-initial-cluster-size": 3})
	declareQueue(t, c, nodes[1], "cluster.replicas1", amqp.Table{"x-queue-type": "stream", "x-initial-cluster-size": 1})
	declareQueue(t, c, nodes[1], "cluster.classic", nil)

	r3 := waitReplicas(t, c, "cluster.replicas3", nodes)
	if !sameSet(names(r3.Members), names(nodes)) {
		t.Errorf("members %v, want %v", names(r3.Members), names(nodes))
	}
	leader, err := c.StreamLeader("/", "cluster.replicas3")
	if err != nil || leader != r3.Leader {
		t.Errorf("StreamLeader = %v, %v; QueueReplicas says %v", leader, err, r3.Leader)
	}
	t.Logf("stream of 3 led by %v", r3.Leader)

	var r1 Replicas
	err = WaitFor(30*time.Second, func() (bool, error) {
		r1, err = c.QueueReplicas("/", "cluster.replicas1")
		return err == nil && len(r1.Online) == 1 && r1.Leader != nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(r1.Members) != 1 || r1.Leader != r1.Members[0] {
		t.Errorf("stream of 1: members %v, leader %v", names(r1.Members), r1.Leader)
	}
	if _, err := c.QueueReplicas("/", "cluster.classic"); err == nil || !strings.Contains(err.Error(), "not replicated") {
		t.Errorf("QueueReplicas of a classic queue: %v", err)
	}
	if _, err := c.StreamLeader("/", "cluster.missing"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("StreamLeader of a missing queue: %v", err)
	}
}

// TestClusterStopNodeAndRejoin stops (cleanly) the node that leads a
// stream: the other two still form a cluster, carry STOMP messages between
// them and elect a new stream leader; the node then starts again on its
// data, rejoins, carries messages and its replica comes back online.
func TestClusterStopNodeAndRejoin(t *testing.T) {
	c := RequireCluster(t)
	nodes := c.Nodes()
	declareQueue(t, c, nodes[1], "cluster.stop", amqp.Table{"x-queue-type": "stream", "x-initial-cluster-size": 3})
	lost := waitReplicas(t, c, "cluster.stop", nodes).Leader
	rest := without(nodes, lost)

	begin := time.Now()
	if err := c.StopNode(lost); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopping stream leader %s took %v (until the others saw it gone)", lost.Name, time.Since(begin).Round(time.Millisecond))
	checkDown(t, c, lost, rest)
	roundTrip(t, rest[0], rest[1], "/topic/cluster.stop")
	roundTrip(t, rest[1], rest[0], "/topic/cluster.stop")
	r := waitReplicas(t, c, "cluster.stop", rest)
	if !slices.Contains(rest, r.Leader) || len(r.Members) != len(nodes) {
		t.Fatalf("after the stop: leader %v, members %v", r.Leader, names(r.Members))
	}
	t.Logf("new stream leader %v", r.Leader)

	begin = time.Now()
	if err := c.StartNode(lost); err != nil {
		t.Fatal(err)
	}
	t.Logf("starting %s again took %v (until all saw it running)", lost.Name, time.Since(begin).Round(time.Millisecond))
	checkWhole(t, c)
	roundTrip(t, lost, rest[0], "/topic/cluster.stop")
	roundTrip(t, rest[1], lost, "/topic/cluster.stop")
	waitReplicas(t, c, "cluster.stop", nodes)
}

// TestClusterKillNodeAndRejoin kills one node (kill -9): its clients lose
// their connection, its port refuses, the other two carry on as a cluster;
// the node starts again on its data and rejoins.
func TestClusterKillNodeAndRejoin(t *testing.T) {
	c := RequireCluster(t)
	nodes := c.Nodes()
	lost := nodes[len(nodes)-1]
	rest := without(nodes, lost)
	victim := dialSTOMP(t, lost)

	begin := time.Now()
	if err := c.KillNode(lost); err != nil {
		t.Fatal(err)
	}
	t.Logf("killing %s took %v (until the others saw it gone)", lost.Name, time.Since(begin).Round(time.Millisecond))
	_, err := victim.readErr()
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("a client of the killed node still has its connection: %v", err)
	}
	checkDown(t, c, lost, rest)
	if err := lost.Kill(); err != nil {
		t.Fatalf("second Kill: %v", err)
	}
	roundTrip(t, rest[0], rest[1], "/topic/cluster.kill")

	begin = time.Now()
	if err := c.StartNode(lost); err != nil {
		t.Fatal(err)
	}
	t.Logf("starting %s again took %v (until all saw it running)", lost.Name, time.Since(begin).Round(time.Millisecond))
	if err := lost.StartAgain(); err == nil {
		t.Fatal("StartAgain of a running node succeeded")
	}
	checkWhole(t, c)
	roundTrip(t, lost, rest[0], "/topic/cluster.kill")
}

// TestReapStaleClusterNode: a node one directory down in a shared-cluster
// directory whose owner process is gone (a SIGKILLed test binary) is
// killed by reapStale, and the directory removed; Main and MainCluster run
// reapStale before they start anything.
func TestReapStaleClusterNode(t *testing.T) {
	Require(t, node)
	if testing.Short() {
		t.Skip("starts another node")
	}
	dir, err := os.MkdirTemp("", tempPattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n, err := Start(filepath.Join(dir, "node1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop() })
	reapStale() // the owner (this process) lives: nothing happens
	if !n.Running() {
		t.Fatal("reapStale killed a node whose owner lives")
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	owner := []byte(fmt.Sprintf("%d\n", gone.Process.Pid))
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), owner, 0o644); err != nil {
		t.Fatal(err)
	}
	reapStale()
	err = WaitFor(15*time.Second, func() (bool, error) {
		_, statErr := os.Stat(dir)
		return !n.Running() && os.IsNotExist(statErr), nil
	})
	if err != nil {
		t.Fatalf("node running %v, directory left: %v", n.Running(), err)
	}
	if err := node.PingSTOMP(); err != nil {
		t.Fatalf("the package's node was hurt: %v", err)
	}
}

// checkDown checks that lost is down and that each of rest sees the
// cluster as all members, rest running.
func checkDown(t *testing.T, c *Cluster, lost *Node, rest []*Node) {
	t.Helper()
	if lost.Running() || slices.Contains(c.Running(), lost) {
		t.Fatalf("%s still running", lost.Name)
	}
	if conn, err := net.DialTimeout("tcp", lost.STOMPAddr(), 2*time.Second); err == nil {
		conn.Close()
		t.Fatalf("%s still accepts STOMP connections", lost.Name)
	}
	for _, n := range rest {
		st, err := n.ClusterStatus()
		if err != nil {
			t.Fatal(err)
		}
		if !sameSet(st.DiskNodes, names(c.Nodes())) || !sameSet(st.RunningNodes, names(rest)) {
			t.Fatalf("%s sees members %v running %v, want members %v running %v",
				n.Name, st.DiskNodes, st.RunningNodes, names(c.Nodes()), names(rest))
		}
	}
}

// checkWhole checks that every node runs and sees all nodes running.
func checkWhole(t *testing.T, c *Cluster) {
	t.Helper()
	for _, n := range c.Nodes() {
		st, err := n.ClusterStatus()
		if err != nil {
			t.Fatal(err)
		}
		if !sameSet(st.RunningNodes, names(c.Nodes())) {
			t.Fatalf("%s sees running %v, want %v", n.Name, st.RunningNodes, names(c.Nodes()))
		}
		if err := n.PingSTOMP(); err != nil {
			t.Fatalf("%s: %v", n.Name, err)
		}
	}
}

// roundTrip subscribes to topic dest on node sub, sends a message to it on
// node pub and expects it on sub within 10 s.
func roundTrip(t *testing.T, sub, pub *Node, dest string) {
	t.Helper()
	s := dialSTOMP(t, sub)
	s.send("SUBSCRIBE\nid:s1\ndestination:" + dest + "\nreceipt:r1\n\n")
	if f := s.read(); !strings.HasPrefix(f, "RECEIPT\n") {
		t.Fatalf("want RECEIPT on %s, got %q", sub.Name, f)
	}
	body := fmt.Sprintf("from %s to %s at %d", pub.Name, sub.Name, time.Now().UnixNano())
	p := dialSTOMP(t, pub)
	p.send("SEND\ndestination:" + dest + "\n\n" + body)
	if f := s.read(); !strings.HasPrefix(f, "MESSAGE\n") || !strings.HasSuffix(f, "\n\n"+body) {
		t.Fatalf("want MESSAGE %q on %s, got %q", body, sub.Name, f)
	}
}

// declareQueue declares a durable queue over AMQP on node n and deletes it
// when the test ends.
func declareQueue(t *testing.T, c *Cluster, n *Node, name string, args amqp.Table) {
	t.Helper()
	n.WithChannel(t, func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare(name, true, false, false, false, args)
		return err
	})
	t.Cleanup(func() {
		c.Running()[0].WithChannel(t, func(ch *amqp.Channel) error {
			_, err := ch.QueueDelete(name, false, false, false)
			return err
		})
	})
}

// waitReplicas waits (30 s) until the replicated queue name has a leader
// and exactly the nodes online as online members.
func waitReplicas(t *testing.T, c *Cluster, name string, online []*Node) Replicas {
	t.Helper()
	var r Replicas
	err := WaitFor(30*time.Second, func() (bool, error) {
		var err error
		r, err = c.QueueReplicas("/", name)
		if err != nil {
			return false, err
		}
		if r.Leader == nil || !sameSet(names(r.Online), names(online)) {
			return false, fmt.Errorf("leader %v, online %v, want online %v", r.Leader, names(r.Online), names(online))
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("queue %s: %v", name, err)
	}
	return r
}

func without(nodes []*Node, n *Node) []*Node {
	return slices.DeleteFunc(slices.Clone(nodes), func(x *Node) bool { return x == n })
}

// TestClusterRejoinFromEmpty: the harness's way out of a join that left a
// node unable to reset (startEmpty) yields a member again: the node is
// forgotten, wiped, started empty and joined, and serves as before.
func TestClusterRejoinFromEmpty(t *testing.T) {
	c := RequireCluster(t)
	nodes := c.Nodes()
	n := nodes[len(nodes)-1]
	if err := n.startEmpty(nodes[0]); err != nil {
		t.Fatal(err)
	}
	if err := joinOnce(n, nodes[0], false); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitFormed(ClusterTimeout); err != nil {
		t.Fatal(err)
	}
	checkWhole(t, c)
	roundTrip(t, n, nodes[0], "/topic/cluster.rejoin")
}
