package rabbittest

import (
	"bufio"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

var node *Node

func TestMain(m *testing.M) { os.Exit(Main(m, &node)) }

// stompConn is a raw STOMP client, just enough to exercise the node.
type stompConn struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dialSTOMP(t testing.TB, n *Node) *stompConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", n.STOMPAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := &stompConn{t: t, c: c, r: bufio.NewReader(c)}
	s.send("CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n")
	if f := s.read(); !strings.HasPrefix(f, "CONNECTED\n") {
		t.Fatalf("want CONNECTED, got %q", f)
	}
	return s
}

func (s *stompConn) send(frame string) {
	s.t.Helper()
	if _, err := s.c.Write([]byte(frame + "\x00")); err != nil {
		s.t.Fatal(err)
	}
}

func (s *stompConn) readErr() (string, error) {
	_ = s.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := s.r.ReadString(0)
	return strings.TrimLeft(strings.TrimSuffix(f, "\x00"), "\r\n"), err
}

func (s *stompConn) read() string {
	s.t.Helper()
	f, err := s.readErr()
	if err != nil {
		s.t.Fatalf("read frame: %v", err)
	}
	return f
}

func TestSTOMPRoundTrip(t *testing.T) {
	n := Require(t, node)
	if err := n.PingSTOMP(); err != nil {
		t.Fatal(err)
	}
	s := dialSTOMP(t, n)
	s.send("SUBSCRIBE\nid:s1\ndestination:/topic/harness.roundtrip\nreceipt:r1\n\n")
	if f := s.read(); !strings.HasPrefix(f, "RECEIPT\n") || !strings.Contains(f, "receipt-id:r1") {
		t.Fatalf("want RECEIPT r1, got %q", f)
	}
	s.send("SEND\ndestination:/topic/harness.roundtrip\n\nhello")
	f := s.read()
	if !strings.HasPrefix(f, "MESSAGE\n") || !strings.HasSuffix(f, "\n\nhello") {
		t.Fatalf("want MESSAGE hello, got %q", f)
	}
}

func TestManagementAPI(t *testing.T) {
	n := Require(t, node)
	s := dialSTOMP(t, n)
	s.send("SUBSCRIBE\nid:sub-mgmt\ndestination:/queue/harness.mgmt\nreceipt:r\n\n")
	s.read()
	localPort := s.c.LocalAddr().(*net.TCPAddr).Port

	var conn Connection
	err := WaitFor(10*time.Second, func() (bool, error) {
		conns, err := n.Connections()
		for _, c := range conns {
			if c.PeerPort == localPort {
				conn = c
				return true, nil
			}
		}
		return false, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if conn.User != "guest" || !strings.HasPrefix(conn.Protocol, "STOMP") || conn.PeerHost != "127.0.0.1" {
		t.Fatalf("unexpected connection %+v", conn)
	}

	err = WaitFor(10*time.Second, func() (bool, error) {
		qs, err := n.Queues()
		for _, q := range qs {
			if q.Name == "harness.mgmt" {
				return q.Consumers == 1, nil
			}
		}
		return false, err
	})
	if err != nil {
		t.Fatal(err)
	}
	// /api/consumers is collected apart from /api/queues and can lag it by
	// a statistics interval, and a consumer may be listed before its
	// channel details are filled in: wait for the full record, on our
	// connection.
	var cons []Consumer
	err = WaitFor(30*time.Second, func() (bool, error) {
		var err error
		cons, err = n.Consumers()
		for _, c := range cons {
			if c.Queue.Name == "harness.mgmt" &&
				c.ChannelDetails.ConnectionName == conn.Name && c.ChannelDetails.PeerPort == localPort {
				return true, nil
			}
		}
		return false, err
	})
	if err != nil {
		t.Fatalf("no consumer on harness.mgmt on connection %q (peer port %d) in %+v: %v", conn.Name, localPort, cons, err)
	}
	bs, err := n.Bindings()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, b := range bs {
		found = found || (b.Source == "" && b.Destination == "harness.mgmt" && b.RoutingKey == "harness.mgmt")
	}
	if !found {
		t.Errorf("no default-exchange binding for harness.mgmt in %+v", bs)
	}

	if err := n.CloseConnection(conn.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := s.readErr(); err == nil {
		// RabbitMQ may send an ERROR frame first; the socket must then close.
		if _, err := s.readErr(); err == nil {
			t.Fatal("connection still open after CloseConnection")
		}
	}
}

func TestStopAppStartApp(t *testing.T) {
	n := Require(t, node)
	s := dialSTOMP(t, n)
	begin := time.Now()
	if err := n.StopApp(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stop_app took %v", time.Since(begin).Round(time.Millisecond))
	for {
		if _, err := s.readErr(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("client connection survived stop_app")
			}
			break
		}
	}
	if err := n.PingSTOMP(); err == nil {
		t.Fatal("STOMP still answers after stop_app")
	}
	begin = time.Now()
	if err := n.StartApp(); err != nil {
		t.Fatal(err)
	}
	t.Logf("start_app took %v", time.Since(begin).Round(time.Millisecond))
	dialSTOMP(t, n)
}

func TestWaitForTimeout(t *testing.T) {
	calls := 0
	begin := time.Now()
	err := WaitFor(300*time.Millisecond, func() (bool, error) {
		calls++
		return false, errors.New("not yet")
	})
	if err == nil || !strings.Contains(err.Error(), "not yet") {
		t.Fatalf("want timeout error mentioning the last error, got %v", err)
	}
	if d := time.Since(begin); d < 300*time.Millisecond || d > 5*time.Second || calls < 2 {
		t.Fatalf("WaitFor returned after %v and %d calls", d, calls)
	}
	if err := WaitFor(time.Second, func() (bool, error) { return true, nil }); err != nil {
		t.Fatal(err)
	}
}

// TestSecondNodeConfigWithoutExtension starts another node beside the
// shared one, with RABBITMQ_CONFIG_FILE given without ".conf" (3.10 then
// looks for FILE.config and FILE.conf), and checks Stop really ends it,
// also after StartAgain.
func TestSecondNodeConfigWithoutExtension(t *testing.T) {
	Require(t, node)
	if testing.Short() {
		t.Skip("starts a second node")
	}
	configWithoutExtension = true
	defer func() { configWithoutExtension = false }()
	n, err := Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second node %s started in %v", n.Name, n.Started.Round(time.Millisecond))
	if n.Name == node.Name || n.STOMPPort == node.STOMPPort {
		t.Fatalf("second node clashes with the first: %+v vs %+v", n, node)
	}
	begin := time.Now()
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stop took %v", time.Since(begin).Round(time.Millisecond))
	if !n.hasExited() {
		t.Fatal("process still running after Stop")
	}
	if err := n.PingSTOMP(); err == nil {
		t.Fatal("STOMP still answers after Stop")
	}
	if err := n.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	// Started again, the node must stop again: Stop once ignored a node
	// that had been stopped before (Restart, StartAgain).
	if err := n.StartAgain(); err != nil {
		t.Fatal(err)
	}
	t.Logf("started again in %v", n.Started.Round(time.Millisecond))
	if err := n.StartAgain(); err == nil {
		t.Fatal("StartAgain of a running node succeeded")
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if n.Running() || n.PingSTOMP() == nil {
		t.Fatal("node still running after a Stop that followed StartAgain")
	}
	if err := node.PingSTOMP(); err != nil {
		t.Fatalf("shared node hurt by the second one: %v", err)
	}
}
