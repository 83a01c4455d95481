package rabbitstore

import (
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/rooms"
	"chatrelay/internal/testkit"
)

// The AMQP client over several addresses: a dead node, listed first, must
// cost no operation more than one dial, and none once another address
// worked; a dropped connection moves on to the next address.

// closedAddr returns a loopback host:port that refuses connections: a
// listener's port, closed again.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentNode is a host:port that accepts TCP connections and never says
// a word, as a hung node: an AMQP dial to it lasts its whole timeout.
type silentNode struct {
	addr     string
	accepted atomic.Int64
}

func newSilentNode(t *testing.T) *silentNode {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentNode{addr: l.Addr().String()}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		// owns the listener's accept loop; the accepted connections
		// are held open, unread, until the test ends
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return s
}

// urlOf is the test node's AMQP URL at host:port.
func urlOf(t *testing.T, hostPort string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return AMQPURL(host, p, "guest", "guest", "/")
}

// first makes a store dial its first URL first.
func first(int) int { return 0 }

// followSynced follows room, which holds messages 1..n-1, on rp from its
// last 5 messages, which needs the feed to sync on a marker published
// over AMQP, sends message n and waits for it.
func followSynced(t *testing.T, rp *replica, room rooms.Room, n int) {
	t.Helper()
	f := newFollower()
	stop, err := rp.s.Follow(testCtx(t), room.ID, rooms.Start{Last: 5, After: -1}, f.deliver)
	if err != nil {
		t.Fatalf("follow: %v", err)
	}
	defer stop()
	rp.send(t, room.ID, n)
	if got, want := nums(f.wait(t, min(n-1, 5)+1)), seq(max(n-5, 1), n); !slices.Equal(got, want) {
		t.Fatalf("followed %v, want %v", got, want)
	}
}

// streamExists reports whether the node has the queue.
func streamExists(n *rabbittest.Node, name string) (bool, error) {
	queues, err := n.Queues()
	return slices.ContainsFunc(queues, func(q rabbittest.Queue) bool { return q.Name == name }), err
}

func TestRoomsWithDeadFirstAMQPAddress(t *testing.T) {
	n := rabbittest.Require(t, node)
	a := newReplica(t, n, func(o *Options) {
		o.AMQPURLs = []string{urlOf(t, closedAddr(t)), urlOf(t, n.AMQPAddr())}
		o.Start = first
	})
	b := newReplica(t, n, nil)
	if got := a.s.amqp.address(); got != n.AMQPAddr() {
		t.Fatalf("AMQP connection at %q, want %q", got, n.AMQPAddr())
	}
	room := roomWith(t, a, 3)
	if ok, err := streamExists(n, room.Stream); !ok || err != nil {
		t.Fatalf("no stream for the room: %v", err)
	}
	followSynced(t, a, room, 4)
	testkit.Eventually(t, 5*time.Second, "the room on the other replica", func() bool { _, ok := b.s.Get(room.ID); return ok })
	if err := a.s.Delete(testCtx(t), room.ID); err != nil {
		t.Fatal(err)
	}
	if err := rabbittest.WaitFor(10*time.Second, func() (bool, error) {
		ok, err := streamExists(n, room.Stream)
		return !ok, err
	}); err != nil {
		t.Fatalf("the stream outlived its room: %v", err)
	}
	// the connection is named after the replica's host and process
	host, _ := os.Hostname()
	name := defaultConnectionName()
	if !strings.Contains(name, host) || !strings.Contains(name, strconv.Itoa(os.Getpid())) {
		t.Fatalf("connection name %q names neither host %q nor pid", name, host)
	}
	if err := rabbittest.WaitFor(10*time.Second, func() (bool, error) {
		conns, err := n.Connections()
		return slices.ContainsFunc(conns, func(c rabbittest.Connection) bool {
			return c.Protocol == "AMQP 0-9-1" && c.ClientProperties["connection_name"] == name
		}), err
	}); err != nil {
		t.Fatalf("no AMQP connection named %q: %v", name, err)
	}
}

func TestHungFirstAMQPAddressCostsOneDial(t *testing.T) {
	n := rabbittest.Require(t, node)
	hung := newSilentNode(t)
	const dialTimeout = time.Second
	began := time.Now()
	a := newReplica(t, n, func(o *Options) {
		o.AMQPURLs = []string{urlOf(t, hung.addr), urlOf(t, n.AMQPAddr())}
		o.Start = first
		o.DialTimeout = dialTimeout
	})
	if took := time.Since(began); took < dialTimeout {
		t.Fatalf("the store started in %v, before a dial to the hung node could time out", took)
	}
	if got := hung.accepted.Load(); got != 1 {
		t.Fatalf("the hung node was dialled %d times at start, want 1", got)
	}
	// once the live node answered, no operation goes back to the hung one
	var made []rooms.Room
	for range 3 {
		made = append(made, roomWith(t, a, 1))
	}
	followSynced(t, a, made[0], 2)
	if err := a.s.Delete(testCtx(t), made[1].ID); err != nil {
		t.Fatal(err)
	}
	if got := hung.accepted.Load(); got != 1 {
		t.Fatalf("the hung node was dialled %d times in all, want 1", got)
	}
}

func TestAMQPConnectionLossMovesToNextAddress(t *testing.T) {
	n := rabbittest.Require(t, node)
	port := strconv.Itoa(n.AMQPPort)
	name := "chatrelay rooms test " + newNonce()[:8]
	// two addresses of the one node: which one is in use shows the order
	a := newReplica(t, n, func(o *Options) {
		o.AMQPURLs = []string{urlOf(t, "127.0.0.1:"+port), urlOf(t, "localhost:"+port)}
		o.Start = first
		o.ConnectionName = name
	})
	if got := a.s.amqp.address(); got != "127.0.0.1:"+port {
		t.Fatalf("AMQP connection at %q, want the first address", got)
	}
	var mgmtName string
	if err := rabbittest.WaitFor(10*time.Second, func() (bool, error) {
		conns, err := n.Connections()
		for _, c := range conns {
			if c.ClientProperties["connection_name"] == name {
				mgmtName = c.Name
			}
		}
		return mgmtName != "", err
	}); err != nil {
		t.Fatalf("no connection named %q: %v", name, err)
	}
	if err := n.CloseConnection(mgmtName); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the client to see its connection closed", func() bool { return a.s.amqp.address() == "" })
	room := roomWith(t, a, 1)
	if got := a.s.amqp.address(); got != "localhost:"+port {
		t.Fatalf("after the loss, AMQP connection at %q, want the next address", got)
	}
	followSynced(t, a, room, 2)
}

func TestAllAMQPAddressesDead(t *testing.T) {
	n := rabbittest.Require(t, node)
	dead1, dead2 := closedAddr(t), closedAddr(t)
	r := newReplica(t, n, nil) // for its relay; its own store works
	_, err := New(testCtx(t), Options{
		Relay:        r.r,
		AMQPURLs:     []string{urlOf(t, dead1), urlOf(t, dead2)},
		ReadyTimeout: 2 * time.Second,
		Logger:       testLogger(t),
	})
	if err == nil || !strings.Contains(err.Error(), dead1) || !strings.Contains(err.Error(), dead2) {
		t.Fatalf("New with dead addresses: %v; want an error naming both", err)
	}
	// the relay and a store on it still work
	followSynced(t, r, roomWith(t, r, 1), 2)
}
