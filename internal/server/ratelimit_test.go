package server

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// rateLimitConfig is the embedded-broker config with SENDs limited to
// rate per second, burst at once, and abuse refusals per 10 s.
func rateLimitConfig(t *testing.T, rate float64, burst, abuse int) config.Config {
	cfg := testConfig(t, config.BrokerEmbedded)
	cfg.Limits.SendRate = rate
	cfg.Limits.SendBurst = burst
	cfg.Limits.SendAbuse = abuse
	cfg.Limits.SendAbuseWindow = 10 * time.Second
	return cfg
}

// chatSend returns a SEND of text to room through /app/chat.send, with the
// CONNECT-style header pairs kv.
func chatSend(room, text string, kv ...string) *stomp.Frame {
	f := stomp.New(stomp.SEND, append([]string{"destination", "/app/chat.send"}, kv...)...)
	f.Body = fmt.Appendf(nil, `{"roomId":%q,"message":%q}`, room, text)
	return f
}

// errorBody is a message from /user/queue/errors.
type errorBody struct {
	Code, Message, Destination string
}

// floodResult is what the flooding client saw.
type floodResult struct {
	sent, rateLimited, roomMessages int
	errMessage                      string
	code                            int
	err                             error
}

// flood sends n SENDs to room through c as fast as it can, stopping when
// the socket refuses more, then reads until the ERROR and the close. It
// owns c; started is closed after the first SEND.
func flood(c *stomptest.Client, room string, n int, started chan<- struct{}) floodResult {
	var res floodResult
	for i := range n {
		if err := c.Send(chatSend(room, "flood-"+strconv.Itoa(i))); err != nil {
			break // the server closed the socket meanwhile
		}
		res.sent++
		if i == 0 {
			close(started)
		}
	}
	if res.sent == 0 {
		close(started)
	}
	for range n + 10 { // each SEND causes at most one frame, plus the ERROR
		f, err := c.Read(10 * time.Second)
		if err != nil {
			res.err = fmt.Errorf("after %d rate_limited errors and %d room messages: %w", res.rateLimited, res.roomMessages, err)
			return res
		}
		switch {
		case f.Command == stomp.ERROR:
			res.errMessage = f.Header("message")
			res.code, res.err = c.WaitClosed(5 * time.Second)
			return res
		case f.Command != stomp.MESSAGE:
			res.err = fmt.Errorf("unexpected %s %v", f.Command, f.Headers)
			return res
		case f.Header("subscription") == "room":
			res.roomMessages++
		case f.Header("subscription") == "errs":
			var e errorBody
			if err := json.Unmarshal(f.Body, &e); err != nil || e.Code != "rate_limited" || e.Destination != "/app/chat.send" {
				res.err = fmt.Errorf("error message %s (%v)", f.Body, err)
				return res
			}
			res.rateLimited++
		default:
			res.err = fmt.Errorf("message on subscription %q", f.Header("subscription"))
			return res
		}
	}
	res.err = fmt.Errorf("no ERROR after %d frames", n+10)
	return res
}

// TestSendRateAbuseClosesOnlyTheAbuser: a session sending 10× its rate
// limit gets rate_limited errors, then ERROR "rate limit exceeded" and a
// close; another session on the same replica keeps its round trips short
// meanwhile.
func TestSendRateAbuseClosesOnlyTheAbuser(t *testing.T) {
	const rate, burst, abuse = 20, 20, 30
	r := start(t, rateLimitConfig(t, rate, burst, abuse))
	roomA := createRoom(t, r, unique(t)+"-a")
	roomB := createRoom(t, r, unique(t)+"-b")

	a := connect(t, r, "abuser")
	if err := a.Subscribe("errs", "/user/queue/errors"); err != nil {
		t.Fatal(err)
	}
	if err := a.Subscribe("room", "/topic/room."+roomA); err != nil {
		t.Fatal(err)
	}
	b := connect(t, r, "bystander")
	if err := b.Subscribe("room", "/topic/room."+roomB); err != nil {
		t.Fatal(err)
	}

	// the flooding goroutine owns a until it has its verdict
	started := make(chan struct{})
	done := make(chan floodResult, 1)
	begin := time.Now()
	go func() { done <- flood(a, roomA, 10*rate, started) }()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the flood never started")
	}

	// the bystander sends at a normal pace and times each round trip
	var slowest time.Duration
	for i := range 5 {
		text := "paced-" + strconv.Itoa(i)
		sent := time.Now()
		if err := b.Send(chatSend(roomB, text)); err != nil {
			t.Fatal(err)
		}
		m, err := b.Expect(stomp.MESSAGE, 5*time.Second)
		if err != nil {
			t.Fatalf("bystander message %d: %v", i, err)
		}
		rtt := time.Since(sent)
		var msg rooms.Message
		if err := json.Unmarshal(m.Body, &msg); err != nil || msg.Message != text || m.Header("subscription") != "room" {
			t.Fatalf("bystander got %v %s (%v), want %q", m.Headers, m.Body, err, text)
		}
		t.Logf("bystander round trip %d: %v", i, rtt)
		slowest = max(slowest, rtt)
		time.Sleep(100 * time.Millisecond)
	}
	// generous: a delay caused by the abuser would show as seconds
	if slowest > time.Second {
		t.Errorf("bystander's slowest round trip %v", slowest)
	}

	var res floodResult
	select {
	case res = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the flooding client never got its verdict")
	}
	t.Logf("abuser sent %d SENDs in %v: %d room messages, %d rate_limited errors, then ERROR %q and close %d",
		res.sent, time.Since(begin).Round(time.Millisecond), res.roomMessages, res.rateLimited, res.errMessage, res.code)
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.rateLimited < 1 || res.rateLimited > abuse {
		t.Errorf("%d rate_limited errors, want 1..%d before the close", res.rateLimited, abuse)
	}
	if res.errMessage != "rate limit exceeded" || res.code != 1008 {
		t.Errorf("final ERROR %q, close code %d; want rate limit exceeded, 1008", res.errMessage, res.code)
	}
	// the bystander is still connected and served
	assertStillReceives(t, r, b, "room", roomB, "login", "sender")
}

// TestSendUnderRateLimit: a session within its rate, including a burst
// of its full bucket, gets every SEND processed and no error.
func TestSendUnderRateLimit(t *testing.T) {
	const rate, burst = 20, 5
	r := start(t, rateLimitConfig(t, rate, burst, 1))
	room := createRoom(t, r, unique(t))
	c := connect(t, r, "polite")
	if err := c.Subscribe("errs", "/user/queue/errors"); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe("room", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	// a full burst at once, then SENDs at half the rate
	for i := range burst {
		if err := c.Send(chatSend(room, "burst-"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	paced := 10
	for i := range paced {
		time.Sleep(time.Second / (rate / 2))
		if err := c.Send(chatSend(room, "paced-"+strconv.Itoa(i), "receipt", "r"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	var messages, receipts int
	for range burst + 2*paced {
		f, err := c.Read(5 * time.Second)
		if err != nil {
			t.Fatalf("after %d messages and %d receipts: %v", messages, receipts, err)
		}
		switch {
		case f.Command == stomp.RECEIPT:
			receipts++
		case f.Command == stomp.MESSAGE && f.Header("subscription") == "room":
			messages++
		default:
			t.Fatalf("within the rate: got %s %v %s", f.Command, f.Headers, f.Body)
		}
	}
	if messages != burst+paced || receipts != paced {
		t.Fatalf("%d room messages and %d receipts, want %d and %d", messages, receipts, burst+paced, paced)
	}
	if f, err := c.Read(300 * time.Millisecond); err == nil {
		t.Fatalf("extra frame %s %v %s", f.Command, f.Headers, f.Body)
	}
}

// TestRateLimitedSendStillReceipted: a SEND refused by the rate limit is
// reported on /user/queue/errors and still gets its RECEIPT, so a client
// waiting for it does not hang.
func TestRateLimitedSendStillReceipted(t *testing.T) {
	cfg := rateLimitConfig(t, 0.001, 1, 0) // one SEND, then none for a long while
	r := start(t, cfg)
	room := createRoom(t, r, unique(t))
	c := connect(t, r, "eager")
	if err := c.Subscribe("errs", "/user/queue/errors"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"first", "second"} {
		if err := c.Send(chatSend(room, id, "receipt", id)); err != nil {
			t.Fatal(err)
		}
	}
	// the first RECEIPT waits for the broker, the refusal does not: any order
	got := map[string]bool{}
	for len(got) < 3 {
		f, err := c.Read(5 * time.Second)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		switch {
		case f.Command == stomp.RECEIPT:
			got["receipt "+f.Header("receipt-id")] = true
		case f.Command == stomp.MESSAGE && f.Header("subscription") == "errs" && strings.Contains(string(f.Body), "rate_limited"):
			got["rate_limited"] = true
		default:
			t.Fatalf("unexpected %s %v %s", f.Command, f.Headers, f.Body)
		}
	}
	for _, want := range []string{"receipt first", "receipt second", "rate_limited"} {
		if !got[want] {
			t.Fatalf("got %v, want %s", got, want)
		}
	}
}
