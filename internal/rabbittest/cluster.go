package rabbittest

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"chatrelay/internal/testkit"
)

// ClusterTimeout bounds how long the cluster helpers wait for the nodes to
// agree on who is running: after forming, after a node stops, dies or
// starts again.
const ClusterTimeout = 90 * time.Second

// Cluster is a running cluster of private RabbitMQ nodes on loopback. Each
// node is a Node of its own (name, ports, data directory, logs); they share
// one Erlang cookie and find each other through the machine's epmd (port
// 4369, as single nodes do) and their own distribution ports.
//
// The lifecycle methods (StopNode, KillNode, StartNode, Close) are meant to
// be called from one goroutine at a time.
type Cluster struct {
	// Dir holds one directory per node: node1, node2, ...
	Dir string
	// Started is how long StartCluster took until all nodes ran as one
	// cluster; Booted is the part until every node ran on its own (they
	// start in parallel), the rest is joining them.
	Started, Booted time.Duration

	nodes []*Node
}

// StartCluster wipes dir, then starts n nodes there in parallel, joins
// nodes 2..n to node 1 (rabbitmqctl stop_app, join_cluster, start_app) and
// waits until every node's cluster_status lists all n as running. opts
// apply to every node. On failure every node started is stopped.
func StartCluster(dir string, n int, opts Options) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("rabbittest: a cluster of %d nodes", n)
	}
	binDir, err := FindServer()
	if err != nil {
		return nil, err
	}
	begin := time.Now()
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("rabbittest: wipe %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := testkit.WriteOwner(dir); err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, nodes: make([]*Node, n)}
	ports, err := freePorts(n * portsPerNode)
	if err != nil {
		return nil, err
	}
	cookie := newCookie()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		// this goroutine owns the start of node i+1 and writes only
		// c.nodes[i] and errs[i]
		go func() {
			defer wg.Done()
			c.nodes[i], errs[i] = startClusterNode(binDir, filepath.Join(dir, fmt.Sprintf("node%d", i+1)),
				fmt.Sprintf("n%d", i+1), ports[i*portsPerNode:(i+1)*portsPerNode], cookie, opts)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		_ = c.Close()
		return nil, err
	}
	c.Booted = time.Since(begin)
	// one join at a time: two join_cluster calls side by side once left
	// node 1 listing a node that did not know it had joined
	// (inconsistent_cluster on every retry); each join takes seconds
	for _, node := range c.nodes[1:] {
		if err := join(node, c.nodes[0]); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	if err := c.WaitFormed(ClusterTimeout); err != nil {
		_ = c.Close()
		return nil, err
	}
	c.Started = time.Since(begin)
	return c, nil
}

// startClusterNode starts one stand-alone node with the cluster's cookie,
// on ports, retrying on fresh ports if one was taken meanwhile.
func startClusterNode(binDir, dir, suffix string, ports []int, cookie string, opts Options) (*Node, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			var err error
			if ports, err = freePorts(portsPerNode); err != nil {
				return nil, err
			}
		}
		n := newNode(binDir, dir, uniqueName(suffix), ports, opts)
		if err := n.create(cookie); err != nil {
			return nil, err
		}
		err := n.launch()
		if err == nil {
			return n, nil
		}
		lastErr = err
		if !portTaken(err) {
			break
		}
		fmt.Fprintf(os.Stderr, "rabbittest: a port of cluster node %s was taken before it bound it; retrying on fresh ports\n", suffix)
	}
	return nil, lastErr
}

// newCookie returns a random Erlang cookie (20 capital letters, like the
// ones Erlang makes).
func newCookie() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = 'A' + b[i]%26
	}
	return string(b)
}

// join makes n (a running stand-alone node) a disc node of seed's cluster.
// join_cluster resets n first, so whatever n held is gone. Under load
// RabbitMQ 3.10 sometimes fails a join half-way: the start_app after it
// (mnesia "badmatch ... normal"), or the join itself after seed already
// lists n (inconsistent_cluster). So a retry starts from scratch: n is
// killed, seed forgets it, and n starts again empty; up to three tries.
func join(n, seed *Node) error {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		if attempt > 1 {
			if err := n.startEmpty(seed); err != nil {
				return fmt.Errorf("rabbittest: join %s: %w", n.Name, err)
			}
		}
		if err = joinOnce(n, seed, attempt > 1); err == nil {
			return nil
		}
		fmt.Fprintf(os.Stderr, "rabbittest: join of %s failed (try %d): %v\n", n.Name, attempt, firstLine(err))
	}
	return err
}

// joinOnce runs join_cluster and start_app on n, after stop_app unless
// n was started again empty with its app stopped.
func joinOnce(n, seed *Node, stopped bool) error {
	if !stopped {
		if _, err := n.Ctl("stop_app"); err != nil {
			return fmt.Errorf("rabbittest: join %s: %w", n.Name, err)
		}
	}
	if _, err := n.Ctl("join_cluster", seed.Name); err != nil {
		return fmt.Errorf("rabbittest: join %s to %s: %w\n%s", n.Name, seed.Name, err, n.logTail())
	}
	if err := n.StartApp(); err != nil {
		return fmt.Errorf("rabbittest: join %s: %w", n.Name, err)
	}
	return nil
}

// startEmpty kills n, has seed's cluster forget it (a half-done join may
// have left it a member), wipes its data and starts it again as an empty
// stand-alone node with its app stopped.
func (n *Node) startEmpty(seed *Node) error {
	if err := n.Kill(); err != nil {
		return err
	}
	_, _ = seed.Ctl("forget_cluster_node", n.Name) // not a member: nothing to forget
	if err := os.RemoveAll(n.path("mnesia")); err != nil {
		return err
	}
	if err := os.MkdirAll(n.path("mnesia"), 0o755); err != nil {
		return err
	}
	if err := n.StartAgain(); err != nil {
		return err
	}
	_, err := n.Ctl("stop_app")
	return err
}

// firstLine returns the first line of err's text.
func firstLine(err error) string {
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}

// Nodes returns the cluster's nodes, node 1 first, running or not.
func (c *Cluster) Nodes() []*Node { return slices.Clone(c.nodes) }

// Node returns the node named name (an Erlang node name such as the
// management API reports), or nil.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Running returns the nodes whose process is alive, node 1 first.
func (c *Cluster) Running() []*Node {
	var out []*Node
	for _, n := range c.nodes {
		if n.Running() {
			out = append(out, n)
		}
	}
	return out
}

// STOMPAddrs returns every node's STOMP listener ("127.0.0.1:port"), in
// node order, for broker.addresses.
func (c *Cluster) STOMPAddrs() []string { return c.addrs((*Node).STOMPAddr) }

// AMQPAddrs returns every node's AMQP listener ("127.0.0.1:port"), in node
// order, for broker.amqp_addresses.
func (c *Cluster) AMQPAddrs() []string { return c.addrs((*Node).AMQPAddr) }

// WebSTOMPURLs returns every node's Web-STOMP endpoint, in node order.
func (c *Cluster) WebSTOMPURLs() []string { return c.addrs((*Node).WebSTOMPURL) }

func (c *Cluster) addrs(f func(*Node) string) []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = f(n)
	}
	return out
}

// ClusterStatus is the part of rabbitmqctl cluster_status (JSON) the
// harness reads.
type ClusterStatus struct {
	// DiskNodes are the cluster's members, running or not.
	DiskNodes []string `json:"disk_nodes"`
	// RunningNodes are the members this node sees running.
	RunningNodes []string `json:"running_nodes"`
}

// ClusterStatus asks the node (rabbitmqctl cluster_status) which nodes
// form its cluster and which of them run.
func (n *Node) ClusterStatus() (ClusterStatus, error) {
	var st ClusterStatus
	out, err := n.Ctl("cluster_status", "--formatter", "json")
	if err != nil {
		return st, err
	}
	// rabbitmqctl may print notices before the document.
	if i := strings.IndexByte(out, '{'); i > 0 {
		out = out[i:]
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return st, fmt.Errorf("rabbittest: cluster_status of %s: %w: %s", n.Name, err, out)
	}
	return st, nil
}

// WaitFormed waits (up to timeout) until every node whose process runs
// lists all cluster nodes as members and exactly the running ones as
// running. A node whose application is stopped (StopApp) keeps it from
// ever agreeing.
func (c *Cluster) WaitFormed(timeout time.Duration) error {
	all := names(c.nodes)
	err := WaitFor(timeout, func() (bool, error) {
		running := c.Running()
		want := names(running)
		// each rabbitmqctl takes a second or two to start: ask all at once
		errs := make([]error, len(running))
		var wg sync.WaitGroup
		for i, n := range running {
			wg.Add(1)
			// this goroutine owns one cluster_status call and writes only errs[i]
			go func() {
				defer wg.Done()
				st, err := n.ClusterStatus()
				if err == nil && (!sameSet(st.DiskNodes, all) || !sameSet(st.RunningNodes, want)) {
					err = fmt.Errorf("%s sees members %v running %v, want members %v running %v",
						n.Name, st.DiskNodes, st.RunningNodes, all, want)
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		err := errors.Join(errs...)
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("rabbittest: cluster did not settle: %w", err)
	}
	return nil
}

// StopNode stops one node cleanly (rabbitmqctl stop) and waits until the
// others see it gone; the node stays a member and StartNode brings it back.
func (c *Cluster) StopNode(n *Node) error {
	if err := n.Stop(); err != nil {
		return err
	}
	return c.WaitFormed(ClusterTimeout)
}

// KillNode kills one node (kill -9) and waits until the others see it
// gone; StartNode brings it back.
func (c *Cluster) KillNode(n *Node) error {
	if err := n.Kill(); err != nil {
		return err
	}
	return c.WaitFormed(ClusterTimeout)
}

// StartNode starts a stopped or killed node again on its data directory,
// name and ports, and waits until it has rejoined: every running node
// lists it as running.
func (c *Cluster) StartNode(n *Node) error {
	if err := n.StartAgain(); err != nil {
		return err
	}
	return c.WaitFormed(ClusterTimeout)
}

// Heal starts every node that is not running and waits until all run as
// one cluster. Tests that stop nodes need not leave the cluster whole:
// the shared cluster heals before it is handed out again.
func (c *Cluster) Heal() error {
	var errs []error
	for _, n := range c.nodes {
		if !n.Running() {
			errs = append(errs, n.StartAgain())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return c.WaitFormed(ClusterTimeout)
}

// Close stops every node (in parallel) and removes Dir. Close is
// idempotent.
func (c *Cluster) Close() error {
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		if n == nil {
			continue
		}
		wg.Add(1)
		// this goroutine owns the stop of node i+1 and writes only errs[i]
		go func() {
			defer wg.Done()
			errs[i] = n.Stop()
		}()
	}
	wg.Wait()
	errs = append(errs, os.RemoveAll(c.Dir))
	return errors.Join(errs...)
}

func names(nodes []*Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return out
}

// sameSet reports whether a and b hold the same names, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
