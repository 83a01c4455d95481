package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
	"chatrelay/internal/testkit"
)

// TestSlowConsumer: in a room of 50, one client stops reading during a
// burst of 5,000 messages. Its session is closed as a slow consumer (the
// server counts it; the client, once it reads again, finds ERROR "slow
// consumer" and close code 4001) while the other 49 receive all 5,000 in
// order. It runs against the embedded broker and RabbitMQ (where the
// room's messages come from its stream).
func TestSlowConsumer(t *testing.T) {
	testkit.SkipSlow(t, "stalls a client for seconds")
	forEachBroker(t, testSlowConsumer)
}

func testSlowConsumer(t *testing.T, cfg config.Config) {
	const (
		members = 49
		burst   = 5000
	)
	cfg.Limits.SendQueueBytes = 256 << 10
	cfg.Limits.MaxConnectionsPerAddress = 100
	r := start(t, cfg)
	room := createRoom(t, r, unique(t))
	readers := make([]*stomptest.Client, members)
	for i := range readers {
		readers[i] = connect(t, r, fmt.Sprintf("member-%d", i))
		if err := readers[i].Subscribe("s", "/topic/room."+room); err != nil {
			t.Fatal(err)
		}
	}
	stalled := dialStalled(t, r, "/topic/room."+room)

	// 5,000 messages of ~1.3 KiB are ~6.5 MiB for each client: more than
	// the 256 KiB queue plus the socket buffers (the stalled client's
	// receive buffer is 4 KiB; the server's send buffer can grow to
	// net.ipv4.tcp_wmem's maximum, 4 MiB by default)
	pad := strings.Repeat("p", 1000)
	var wg sync.WaitGroup
	errs := make(chan error, members)
	read := make([]atomic.Int64, members) // messages each member has read
	for i, c := range readers {
		wg.Add(1)
		// each reader goroutine owns its client's reads until it has
		// the whole burst or fails
		go func() {
			defer wg.Done()
			if err := readBurst(c, burst, &read[i]); err != nil {
				errs <- fmt.Errorf("member-%d: %w", i, err)
			}
		}()
	}
	// as soon as the server counts the slow consumer, the stalled client
	// reads again, before the server's write timeout drops its socket;
	// this goroutine owns the stalled client from then on
	type verdict struct {
		errMessage string
		code, read int
		err        error
	}
	stalledDone := make(chan verdict, 1)
	start := time.Now()
	go func() {
		err := rabbittest.WaitFor(45*time.Second, func() (bool, error) { return r.srv.SlowConsumers() >= 1, nil })
		if err != nil {
			stalledDone <- verdict{err: fmt.Errorf("not closed as a slow consumer: %w", err)}
			return
		}
		var v verdict
		v.errMessage, v.code, v.read, v.err = stalled.resume(20 * time.Second)
		stalledDone <- v
	}()
	sender := connect(t, r, "sender")
	// a receipt every 100 messages paces the sender to what the broker
	// takes (unpaced bursts are TestEmbeddedBurst's). The members read
	// as fast as they can, but on a loaded machine "fast" may be slower
	// than the broker: so that only the stalled client can fill its
	// 256 KiB queue, the sender also waits until every member has read
	// all but the last 150 messages (~195 KiB) it sent
	for i := range burst {
		f := stomp.New(stomp.SEND, "destination", "/app/chat.send")
		if i%100 == 99 {
			f.Headers = append(f.Headers, stomp.Header{Key: "receipt", Value: strconv.Itoa(i)})
		}
		f.Body = fmt.Appendf(nil, `{"roomId":%q,"message":"burst-%d-%s"}`, room, i, pad)
		if err := sender.Send(f); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			if _, err := sender.Expect(stomp.RECEIPT, 20*time.Second); err != nil {
				t.Fatalf("after %d messages: %v", i+1, err)
			}
			if err := rabbittest.WaitFor(30*time.Second, func() (bool, error) { return slowest(read) >= int64(i+1-50), nil }); err != nil {
				t.Fatalf("after %d messages the slowest member has read %d: %v", i+1, slowest(read), err)
			}
		}
	}
	waitDone := make(chan struct{})
	go func() { wg.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(45 * time.Second):
		t.Fatal("members did not receive the burst in time")
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d members received %d messages each in %v", members, burst, time.Since(start).Round(time.Millisecond))
	v := <-stalledDone // bounded by the goroutine's own deadlines
	if v.err != nil {
		t.Fatalf("stalled client: %v", v.err)
	}
	t.Logf("stalled client read %d messages after resuming, then ERROR %q and close %d", v.read, v.errMessage, v.code)
	if v.errMessage != "slow consumer" || v.code != 4001 {
		t.Fatalf("stalled client: final ERROR %q, close code %d; want slow consumer, 4001", v.errMessage, v.code)
	}
	if n := r.srv.SlowConsumers(); n != 1 {
		t.Fatalf("%d slow consumers, want 1", n)
	}
}

// slowest returns the fewest messages any member has read.
func slowest(read []atomic.Int64) int64 {
	least := read[0].Load()
	for i := range read {
		least = min(least, read[i].Load())
	}
	return least
}

// readBurst reads n room messages "burst-<i>-..." from c, in order,
// counting them in read.
func readBurst(c *stomptest.Client, n int, read *atomic.Int64) error {
	for i := range n {
		f, err := c.Expect(stomp.MESSAGE, 20*time.Second)
		if err != nil {
			return fmt.Errorf("after %d messages: %w", i, err)
		}
		want := fmt.Appendf(nil, `"burst-%d-`, i)
		if !bytes.Contains(f.Body, want) {
			return fmt.Errorf("message %d is %.80q", i, f.Body)
		}
		read.Add(1)
	}
	return nil
}

// stalledClient is a raw WebSocket client that reads nothing after its
// subscription is confirmed, until resume.
type stalledClient struct {
	ws *websocket.Conn
	rd *stomp.Reader // reset to each WebSocket message
}

// dialStalled connects, subscribes to dest, waits for the receipt and
// then stops reading.
func dialStalled(t *testing.T, r *replica, dest string) *stalledClient {
	t.Helper()
	nd := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	d := websocket.Dialer{Subprotocols: []string{"v12.stomp"}, HandshakeTimeout: 5 * time.Second, NetDialContext: nd.DialContext}
	ws, _, err := d.Dial(r.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	c := &stalledClient{ws: ws, rd: stomp.NewReader(nil, stomp.NewDecoder(stomp.Limits{MaxFrameBytes: 1 << 20}), make([]byte, 4096))}
	for _, f := range []*stomp.Frame{
		stomp.New(stomp.CONNECT, "accept-version", "1.2", "login", "stalled"),
		stomp.New(stomp.SUBSCRIBE, "id", "s", "destination", dest, "receipt", "sub"),
	} {
		if err := ws.WriteMessage(websocket.BinaryMessage, f.Encode(stomp.V12)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{stomp.CONNECTED, stomp.RECEIPT} {
		f, err := c.next(5 * time.Second)
		if err != nil || f.Command != want {
			t.Fatalf("stalled client waiting for %s: %v %v", want, f, err)
		}
	}
	return c
}

// next reads until one frame is decoded.
func (c *stalledClient) next(timeout time.Duration) (*stomp.Frame, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(timeout))
	for {
		f, err := c.rd.Next()
		if err != io.EOF {
			return f, err
		}
		_, r, err := c.ws.NextReader()
		if err != nil {
			return nil, err
		}
		c.rd.Reset(r)
	}
}

// resume reads everything the server still sends, within timeout, and
// returns the message of the last ERROR, the close code and how many
// MESSAGEs it read.
func (c *stalledClient) resume(timeout time.Duration) (errMessage string, code, messages int, err error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		f, err := c.next(time.Until(deadline))
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return errMessage, ce.Code, messages, nil
			}
			return errMessage, 0, messages, err
		}
		switch f.Command {
		case stomp.MESSAGE:
			messages++
		case stomp.ERROR:
			errMessage = f.Header("message")
		}
	}
	return errMessage, 0, messages, fmt.Errorf("socket still open after %v (%d messages)", timeout, messages)
}
