package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/stomp"
)

// subscribeRefusal is a rate_limited SUBSCRIBE on /user/queue/errors.
type subscribeRefusal struct {
	Code, Message, Destination, Subscription string
}

// TestSubscribeFloodClosesOnlyTheFlooder floods SUBSCRIBE /app/rooms
// (each answered with a reply) and topic SUBSCRIBE/UNSUBSCRIBE churn from
// one raw client with the default limits: the burst is served, then each
// SUBSCRIBE is refused with rate_limited naming its destination and id,
// and past limits.send_abuse refusals the session ends with ERROR "rate
// limit exceeded". A chatter on the same replica keeps chatting.
func TestSubscribeFloodClosesOnlyTheFlooder(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		d := config.Defaults().Limits
		if cfg.Limits.SubscribeRate != d.SubscribeRate || cfg.Limits.SubscribeBurst != d.SubscribeBurst || cfg.Limits.SendAbuse != d.SendAbuse {
			t.Fatalf("test config changed the default SUBSCRIBE limits: %+v", cfg.Limits)
		}
		r := start(t, cfg)
		room := createRoom(t, r, unique(t))
		chatter := connect(t, r, "chatter")
		if err := chatter.Subscribe("room", "/topic/room."+room); err != nil {
			t.Fatal(err)
		}

		f := connect(t, r, "flooder")
		if err := f.Subscribe("errs", "/user/queue/errors"); err != nil {
			t.Fatal(err)
		}
		const n = 400 // far more than burst + abuse
		var raw strings.Builder
		for i := range n {
			if i%2 == 0 {
				fmt.Fprintf(&raw, "SUBSCRIBE\nid:a%d\ndestination:/app/rooms\n\n\x00UNSUBSCRIBE\nid:a%d\n\n\x00", i, i)
			} else {
				fmt.Fprintf(&raw, "SUBSCRIBE\nid:t%d\ndestination:/topic/flood.%d\n\n\x00UNSUBSCRIBE\nid:t%d\n\n\x00", i, i, i)
			}
		}
		begin := time.Now()
		// one write: the server may close the socket before reading it all
		_ = f.Raw([]byte(raw.String()))

		chatRoundTrip(t, chatter, "room", room, "during the flood")
		var replies, refused int
		var final *stomp.Frame
		for final == nil {
			m, err := f.Read(10 * time.Second)
			if err != nil {
				t.Fatalf("after %d replies and %d refusals: %v", replies, refused, err)
			}
			switch {
			case m.Command == stomp.ERROR:
				final = m
			case m.Command == stomp.MESSAGE && m.Header("subscription") == "errs":
				var e subscribeRefusal
				if err := json.Unmarshal(m.Body, &e); err != nil || e.Code != "rate_limited" || e.Subscription == "" {
					t.Fatalf("errors message %s (%v)", m.Body, err)
				}
				want := "/app/rooms"
				if e.Subscription[0] == 't' {
					want = "/topic/flood." + e.Subscription[1:]
				}
				if e.Destination != want {
					t.Fatalf("refusal of %s names %s, want %s", e.Subscription, e.Destination, want)
				}
				refused++
			case m.Command == stomp.MESSAGE && strings.HasPrefix(m.Header("subscription"), "a"):
				replies++
			default:
				t.Fatalf("unexpected %s %v %s", m.Command, m.Headers, m.Body)
			}
		}
		code, err := f.WaitClosed(5 * time.Second)
		t.Logf("flood: %d /app/rooms replies, %d refusals, then ERROR %q, close %d, in %v",
			replies, refused, final.Header("message"), code, time.Since(begin).Round(time.Millisecond))
		if err != nil || final.Header("message") != "rate limit exceeded" || code != 1008 {
			t.Fatalf("final ERROR %q, close %d (%v); want rate limit exceeded, 1008", final.Header("message"), code, err)
		}
		if refused != d.SendAbuse {
			t.Errorf("%d refusals before the close, want limits.send_abuse = %d", refused, d.SendAbuse)
		}
		// at most the burst (less the errors subscription) plus what the
		// rate refilled meanwhile is served
		if replies < 1 || replies > d.SubscribeBurst {
			t.Errorf("%d /app/rooms replies, want 1..%d", replies, d.SubscribeBurst)
		}
		chatRoundTrip(t, chatter, "room", room, "after the flood")
		if err := chatter.Subscribe("more", "/topic/rooms"); err != nil {
			t.Fatalf("chatter cannot subscribe after the flood: %v", err)
		}
	})
}

// TestRateLimitedSubscribeMakesNothing: a SUBSCRIBE over the limit gets
// rate_limited with its destination and id, no RECEIPT, and no
// subscription: its id is free, so an UNSUBSCRIBE of it is a no-op that
// is receipted, and the refused SUBSCRIBE's RECEIPT never comes before it.
func TestRateLimitedSubscribeMakesNothing(t *testing.T) {
	cfg := testConfig(t, config.BrokerEmbedded)
	cfg.Limits.SubscribeRate = 0.001 // two SUBSCRIBEs, then none for a long while
	cfg.Limits.SubscribeBurst = 2
	cfg.Limits.SendAbuse = 0
	r := start(t, cfg)
	c := connect(t, r, "eager")
	if err := c.Subscribe("errs", "/user/queue/errors"); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe("first", "/topic/a"); err != nil {
		t.Fatal(err)
	}
	if err := c.Raw([]byte("SUBSCRIBE\nid:late\ndestination:/topic/b\nreceipt:r-late\n\n\x00UNSUBSCRIBE\nid:late\nreceipt:r-unsub\n\n\x00")); err != nil {
		t.Fatal(err)
	}
	m, err := c.Expect(stomp.MESSAGE, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var e subscribeRefusal
	if err := json.Unmarshal(m.Body, &e); err != nil || m.Header("subscription") != "errs" || e.Code != "rate_limited" ||
		e.Destination != "/topic/b" || e.Subscription != "late" || !strings.Contains(e.Message, "nothing was subscribed") {
		t.Fatalf("got %v %s (%v)", m.Headers, m.Body, err)
	}
	if f, err := c.Expect(stomp.RECEIPT, 5*time.Second); err != nil || f.Header("receipt-id") != "r-unsub" {
		t.Fatalf("want only the UNSUBSCRIBE's RECEIPT: %v %v", f, err)
	}
	// SENDs have their own budget
	room := createRoom(t, r, unique(t))
	if err := c.Send(chatSend(room, "hi", "receipt", "r-send")); err != nil {
		t.Fatal(err)
	}
	if f, err := c.Expect(stomp.RECEIPT, 5*time.Second); err != nil || f.Header("receipt-id") != "r-send" {
		t.Fatalf("SEND after a refused SUBSCRIBE: %v %v", f, err)
	}
}
