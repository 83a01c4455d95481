package server

import (
	"bytes"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// burstSize is how many SENDs the burst tests write without waiting.
const burstSize = 10000

// TestEmbeddedBurst: one client writes 10,000 SENDs as fast as it can
// (no receipts but on the last, no pause), and a subscriber on the same
// replica gets all 10,000 in order; the server serves others afterwards.
// It runs on the embedded broker, whose broker loop used to stall on
// such a burst (one upstream connection both publishing and receiving).
// The per-session SEND rate is lifted (testConfig): at the default
// limits.send_rate a burst is refused by design, not stalled.
func TestEmbeddedBurst(t *testing.T) {
	t.Run("topic", func(t *testing.T) {
		cfg := testConfig(t, config.BrokerEmbedded)
		cfg.Policy.ClientSend = append(cfg.Policy.ClientSend, "/topic/burst.*")
		r := start(t, cfg)
		dest := "/topic/burst." + unique(t)
		testBurst(t, r, dest, func(i int) *stomp.Frame {
			f := stomp.New(stomp.SEND, "destination", dest, "content-type", "text/plain")
			f.Body = fmt.Appendf(nil, "burst-%d-", i)
			return f
		})
	})
	t.Run("room", func(t *testing.T) {
		cfg := testConfig(t, config.BrokerEmbedded)
		// the RECEIPT of the last SEND means all 10,000 are stored; on a
		// loaded machine that takes longer than the default 10 s, and the
		// test's bound is its own 60 s deadline
		cfg.Rooms.Confirm.Timeout = time.Minute
		r := start(t, cfg)
		room := createRoom(t, r, unique(t))
		testBurst(t, r, "/topic/room."+room, func(i int) *stomp.Frame {
			f := stomp.New(stomp.SEND, "destination", "/app/chat.send", "content-type", "application/json")
			f.Body = fmt.Appendf(nil, `{"roomId":%q,"message":"burst-%d-"}`, room, i)
			return f
		})
	})
}

// testBurst subscribes a reader to dest, has a sender write burstSize
// frames made by frame (the last with a receipt) without waiting, checks
// that the reader gets every one in order (each body holds "burst-<i>-")
// and that a fresh pair of clients still talks through dest afterwards.
func testBurst(t *testing.T, r *replica, dest string, frame func(i int) *stomp.Frame) {
	reader := connect(t, r, "reader")
	if err := reader.Subscribe("s", dest); err != nil {
		t.Fatal(err)
	}
	sender := connect(t, r, "sender")

	got := make(chan error, 1)
	var read atomic.Int64
	begin := time.Now()
	deadline := begin.Add(60 * time.Second)
	// the reading goroutine owns reader until it has the whole burst or
	// fails
	go func() { got <- readInOrder(reader, burstSize, deadline, &read) }()

	for i := range burstSize {
		f := frame(i)
		if i == burstSize-1 {
			f.Headers = append(f.Headers, stomp.Header{Key: "receipt", Value: "last"})
		}
		if err := sender.Send(f); err != nil {
			t.Fatalf("SEND %d: %v", i, err)
		}
	}
	wrote := time.Since(begin)
	if f, err := sender.Expect(stomp.RECEIPT, time.Until(deadline)); err != nil {
		t.Fatalf("sender wrote %d SENDs in %v; no RECEIPT for the last (reader has %d): %v", burstSize, wrote, read.Load(), err)
	} else if id := f.Header("receipt-id"); id != "last" {
		t.Fatalf("RECEIPT %q, want last", id)
	}
	if err := <-got; err != nil {
		t.Fatalf("sender wrote %d SENDs in %v; reader: %v", burstSize, wrote, err)
	}
	t.Logf("%d SENDs written in %v, all delivered in order in %v", burstSize, wrote.Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))

	// the replica and its broker still serve everyone
	a, b := connect(t, r, "after-a"), connect(t, r, "after-b")
	if err := a.Subscribe("s", dest); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(frame(burstSize)); err != nil {
		t.Fatal(err)
	}
	want := fmt.Appendf(nil, "burst-%d-", burstSize)
	for name, c := range map[string]*stomptest.Client{"a new subscriber": a, "the burst's reader": reader} {
		f, err := c.Expect(stomp.MESSAGE, 10*time.Second)
		if err != nil {
			t.Fatalf("after the burst, %s: %v", name, err)
		}
		if !bytes.Contains(f.Body, want) {
			t.Fatalf("after the burst, %s got %.200q, want %s", name, f.Body, want)
		}
	}
}

// readInOrder reads n MESSAGEs whose bodies hold "burst-<i>-" for i = 0,
// 1, ... from c before deadline, counting them in read.
func readInOrder(c *stomptest.Client, n int, deadline time.Time, read *atomic.Int64) error {
	for i := range n {
		f, err := c.Read(time.Until(deadline))
		if err != nil {
			return fmt.Errorf("got %d of %d messages: %w", i, n, err)
		}
		if f.Command != stomp.MESSAGE {
			return fmt.Errorf("after %d messages: %s %q %.200q", i, f.Command, f.Header("message"), f.Body)
		}
		if want := []byte("burst-" + strconv.Itoa(i) + "-"); !bytes.Contains(f.Body, want) {
			return fmt.Errorf("message %d is %.120q", i, f.Body)
		}
		read.Add(1)
	}
	return nil
}
