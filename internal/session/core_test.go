package session

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chatrelay/internal/stomp"
)

// Unit tests of the session core against a fake upstream and socket
// (core_fakes_test.go): run them with go test -run Core.

// brokerMessage is a MESSAGE from the broker for subscription sub.
func brokerMessage(sub, dest, body string) *stomp.Frame {
	f := stomp.New(stomp.MESSAGE, "subscription", sub, "destination", dest, "message-id", "m-"+body)
	f.Body = []byte(body)
	return f
}

// TestCoreFrameOrder: CONNECTED comes first, then every frame in the
// order the session queued it, RECEIPTs between the MESSAGEs they follow;
// the upstream sees the client's frames in order, and a MESSAGE for a
// subscription the client left is dropped.
func TestCoreFrameOrder(t *testing.T) {
	c := newCore(t, stomp.V12, nil)
	c.connect()
	if err := c.in(frame("SUBSCRIBE", "", "id:1", "destination:/topic/a", "receipt:r1")); err != nil {
		t.Fatal(err)
	}
	c.expect("RECEIPT", "receipt-id:r1")
	for i := range 50 {
		c.up.deliver(brokerMessage("1", "/topic/a", fmt.Sprint(i)))
	}
	if err := c.in(frame("SEND", "hello", "destination:/topic/a", "receipt:r2")); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		f := c.expect("MESSAGE", "subscription:1", "destination:/topic/a")
		if string(f.Body) != fmt.Sprint(i) {
			t.Fatalf("MESSAGE %d has body %q", i, f.Body)
		}
	}
	c.expect("RECEIPT", "receipt-id:r2")
	if err := c.in(frame("UNSUBSCRIBE", "", "id:1", "receipt:r3")); err != nil {
		t.Fatal(err)
	}
	c.expect("RECEIPT", "receipt-id:r3")
	c.up.deliver(brokerMessage("1", "/topic/a", "late"))
	if err := c.in(frame("SEND", "x", "destination:/topic/b", "receipt:r4")); err != nil {
		t.Fatal(err)
	}
	c.expect("RECEIPT", "receipt-id:r4") // and no "late" MESSAGE before it
	want := []string{"SUBSCRIBE 1 /topic/a", "SEND /topic/a hello tx=", "UNSUBSCRIBE 1", "SEND /topic/b x tx="}
	if got := c.up.log(); !slices.Equal(got, want) {
		t.Fatalf("upstream saw %q, want %q", got, want)
	}
}

// TestCoreReceipts: a receipt for an unknown subscription is answered by
// the session itself; DISCONNECT's RECEIPT waits for every receipt still
// owed, then the socket closes normally.
func TestCoreReceipts(t *testing.T) {
	c := newCore(t, stomp.V12, nil)
	c.connect()
	if err := c.in(frame("UNSUBSCRIBE", "", "id:nope", "receipt:u1")); err != nil {
		t.Fatal(err)
	}
	c.expect("RECEIPT", "receipt-id:u1")
	c.up.mu.Lock()
	c.up.hold = true
	c.up.mu.Unlock()
	if err := c.in(frame("SEND", "a", "destination:/topic/a", "receipt:s1"), frame("SEND", "b", "destination:/topic/a", "receipt:s2")); err != nil {
		t.Fatal(err)
	}
	c.ended(c.in(frame("DISCONNECT", "", "receipt:bye")))
	c.quiet() // the broker has not answered: nothing goes out yet
	c.up.pay()
	c.expect("RECEIPT", "receipt-id:s1")
	c.expect("RECEIPT", "receipt-id:s2")
	c.expect("RECEIPT", "receipt-id:bye")
	c.closedWith(CloseNormal)
}

// TestCoreDisconnectWait: when the broker never answers, DISCONNECT's
// RECEIPT goes out after Options.DisconnectWait all the same.
func TestCoreDisconnectWait(t *testing.T) {
	c := newCore(t, stomp.V12, func(o *Options) { o.DisconnectWait = 50 * time.Millisecond })
	c.connect()
	c.up.hold = true // before any receipt: no race with the fake
	if err := c.in(frame("SEND", "a", "destination:/topic/a", "receipt:s1")); err != nil {
		t.Fatal(err)
	}
	c.ended(c.in(frame("DISCONNECT", "", "receipt:bye")))
	c.expect("RECEIPT", "receipt-id:bye")
	c.closedWith(CloseNormal)
}

// TestCoreDisconnectNothingOwed: with no receipt owed DISCONNECT's
// RECEIPT goes out at once; frames after DISCONNECT are not handled.
func TestCoreDisconnectNothingOwed(t *testing.T) {
	c := newCore(t, stomp.V12, nil)
	c.connect()
	c.ended(c.in(frame("DISCONNECT", "", "receipt:bye"), frame("SEND", "x", "destination:/topic/a")))
	c.expect("RECEIPT", "receipt-id:bye")
	c.closedWith(CloseNormal)
	if got := c.up.log(); len(got) != 0 {
		t.Fatalf("upstream saw %q after DISCONNECT", got)
	}
}

// TestCoreVersion: the highest version both sides speak, capped by the
// handshake's subprotocol; none offered means 1.0; none in common is an
// ERROR naming the supported versions, and a protocol close.
func TestCoreVersion(t *testing.T) {
	for _, tt := range []struct {
		subproto stomp.Version
		accept   string // "" sends no accept-version
		want     string
	}{
		{stomp.V12, "1.0,1.1,1.2", "1.2"},
		{stomp.V12, "1.0,1.1", "1.1"},
		{stomp.V12, " 1.1 , 1.0 ", "1.1"},
		{stomp.V12, "", "1.0"},
		{stomp.V11, "1.2,1.1", "1.1"},
		{stomp.V10, "1.2,1.1,1.0", "1.0"},
	} {
		t.Run(fmt.Sprintf("%s/%q", tt.subproto, tt.accept), func(t *testing.T) {
			c := newCore(t, tt.subproto, nil)
			h := []string{"login:ann"}
			if tt.accept != "" {
				h = append(h, "accept-version:"+tt.accept)
			}
			if err := c.in(frame("CONNECT", "", h...)); err != nil {
				t.Fatal(err)
			}
			c.expect("CONNECTED", "version:"+tt.want)
		})
	}
	for _, tt := range []struct {
		subproto  stomp.Version
		accept    string
		supported string
	}{
		{stomp.V12, "2.0", "1.0,1.1,1.2"},
		{stomp.V11, "1.2", "1.0,1.1"},
	} {
		t.Run(fmt.Sprintf("mismatch %s/%q", tt.subproto, tt.accept), func(t *testing.T) {
			c := newCore(t, tt.subproto, nil)
			c.ended(c.in(frame("STOMP", "", "accept-version:"+tt.accept, "receipt:c1")))
			f := c.expect("ERROR", "message:"+msgVersionMismatch, "version:"+tt.supported, "receipt-id:c1")
			if !strings.Contains(string(f.Body), tt.accept) {
				t.Errorf("ERROR body %q does not name %q", f.Body, tt.accept)
			}
			c.closedWith(CloseProtocol)
		})
	}
}

// TestCoreHeartBeatNegotiation: each direction uses the larger of the
// client's wish and the server's floor, 0 when either side wants none;
// STOMP 1.0 has no heart-beats; a malformed header is a protocol error.
func TestCoreHeartBeatNegotiation(t *testing.T) {
	floors := func(o *Options) {
		o.HeartBeatSend = 200 * time.Millisecond
		o.HeartBeatReceive = 300 * time.Millisecond
	}
	for _, tt := range []struct{ accept, hb, want string }{
		{"1.2", "100,50", "200,300"},
		{"1.2", "1000,5000", "5000,1000"},
		{"1.2", "0,0", "0,0"},
		{"1.1", "0,400", "400,0"},
		{"1.2", "", "0,0"},
		{"1.0", "100,100", "0,0"},
	} {
		t.Run(tt.accept+"/"+tt.hb, func(t *testing.T) {
			c := newCore(t, stomp.V12, floors)
			h := []string{"accept-version:" + tt.accept}
			if tt.hb != "" {
				h = append(h, "heart-beat:"+tt.hb)
			}
			if err := c.in(frame("CONNECT", "", h...)); err != nil {
				t.Fatal(err)
			}
			c.expect("CONNECTED", "heart-beat:"+tt.want)
		})
	}
	for _, hb := range []string{"abc", "1", "-1,0", "1,x"} {
		t.Run("bad "+hb, func(t *testing.T) {
			c := newCore(t, stomp.V12, floors)
			c.ended(c.in(frame("CONNECT", "", "accept-version:1.2", "heart-beat:"+hb)))
			c.expect("ERROR", "message:invalid heart-beat header")
			c.closedWith(CloseProtocol)
			if got := c.up.log(); len(got) != 0 {
				t.Fatalf("upstream saw %q", got)
			}
		})
	}
}

// TestCoreHeartBeats: the session sends heart-beats at the negotiated
// interval, arms the read deadline at twice the client's interval plus
// the grace, and a read timeout ends it with the heart-beat close; before
// CONNECT a timeout is the connect timeout.
func TestCoreHeartBeats(t *testing.T) {
	c := newCore(t, stomp.V12, func(o *Options) { o.HeartBeatGrace = time.Second })
	before := time.Now()
	c.connect("heart-beat:300,20")
	after := time.Now()
	var d time.Time
	select {
	case d = <-c.conn.deadlines:
	case <-time.After(coreWait):
		t.Fatal("no read deadline armed")
	}
	if lo, hi := before.Add(1600*time.Millisecond), after.Add(1600*time.Millisecond); d.Before(lo) || d.After(hi) {
		t.Fatalf("read deadline %v not within [%v, %v]", d, lo, hi)
	}
	for range 3 {
		select {
		case <-c.conn.beats:
		case <-time.After(coreWait):
			t.Fatal("no heart-beat written")
		}
	}
	c.s.ReadFailed(os.ErrDeadlineExceeded)
	c.expect("ERROR", "message:heart-beat timeout")
	c.closedWith(CloseHeartBeat)

	c = newCore(t, stomp.V12, nil)
	c.s.ReadFailed(os.ErrDeadlineExceeded)
	c.expect("ERROR", "message:no CONNECT frame in time")
	c.closedWith(CloseProtocol)
}

// TestCoreSlowConsumer: a client that does not read while the broker
// delivers more than limits.send_queue_bytes is closed as a slow
// consumer, with an ERROR saying so, and counted.
func TestCoreSlowConsumer(t *testing.T) {
	var slow atomic.Int64
	c := newCore(t, stomp.V12, func(o *Options) {
		o.SendQueueBytes = 4096
		o.SlowConsumers = &slow
	})
	c.connect()
	if err := c.in(frame("SUBSCRIBE", "", "id:1", "destination:/topic/a")); err != nil {
		t.Fatal(err)
	}
	unblock := c.conn.block()
	body := strings.Repeat("x", 200)
	for range 40 { // 40 frames of over 200 bytes: more than 4096
		c.up.deliver(brokerMessage("1", "/topic/a", body))
	}
	unblock()
	c.closedWith(CloseSlowConsumer)
	var last *stomp.Frame
	for n := len(c.conn.frames); n > 0; n-- {
		last = <-c.conn.frames
	}
	if last == nil || last.Command != stomp.ERROR || last.Header("message") != "slow consumer" {
		t.Fatalf("last frame %v, want ERROR slow consumer", last)
	}
	if n := slow.Load(); n != 1 {
		t.Fatalf("SlowConsumers = %d, want 1", n)
	}
}

// TestCoreSendQueueWithinLimit: the same traffic within the limit is
// delivered whole once the client reads.
func TestCoreSendQueueWithinLimit(t *testing.T) {
	c := newCore(t, stomp.V12, func(o *Options) { o.SendQueueBytes = 64 << 10 })
	c.connect()
	if err := c.in(frame("SUBSCRIBE", "", "id:1", "destination:/topic/a")); err != nil {
		t.Fatal(err)
	}
	unblock := c.conn.block()
	body := strings.Repeat("x", 200)
	for range 40 {
		c.up.deliver(brokerMessage("1", "/topic/a", body))
	}
	unblock()
	for range 40 {
		c.expect("MESSAGE", "subscription:1")
	}
	c.quiet()
}
