package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
)

// portDialer dials TCP and remembers the local ports of the relay's
// connections, to find them in the management API.
type portDialer struct {
	mu    sync.Mutex
	ports map[int]bool
}

func (d *portDialer) Dial(ctx context.Context, addr string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	if d.ports == nil {
		d.ports = make(map[int]bool)
	}
	d.ports[c.LocalAddr().(*net.TCPAddr).Port] = true
	d.mu.Unlock()
	return c, nil
}

func (d *portDialer) has(port int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ports[port]
}

// startRabbit runs a ready relay against the test node.
func startRabbit(t *testing.T, n *rabbittest.Node, tweak func(*Config)) (*Relay, *portDialer) {
	t.Helper()
	pd := &portDialer{}
	cfg := Config{
		Addresses:    []string{n.STOMPAddr()},
		Login:        "guest",
		Passcode:     "guest",
		Dial:         pd.Dial,
		ReconnectMin: 50 * time.Millisecond,
		ReconnectMax: 500 * time.Millisecond,
		Logger:       testLogger(t),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	r := New(cfg)
	r.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	return r, pd
}

// unique returns a name suffix unique to this run.
func unique() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// relayConnections counts the node's connections made by the relay.
func relayConnections(n *rabbittest.Node, pd *portDialer) (int, error) {
	conns, err := n.Connections()
	if err != nil {
		return 0, err
	}
	k := 0
	for _, c := range conns {
		if pd.has(c.PeerPort) {
			k++
		}
	}
	return k, nil
}

// topicQueues returns the queues bound to amq.topic with routing key key
// (RabbitMQ's STOMP plugin makes one per /topic subscription).
func topicQueues(n *rabbittest.Node, key string) (map[string]bool, error) {
	bs, err := n.Bindings()
	if err != nil {
		return nil, err
	}
	qs := make(map[string]bool)
	for _, b := range bs {
		if b.Source == "amq.topic" && b.RoutingKey == key && b.DestinationType == "queue" {
			qs[b.Destination] = true
		}
	}
	return qs, nil
}

// consumersOn counts consumers of the named queues.
func consumersOn(n *rabbittest.Node, queues map[string]bool) (int, error) {
	cs, err := n.Consumers()
	if err != nil {
		return 0, err
	}
	k := 0
	for _, c := range cs {
		if queues[c.Queue.Name] {
			k++
		}
	}
	return k, nil
}

// publishPaced publishes "m0" .. "m<total-1>" to dest on a goroutine of
// its own, at most 8 awaiting the broker's confirmation at a time; the
// first failure comes on errs, and wait waits for the goroutine.
func publishPaced(r *Relay, dest string, total int) (errs <-chan error, wait func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	pubErr := make(chan error, 1)
	// goroutine: owns the publishing of all total messages
	go func() {
		defer wg.Done()
		sem := make(chan struct{}, 8)
		for i := range total {
			sem <- struct{}{}
			if err := r.Publish(dest, nil, []byte(fmt.Sprint("m", i)), func(error) { <-sem }); err != nil {
				pubErr <- err
				return
			}
		}
	}()
	return pubErr, wg.Wait
}
