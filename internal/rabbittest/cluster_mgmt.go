package rabbittest

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"
)

// The management API of any cluster node reports on the whole cluster:
// every node's connections (with the node each is on), every queue with
// its replicas. The helpers below ask the first running node that answers.

// MgmtGet GETs path from the management API of the first running node
// that answers and decodes the JSON answer into out.
func (c *Cluster) MgmtGet(path string, out any) error {
	var errs []error
	for _, n := range c.Running() {
		err := n.MgmtGet(path, out)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return errors.New("rabbittest: no cluster node is running")
	}
	return errors.Join(errs...)
}

// Connections lists the client connections of every running node;
// Connection.Node says which node each is on.
func (c *Cluster) Connections() ([]Connection, error) {
	var out []Connection
	err := c.MgmtGet("/api/connections", &out)
	return out, err
}

// ConnectionNode returns the node that the client connection from local
// port peerPort on 127.0.0.1 is connected to (a relay's upstream, say),
// waiting up to timeout for the management statistics to list it. It fails
// if no connection, or more than one, has that peer port.
func (c *Cluster) ConnectionNode(peerPort int, timeout time.Duration) (*Node, error) {
	var found *Node
	err := WaitFor(timeout, func() (bool, error) {
		conns, err := c.Connections()
		if err != nil {
			return false, err
		}
		var on []string
		for _, conn := range conns {
			if conn.PeerPort == peerPort && conn.PeerHost == "127.0.0.1" {
				on = append(on, conn.Node)
			}
		}
		switch {
		case len(on) == 0:
			return false, fmt.Errorf("no connection from 127.0.0.1:%d among %d", peerPort, len(conns))
		case len(on) > 1:
			return false, fmt.Errorf("%d connections from 127.0.0.1:%d, on %v", len(on), peerPort, on)
		}
		if found = c.Node(on[0]); found == nil {
			return false, fmt.Errorf("connection from 127.0.0.1:%d is on %s, not a node of this cluster", peerPort, on[0])
		}
		return true, nil
	})
	return found, err
}

// Replicas says where a replicated queue (a stream or a quorum queue)
// lives.
type Replicas struct {
	// Leader is the node that leads the queue: every write goes through
	// it. Nil while the queue has no leader online.
	Leader *Node
	// Members are the nodes that hold a replica, running or not.
	Members []*Node
	// Online are the members whose replica runs.
	Online []*Node
}

// queueReplicas is the part of GET /api/queues/VHOST/NAME that Replicas
// reads. RabbitMQ 3.10 reports "leader" for quorum queues only; for a
// stream, "node" is its leader's node. "members" and "online" are there
// for both.
type queueReplicas struct {
	Type    string   `json:"type"`
	Node    string   `json:"node"`
	Leader  string   `json:"leader"`
	Members []string `json:"members"`
	Online  []string `json:"online"`
}

// QueueReplicas reports the leader, members and online members of the
// stream or quorum queue name in vhost. A classic queue has no replicas:
// asking for one is an error.
func (c *Cluster) QueueReplicas(vhost, name string) (Replicas, error) {
	var q queueReplicas
	if err := c.MgmtGet("/api/queues/"+url.PathEscape(vhost)+"/"+url.PathEscape(name), &q); err != nil {
		return Replicas{}, err
	}
	if q.Type != "stream" && q.Type != "quorum" {
		return Replicas{}, fmt.Errorf("rabbittest: queue %q in vhost %q is a %s queue, not replicated", name, vhost, q.Type)
	}
	var r Replicas
	var err error
	if r.Members, err = c.nodesNamed(q.Members); err != nil {
		return r, err
	}
	if r.Online, err = c.nodesNamed(q.Online); err != nil {
		return r, err
	}
	leader := q.Leader
	if leader == "" {
		leader = q.Node
	}
	if slices.Contains(q.Online, leader) {
		r.Leader = c.Node(leader)
	}
	return r, nil
}

// StreamLeader returns the node that leads the stream (or quorum queue)
// name in vhost, or an error while it has no leader online.
func (c *Cluster) StreamLeader(vhost, name string) (*Node, error) {
	r, err := c.QueueReplicas(vhost, name)
	if err != nil {
		return nil, err
	}
	if r.Leader == nil {
		return nil, fmt.Errorf("rabbittest: queue %q in vhost %q has no leader online (online: %v)", name, vhost, names(r.Online))
	}
	return r.Leader, nil
}

// nodesNamed maps Erlang node names to the cluster's nodes, in the
// cluster's node order.
func (c *Cluster) nodesNamed(list []string) ([]*Node, error) {
	var out []*Node
	for _, n := range c.nodes {
		if slices.Contains(list, n.Name) {
			out = append(out, n)
		}
	}
	if len(out) != len(list) {
		return out, fmt.Errorf("rabbittest: nodes %v are not all of this cluster (%v)", list, names(c.nodes))
	}
	return out, nil
}
