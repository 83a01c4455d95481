package relay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"chatrelay/internal/stomp"
)

// fakeBroker hands the server end of every relay connection to a script.
type fakeBroker struct {
	t      *testing.T
	script func(c net.Conn, connect *stomp.Frame)
	dials  chan struct{} // one value per accepted connection
}

func newFakeBroker(t *testing.T, script func(net.Conn, *stomp.Frame)) *fakeBroker {
	return &fakeBroker{t: t, script: script, dials: make(chan struct{}, 100)}
}

func (b *fakeBroker) Dial(ctx context.Context, addr string) (net.Conn, error) {
	client, server := net.Pipe()
	go func() {
		// owns the server end: reads CONNECT, then runs the script
		defer server.Close()
		f, err := stomp.NewReader(server, stomp.NewDecoder(stomp.Limits{}), make([]byte, 4096)).Next()
		if err != nil {
			return
		}
		b.dials <- struct{}{}
		b.script(server, f)
	}()
	return client, nil
}

// waitDials waits for n connections in all.
func (b *fakeBroker) waitDials(n int, d time.Duration) {
	b.t.Helper()
	deadline := time.After(d)
	for i := 0; i < n; i++ {
		select {
		case <-b.dials:
		case <-deadline:
			b.t.Fatalf("only %d of %d connections within %v", i, n, d)
		}
	}
}

func startFake(t *testing.T, b *fakeBroker, hb time.Duration) *Relay {
	r := New(Config{
		Addresses:    []string{"fake:1"},
		Connections:  1,
		HeartBeat:    hb,
		Dial:         b.Dial,
		ReconnectMin: 10 * time.Millisecond,
		ReconnectMax: 20 * time.Millisecond,
		Logger:       testLogger(t),
	})
	r.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Close(ctx)
	})
	return r
}

func TestSilentBrokerIsDown(t *testing.T) {
	var beats atomic.Int64
	b := newFakeBroker(t, func(c net.Conn, connect *stomp.Frame) {
		if got := connect.Header("heart-beat"); got != "50,50" {
			t.Errorf("CONNECT heart-beat %q", got)
		}
		if connect.Header("host") != DefaultVHost || connect.Header("accept-version") != "1.2" {
			t.Errorf("CONNECT headers %v", connect.Headers)
		}
		c.Write(stomp.New(stomp.CONNECTED, "version", "1.2", "heart-beat", "50,50").Encode(stomp.V12))
		// never speaks again; counts the relay's heart-beats
		buf := make([]byte, 256)
		for {
			n, err := c.Read(buf)
			beats.Add(int64(bytes.Count(buf[:n], []byte{'\n'})))
			if err != nil {
				return
			}
		}
	})
	r := startFake(t, b, 50*time.Millisecond)
	// the first session is declared dead after 2x50ms of silence and a
	// second one is made
	b.waitDials(2, 5*time.Second)
	if beats.Load() == 0 {
		t.Error("the relay sent no heart-beat")
	}
	_ = r
}

func TestBrokerErrorReconnectsAndRestores(t *testing.T) {
	subscribes := make(chan *stomp.Frame, 10)
	var conns atomic.Int32
	b := newFakeBroker(t, func(c net.Conn, connect *stomp.Frame) {
		n := conns.Add(1)
		serveFrames(c, func(f *stomp.Frame) bool {
			if f.Command == stomp.DISCONNECT {
				c.Write(stomp.New(stomp.RECEIPT, "receipt-id", f.Header("receipt")).Encode(stomp.V12))
			}
			if f.Command == stomp.SUBSCRIBE {
				subscribes <- f
				c.Write(stomp.New(stomp.RECEIPT, "receipt-id", f.Header("receipt")).Encode(stomp.V12))
				if n == 1 {
					// the first session breaks
					c.Write(stomp.New(stomp.ERROR, "message", "boom").Encode(stomp.V12))
				}
			}
			return true
		})
	})
	r := startFake(t, b, -1)
	s := newSink("c")
	cl := r.Attach(s)
	if err := cl.Subscribe("x", "/topic/a", stomp.Headers{{Key: "receipt", Value: "r"}}); err != nil {
		t.Fatal(err)
	}
	s.receipt(t, "r")
	first := <-subscribes
	// after the ERROR the relay reconnects and subscribes again, same id
	select {
	case again := <-subscribes:
		if again.Header("id") != first.Header("id") || again.Header("destination") != "/topic/a" {
			t.Fatalf("re-SUBSCRIBE %v after %v", again.Headers, first.Headers)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no re-SUBSCRIBE after the broker's ERROR")
	}
	s.noErrors(t)
}

// A sink may call back into its client from Deliver.
func TestSinkMayReenterClient(t *testing.T) {
	r, _ := startEmbedded(t, nil)
	s := &reentrantSink{recSink: newSink("re")}
	c := r.Attach(s)
	s.c = c
	if err := c.Subscribe("1", "/topic/re", stomp.Headers{{Key: "receipt", Value: "r"}}); err != nil {
		t.Fatal(err)
	}
	s.receipt(t, "r")
	if err := r.Publish("/topic/re", nil, []byte("close-me"), nil); err != nil {
		t.Fatal(err)
	}
	s.message(t, 10*time.Second, "close-me")
	if err := c.Send("/topic/re", nil, nil); err != ErrClosed {
		t.Fatalf("Send after the sink closed the client: %v", err)
	}
}

// reentrantSink closes its client when a MESSAGE arrives, and subscribes
// again when a RECEIPT arrives.
type reentrantSink struct {
	*recSink
	c *Client
}

func (s *reentrantSink) Deliver(f *stomp.Frame) {
	switch f.Command {
	case stomp.MESSAGE:
		s.c.Close()
	case stomp.RECEIPT:
		_ = s.c.Subscribe("2", "/topic/re2", nil)
	}
	s.recSink.Deliver(f)
}

// A broker that accepts TCP connections but refuses every CONNECT gets
// the plain backoff: probing (which only asks whether TCP connects) must
// not turn into a reconnect loop at the probe rate.
func TestRefusingBrokerIsNotRedialledAtProbeRate(t *testing.T) {
	b := newFakeBroker(t, func(c net.Conn, connect *stomp.Frame) {
		c.Write(stomp.New(stomp.ERROR, "message", "access refused").Encode(stomp.V12))
	})
	const reconnectMax = 600 * time.Millisecond
	r := New(Config{
		Addresses:    []string{"fake:1"},
		Connections:  1,
		Dial:         b.Dial,
		ReconnectMin: 10 * time.Millisecond,
		ReconnectMax: reconnectMax,
		Logger:       testLogger(t),
	})
	r.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Close(ctx)
	})
	waitCond(t, 10*time.Second, "backoff at reconnect_max", func() bool { return r.Stats().Upstreams[0].Backoff == reconnectMax })
	for len(b.dials) > 0 {
		<-b.dials
	}
	// each wait is at least reconnectMax/2: at most 2 s / 300 ms + 1
	// attempts, where probing every 100-200 ms would make 10 or more
	const window = 2 * time.Second
	time.Sleep(window)
	if n := len(b.dials); n > int(window/(reconnectMax/2))+1 {
		t.Fatalf("%d CONNECT attempts within %v at backoff %v", n, window, reconnectMax)
	} else {
		t.Logf("%d CONNECT attempts within %v", n, window)
	}
}

// A broker that refuses a SUBSCRIBE with an ERROR naming the queue and
// closes the socket without the RECEIPT RabbitMQ 3.10 sends: the relay
// still finds the SUBSCRIBE by the queue named, among those waiting for
// their receipt, ends it for its client only and does not send it again.
func TestRefusalNamedInErrorBody(t *testing.T) {
	subscribes := make(chan string, 10)
	b := newFakeBroker(t, func(c net.Conn, connect *stomp.Frame) {
		serveFrames(c, func(f *stomp.Frame) bool {
			switch f.Command {
			case stomp.SUBSCRIBE:
				subscribes <- f.Header("destination")
				if f.Header("destination") == "/queue/denied" {
					refusal := stomp.New(stomp.ERROR, "message", "access_refused")
					refusal.Body = []byte("ACCESS_REFUSED - access to queue 'denied' in vhost '/' refused for user 'guest'")
					c.Write(refusal.Encode(stomp.V12))
					return false
				}
				fallthrough
			case stomp.DISCONNECT:
				c.Write(stomp.New(stomp.RECEIPT, "receipt-id", f.Header("receipt")).Encode(stomp.V12))
			}
			return true
		})
	})
	r := startFake(t, b, -1)
	by, victim := newSink("bystander"), newSink("victim")
	if err := r.Attach(by).Subscribe("a", "/topic/a", stomp.Headers{{Key: "receipt", Value: "ra"}}); err != nil {
		t.Fatal(err)
	}
	by.receipt(t, "ra")
	if got := <-subscribes; got != "/topic/a" {
		t.Fatalf("SUBSCRIBE %s", got)
	}
	if err := r.Attach(victim).Subscribe("d", "/queue/denied", stomp.Headers{{Key: "receipt", Value: "rd"}}); err != nil {
		t.Fatal(err)
	}
	f := victim.waitSubError(t, 5*time.Second, "d")
	if f.Header("receipt-id") != "rd" || f.Header("message") != MsgSubscribeRefused || !bytes.Contains(f.Body, []byte("access_refused")) {
		t.Fatalf("refusal %v %q", f.Headers, f.Body)
	}
	// the reconnect restores the bystander's subscription and nothing else
	for _, want := range []string{"/queue/denied", "/topic/a"} {
		select {
		case got := <-subscribes:
			if got != want {
				t.Fatalf("SUBSCRIBE %s, want %s", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no SUBSCRIBE %s", want)
		}
	}
	waitCond(t, 5*time.Second, "ready again", r.Ready)
	select {
	case got := <-subscribes:
		t.Fatalf("SUBSCRIBE %s after the reconnect", got)
	case <-time.After(100 * time.Millisecond):
	}
	by.noErrors(t)
	victim.noErrors(t)
}

// A subscription that was in place is refused on every reconnect (as
// RabbitMQ refuses a queue whose node is down: not_found): the relay
// retries, and only once the refusals have lasted restoreGrace does it
// drop the subscription and tell its client; the connection then comes
// back without it.
func TestRestoredSubscriptionRefusedPastGrace(t *testing.T) {
	old := restoreGrace
	restoreGrace = 300 * time.Millisecond
	t.Cleanup(func() { restoreGrace = old })
	var conns, refused atomic.Int32
	b := newFakeBroker(t, func(c net.Conn, connect *stomp.Frame) {
		n := conns.Add(1)
		serveFrames(c, func(f *stomp.Frame) bool {
			receipt := stomp.New(stomp.RECEIPT, "receipt-id", f.Header("receipt")).Encode(stomp.V12)
			if f.Command == stomp.SUBSCRIBE && f.Header("destination") == "/queue/q" && n > 1 {
				// what RabbitMQ does: ERROR, the refused frame's
				// RECEIPT, close
				refused.Add(1)
				c.Write(stomp.New(stomp.ERROR, "message", "not_found").Encode(stomp.V12))
				c.Write(receipt)
				return false
			}
			if f.Header("receipt") != "" {
				c.Write(receipt)
			}
			if f.Command == stomp.SUBSCRIBE && n == 1 {
				return false // the first session drops once the queue is subscribed
			}
			return true
		})
	})
	r := startFake(t, b, -1)
	s := newSink("c")
	if err := r.Attach(s).Subscribe("q", "/queue/q", stomp.Headers{{Key: "receipt", Value: "rq"}}); err != nil {
		t.Fatal(err)
	}
	s.receipt(t, "rq")
	began := time.Now()
	f := s.waitSubError(t, 10*time.Second, "q")
	if waited := time.Since(began); waited < restoreGrace || refused.Load() < 2 || f.Header("receipt-id") != "" {
		t.Fatalf("dropped after %v and %d refusals: %v %q", waited, refused.Load(), f.Headers, f.Body)
	}
	t.Logf("dropped after %v and %d refusals", time.Since(began).Round(time.Millisecond), refused.Load())
	waitCond(t, 5*time.Second, "ready without the subscription", r.Ready)
	s.noErrors(t)
}

// A SUBSCRIBE made while the broker was away is sent when the connection
// comes back; a broker still recovering its queues refuses it (not_found)
// a few times: the relay retries, and the client gets its RECEIPT.
func TestSubscribeMadeDuringOutageRetried(t *testing.T) {
	var refused atomic.Int32
	b := newFakeBroker(t, func(c net.Conn, connect *stomp.Frame) {
		serveFrames(c, func(f *stomp.Frame) bool {
			receipt := stomp.New(stomp.RECEIPT, "receipt-id", f.Header("receipt")).Encode(stomp.V12)
			if f.Command == stomp.SUBSCRIBE && refused.Load() < 3 {
				refused.Add(1)
				c.Write(stomp.New(stomp.ERROR, "message", "not_found").Encode(stomp.V12))
				c.Write(receipt)
				return false
			}
			if f.Header("receipt") != "" {
				c.Write(receipt)
			}
			return true
		})
	})
	sw := &switchDialer{dial: b.Dial}
	sw.setDown(true)
	r := New(Config{
		Addresses:    []string{"fake:1"},
		Connections:  1,
		HeartBeat:    -1,
		Dial:         sw.Dial,
		ReconnectMin: 10 * time.Millisecond,
		ReconnectMax: 20 * time.Millisecond,
		Logger:       testLogger(t),
	})
	r.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Close(ctx)
	})
	s := newSink("c")
	if err := r.Attach(s).Subscribe("q", "/queue/q", stomp.Headers{{Key: "receipt", Value: "rq"}}); err != nil {
		t.Fatal(err)
	}
	sw.setDown(false)
	s.receipt(t, "rq")
	if n := refused.Load(); n != 3 {
		t.Fatalf("%d refusals", n)
	}
	s.noErrors(t)
}

// serveFrames answers a CONNECT with CONNECTED (STOMP 1.2), then hands
// handle every frame c sends, until c closes or handle returns false
// (the broker drops the connection).
func serveFrames(c net.Conn, handle func(f *stomp.Frame) bool) {
	c.Write(stomp.New(stomp.CONNECTED, "version", "1.2").Encode(stomp.V12))
	rd := stomp.NewReader(c, stomp.NewDecoder(stomp.Limits{}), make([]byte, 4096))
	for {
		f, err := rd.Next()
		var bad *stomp.Error
		if errors.As(err, &bad) {
			// undecodable input: read on, handling nothing, until c closes
			_, _ = io.Copy(io.Discard, c)
			return
		}
		if err != nil || !handle(f) {
			return
		}
	}
}

// A SUBSCRIBE to a stream refused because its replica on the broker's
// node is not running yet (RabbitMQ: precondition_failed, "does not have
// a running replica on the local node") is not remembered: the same
// SUBSCRIBE right after reaches the broker again, and is receipted once
// the replica runs. A refusal for another reason is remembered.
func TestStreamWithoutLocalReplicaNotRemembered(t *testing.T) {
	var refused atomic.Int32
	subscribes := make(chan string, 10)
	b := newFakeBroker(t, func(c net.Conn, connect *stomp.Frame) {
		serveFrames(c, func(f *stomp.Frame) bool {
			receipt := stomp.New(stomp.RECEIPT, "receipt-id", f.Header("receipt")).Encode(stomp.V12)
			if f.Command == stomp.SUBSCRIBE {
				subscribes <- f.Header("destination")
				var refusal *stomp.Frame
				switch {
				case f.Header("destination") == "/amq/queue/s" && refused.Add(1) == 1:
					refusal = stomp.New(stomp.ERROR, "message", "precondition_failed")
					refusal.Body = []byte("PRECONDITION_FAILED - stream queue 's' in vhost '/' does not have a running replica on the local node")
				case f.Header("destination") == "/amq/queue/other":
					refusal = stomp.New(stomp.ERROR, "message", "precondition_failed")
					refusal.Body = []byte("PRECONDITION_FAILED - inequivalent arg 'x-queue-type'")
				}
				if refusal != nil {
					c.Write(refusal.Encode(stomp.V12))
					c.Write(receipt)
					return false
				}
			}
			if f.Header("receipt") != "" {
				c.Write(receipt)
			}
			return true
		})
	})
	r := startFake(t, b, -1)
	// a SUBSCRIBE made before the first connection is retried: not this
	waitCond(t, 5*time.Second, "ready", r.Ready)
	for _, dest := range []string{"/amq/queue/s", "/amq/queue/other"} {
		s := newSink(dest)
		h := stomp.Headers{{Key: "receipt", Value: "r1"}}
		if err := r.Attach(s).Subscribe("x", dest, h); err != nil {
			t.Fatal(err)
		}
		if f := s.waitSubError(t, 5*time.Second, "x"); f.Header("message") != MsgSubscribeRefused {
			t.Fatalf("%s: %v", dest, f.Headers)
		}
		waitCond(t, 5*time.Second, "ready again", r.Ready)
		for len(subscribes) > 0 {
			<-subscribes
		}
		again := newSink(dest + " again")
		if err := r.Attach(again).Subscribe("x", dest, stomp.Headers{{Key: "receipt", Value: "r2"}}); err != nil {
			t.Fatal(err)
		}
		if dest == "/amq/queue/other" {
			// remembered: refused at once, the broker not asked
			if f := again.waitSubError(t, 5*time.Second, "x"); f.Header("message") != MsgSubscribeRefused {
				t.Fatalf("%s again: %v", dest, f.Headers)
			}
			select {
			case got := <-subscribes:
				t.Fatalf("SUBSCRIBE %s reached the broker", got)
			default:
			}
			continue
		}
		again.receipt(t, "r2")
		if got := <-subscribes; got != dest {
			t.Fatalf("SUBSCRIBE %s, want %s", got, dest)
		}
	}
}
