package relay

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
)

// rawConn is a plain STOMP 1.2 connection to the test node, without the
// relay: it shows what RabbitMQ itself does.
type rawConn struct {
	t   *testing.T
	nc  net.Conn
	dec *stomp.Decoder
	buf []byte
}

func dialRaw(t *testing.T, n *rabbittest.Node) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", n.STOMPAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawConn{t: t, nc: nc, dec: stomp.NewDecoder(stomp.Limits{}), buf: make([]byte, 4096)}
	c.write(stomp.New(stomp.CONNECT, "accept-version", "1.2", "host", "/", "login", "guest", "passcode", "guest"))
	if f, err := c.read(10 * time.Second); err != nil || f.Command != stomp.CONNECTED {
		t.Fatalf("CONNECT: %v %v", f, err)
	}
	return c
}

func (c *rawConn) write(f *stomp.Frame) {
	c.t.Helper()
	if _, err := c.nc.Write(f.Encode(stomp.V12)); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next frame, or the read error (io.EOF once RabbitMQ
// has closed the connection).
func (c *rawConn) read(d time.Duration) (*stomp.Frame, error) {
	deadline := time.Now().Add(d)
	for {
		f, err := c.dec.Next()
		if err != nil || f != nil {
			return f, err
		}
		_ = c.nc.SetReadDeadline(deadline)
		n, err := c.nc.Read(c.buf)
		if n > 0 {
			if err := c.dec.Feed(c.buf[:n]); err != nil {
				return nil, err
			}
		}
		if err != nil && n == 0 {
			return nil, err
		}
	}
}

// next returns the next frame with the given command, skipping others.
func (c *rawConn) next(command string) *stomp.Frame {
	c.t.Helper()
	for {
		f, err := c.read(10 * time.Second)
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", command, err)
		}
		if f.Command == command {
			return f
		}
	}
}

// What RabbitMQ 3.10 does that makes the relay rewrite MESSAGE ids and
// check every ACK: its ids name its session, the subscription and a
// delivery counter; a MESSAGE carries the receipt and transaction headers
// of the SEND it came from; and an ACK naming a delivery tag the channel
// does not hold gets ERROR precondition_failed and closes the connection,
// which behind the relay would be every client's.
func TestRabbitFactsAckIDs(t *testing.T) {
	n := rabbittest.Require(t, node)
	c := dialRaw(t, n)
	q := "/queue/fact-" + unique()
	c.write(stomp.New(stomp.SUBSCRIBE, "id", "sub", "destination", q, "ack", "client-individual", "receipt", "r1"))
	c.next(stomp.RECEIPT)
	c.write(stomp.New(stomp.BEGIN, "transaction", "tx9"))
	c.write(stomp.New(stomp.SEND, "destination", q, "transaction", "tx9", "receipt", "r2"))
	c.write(stomp.New(stomp.COMMIT, "transaction", "tx9"))
	m := c.next(stomp.MESSAGE)
	ack := m.Header("ack")
	if !strings.HasPrefix(ack, "T_sub@@session-") || m.Header("message-id") != ack ||
		m.Header("receipt") != "r2" || m.Header("transaction") != "tx9" {
		t.Fatalf("RabbitMQ MESSAGE headers changed: %v", m.Headers)
	}
	forged := ack[:strings.LastIndex(ack, "@@")] + "@@999"
	c.write(stomp.New(stomp.ACK, "id", forged))
	e := c.next(stomp.ERROR)
	if e.Header("message") != "precondition_failed" || !strings.Contains(string(e.Body), "unknown delivery tag") {
		t.Fatalf("ACK of an unknown delivery tag: %v %q", e.Headers, e.Body)
	}
	for {
		if _, err := c.read(10 * time.Second); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("RabbitMQ kept the connection open after the unknown delivery tag")
			}
			return // closed, as the relay expects
		}
	}
}

// What RabbitMQ 3.10 does with the deliveries of a cancelled consumer,
// which decides how the relay gives them back (settle.go): a NACK under
// the cancelled subscription's id is refused, a NACK before the
// UNSUBSCRIBE sends the messages straight back to it (they arrive as
// ERRORs once the cancel has landed, as MESSAGEs before, and stay
// unacknowledged either way), and a NACK under the id of another
// live subscription on the connection requeues them, marked redelivered.
func TestRabbitFactsCancelledDeliveries(t *testing.T) {
	n := rabbittest.Require(t, node)
	// setup subscribes s1 to a fresh queue and takes 3 messages unacked.
	setup := func() (*rawConn, string, []string) {
		c := dialRaw(t, n)
		q := "/queue/fact-" + unique()
		c.write(stomp.New(stomp.SUBSCRIBE, "id", "s1", "destination", q, "ack", "client-individual", "receipt", "r1"))
		c.next(stomp.RECEIPT)
		var ids []string
		for _, b := range []string{"a", "b", "c"} {
			c.write(&stomp.Frame{Command: stomp.SEND, Headers: stomp.Headers{{Key: "destination", Value: q}}, Body: []byte(b)})
		}
		for range 3 {
			ids = append(ids, c.next(stomp.MESSAGE).Header("ack"))
		}
		return c, q, ids
	}
	// expect reads frames until the receipt "end", which the caller asks
	// for last, and checks their commands and ERROR bodies.
	expect := func(c *rawConn, want []string) {
		t.Helper()
		var got []string
		for {
			f := c.nextFrame()
			if f.Command == stomp.RECEIPT && f.Header("receipt-id") == "end" {
				break
			}
			got = append(got, f.Command+" "+string(f.Body))
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	end := func(c *rawConn) { c.write(stomp.New(stomp.BEGIN, "transaction", "end", "receipt", "end")) }

	c, _, ids := setup()
	c.write(stomp.New(stomp.UNSUBSCRIBE, "id", "s1"))
	c.write(stomp.New(stomp.NACK, "id", ids[0]))
	end(c)
	expect(c, []string{fmt.Sprintf("ERROR Message with id %q has no subscription", ids[0])})

	c, q, ids := setup()
	for _, id := range ids {
		c.write(stomp.New(stomp.NACK, "id", id))
	}
	c.write(stomp.New(stomp.UNSUBSCRIBE, "id", "s1", "receipt", "u"))
	// each redelivery reaches s1 as a MESSAGE while it is live, or as
	// this ERROR once the cancel has landed; when is up to the queue
	noSub := "ERROR There is no current subscription with tag 'T_s1'."
	for back := 0; back < 3; {
		f := c.nextFrame()
		switch got := f.Command + " " + string(f.Body); {
		case f.Command == stomp.RECEIPT && f.Header("receipt-id") == "u":
		case got == noSub || f.Command == stomp.MESSAGE && f.Header("redelivered") == "true":
			back++
		default:
			t.Fatalf("after NACK, UNSUBSCRIBE: got %q %v", got, f.Headers)
		}
	}
	if err := rabbittest.WaitFor(mgmtWait, queueIs(n, strings.TrimPrefix(q, "/queue/"), 0, 3)); err != nil {
		t.Fatalf("the 3 redeliveries do not stay unacknowledged: %v", err)
	}

	c, q, ids = setup()
	c.write(stomp.New(stomp.SUBSCRIBE, "id", "s2", "destination", q+"-other", "receipt", "r2"))
	c.next(stomp.RECEIPT)
	c.write(stomp.New(stomp.UNSUBSCRIBE, "id", "s1"))
	for _, id := range ids {
		c.write(stomp.New(stomp.NACK, "id", strings.Replace(id, "T_s1@@", "T_s2@@", 1)))
	}
	end(c)
	expect(c, nil)
	c2 := dialRaw(t, n)
	c2.write(stomp.New(stomp.SUBSCRIBE, "id", "z", "destination", q))
	for _, b := range []string{"a", "b", "c"} {
		m := c2.next(stomp.MESSAGE)
		if string(m.Body) != b || m.Header("redelivered") != "true" {
			t.Fatalf("given back: %v %q, want %q redelivered", m.Headers, m.Body, b)
		}
	}
}

// nextFrame returns the next frame of any command.
func (c *rawConn) nextFrame() *stomp.Frame {
	c.t.Helper()
	f, err := c.read(10 * time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	return f
}
