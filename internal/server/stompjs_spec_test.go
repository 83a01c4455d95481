package server

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/jsclient"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/testkit"
)

// The stompjs specs: the kinds of case @stomp/stompjs's own repository
// runs against a broker (spec/unit: message, subscription, transaction,
// ack, heart-beat; large data), each run with a real stompjs client
// against chatrelay in both broker modes and, as the reference, against
// RabbitMQ's Web-STOMP endpoint itself. Where stompjs's specs wait with a
// timer for something not to happen, these send a later marker and wait
// for it instead.

// specWait bounds every wait of a spec: generous for a busy 2-core machine.
const specWait = 20 * time.Second

// specTarget is one server a spec runs against.
type specTarget struct {
	name     string // embedded, rabbitmq or webstomp
	url      string
	passcode string // the login's passcode (Web-STOMP's guest/guest)
	// maxFrame is chatrelay's limits.max_frame_bytes; 0 for the reference
	maxFrame int
	// queueStats: the target's queues are RabbitMQ queues, readable
	// through the management API
	queueStats bool
	topic      string   // a topic no other test uses
	queues     []string // queue destinations no other test uses
}

// forEachSpecTarget runs spec against chatrelay with the embedded broker,
// chatrelay with RabbitMQ, and RabbitMQ Web-STOMP, each with a fresh
// topic and nQueues fresh queues. The chatrelay replicas let clients send
// to any topic and to and from those queues.
func forEachSpecTarget(t *testing.T, nQueues int, spec func(t *testing.T, tg specTarget)) {
	for _, name := range []string{config.BrokerEmbedded, config.BrokerRabbitMQ, "webstomp"} {
		t.Run(name, func(t *testing.T) {
			testkit.Require(t, testkit.Node, jsclient.Available())
			tg := specTarget{name: name, topic: "/topic/spec." + unique(t)}
			for i := range nQueues {
				tg.queues = append(tg.queues, "/queue/spec-"+unique(t)+"-"+strconv.Itoa(i))
			}
			if name == "webstomp" {
				n := rabbittest.Require(t, rabbit)
				tg.url, tg.passcode, tg.queueStats = n.WebSTOMPURL(), "guest", true
				spec(t, tg)
				return
			}
			cfg := testConfig(t, name)
			cfg.Policy.ClientSend = append(cfg.Policy.ClientSend, "/topic/**")
			cfg.Policy.ClientSend = append(cfg.Policy.ClientSend, tg.queues...)
			cfg.Policy.ClientSubscribe = append(cfg.Policy.ClientSubscribe, tg.queues...)
			r := start(t, cfg)
			tg.url, tg.maxFrame = r.URL(), cfg.Limits.MaxFrameBytes
			tg.queueStats = name == config.BrokerRabbitMQ
			spec(t, tg)
		})
	}
}

// connect starts a stompjs client connected to the target.
func (tg specTarget) connect(t *testing.T, o jsclient.ConnectOptions) *jsclient.Client {
	t.Helper()
	c := jsclient.NewT(t)
	c.Timeout = specWait
	o.URL = tg.url
	if o.Login == "" {
		o.Login = "guest"
	}
	if tg.passcode != "" {
		o.Passcode = tg.passcode
	}
	if _, err := c.ConnectWith(o); err != nil {
		t.Fatalf("%s: %v", tg.name, err)
	}
	return c
}

// client starts a plain stompjs client connected to the target.
func (tg specTarget) client(t *testing.T) *jsclient.Client {
	t.Helper()
	return tg.connect(t, jsclient.ConnectOptions{})
}

// specSubscribe subscribes with a receipt and fails the test on error.
func specSubscribe(t *testing.T, c *jsclient.Client, id, dest string, headers map[string]string) {
	t.Helper()
	h := map[string]string{"receipt": "sub-" + id}
	for k, v := range headers {
		h[k] = v
	}
	if err := c.Subscribe(id, dest, h); err != nil {
		t.Fatal(err)
	}
}

// specReceipts numbers the receipts specSend asks for.
var specReceipts atomic.Int64

// specSend sends a text body with a receipt and fails the test on error.
func specSend(t *testing.T, c *jsclient.Client, dest, body string, headers map[string]string) {
	t.Helper()
	h := map[string]string{"receipt": "send-" + strconv.FormatInt(specReceipts.Add(1), 10)}
	for k, v := range headers {
		h[k] = v
	}
	if err := c.Send(dest, body, h); err != nil {
		t.Fatal(err)
	}
}

// nextMessage takes the oldest message the client has not taken yet and
// fails unless its body is want.
func nextMessage(t *testing.T, c *jsclient.Client, want string) jsclient.Event {
	t.Helper()
	e, err := c.WaitMessage(specWait, nil)
	if err != nil {
		t.Fatalf("waiting for %q: %v", want, err)
	}
	if e.Body != want {
		t.Fatalf("next message is %q (headers %v), want %q", abbrev(e.Body), e.Headers, want)
	}
	return e
}

func abbrev(s string) string {
	if len(s) > 80 {
		return fmt.Sprintf("%s... (%d bytes)", s[:80], len(s))
	}
	return s
}

// TestStompJSSpecMessage mirrors stompjs's message and subscription
// specs: text (ASCII, non-ASCII UTF-8, JSON) with custom headers,
// including STOMP 1.2 escaped characters in a header value.
func TestStompJSSpecMessage(t *testing.T) {
	forEachSpecTarget(t, 0, func(t *testing.T, tg specTarget) {
		c := tg.client(t)
		specSubscribe(t, c, "s1", tg.topic, nil)
		cases := []struct {
			body    string
			headers map[string]string
		}{
			{"Is anybody out there?", nil},
			{"Älä sinä yhtään and السابق", map[string]string{"content-type": "text/plain;charset=utf-8", "x-lang": "fi,ar"}},
			{`{"text":"hello","bool":true,"value":"v-42"}`, map[string]string{"content-type": "application/json"}},
			{"special headers", map[string]string{"cust": "f:o:o\nbar\rbaz\\foo\nbar\rbaz\\"}},
		}
		for _, tt := range cases {
			specSend(t, c, tg.topic, tt.body, tt.headers)
			e := nextMessage(t, c, tt.body)
			if e.Subscription != "s1" || e.Destination != tg.topic || e.Headers["message-id"] == "" {
				t.Fatalf("%q: subscription %q destination %q headers %v", tt.body, e.Subscription, e.Destination, e.Headers)
			}
			for k, v := range tt.headers {
				if e.Headers[k] != v {
					t.Errorf("%q: header %s = %q, want %q", tt.body, k, e.Headers[k], v)
				}
			}
		}
	})
}

// TestStompJSSpecBinary mirrors stompjs's binary specs: a body of every
// byte value (NULs, invalid UTF-8) sent as binaryBody arrives byte for
// byte, and a text message after it arrives as text; over text and over
// binary WebSocket frames.
func TestStompJSSpecBinary(t *testing.T) {
	forEachSpecTarget(t, 0, func(t *testing.T, tg specTarget) {
		raw := make([]byte, 0, 1024+3)
		for i := range 1024 {
			raw = append(raw, byte(i*7))
		}
		raw = append(raw, 0, 0, 0xff) // ends with NULs and a lone 0xff
		for _, binaryFrames := range []bool{false, true} {
			t.Run(fmt.Sprintf("binary-ws-frames=%v", binaryFrames), func(t *testing.T) {
				c := tg.connect(t, jsclient.ConnectOptions{Binary: binaryFrames})
				specSubscribe(t, c, "s1", tg.topic, nil)
				if err := c.SendBytes(tg.topic, raw, map[string]string{"receipt": "bin", "content-type": "application/octet-stream"}); err != nil {
					t.Fatal(err)
				}
				e, err := c.WaitMessage(specWait, nil)
				if err != nil {
					t.Fatal(err)
				}
				if got := e.BodyBytes(); string(got) != string(raw) {
					t.Fatalf("binary body: %d bytes %x..., want %d bytes %x...", len(got), got[:min(16, len(got))], len(raw), raw[:16])
				}
				if e.Headers["content-type"] != "application/octet-stream" {
					t.Errorf("content-type %q", e.Headers["content-type"])
				}
				specSend(t, c, tg.topic, "Hello World", nil)
				nextMessage(t, c, "Hello World")
			})
		}
	})
}

// TestStompJSSpecUnsubscribe mirrors "Should no longer receive messages
// after unsubscribing": of two subscriptions to one topic, the one
// unsubscribed gets neither the message sent after nor a later marker
// that the other subscription receives.
func TestStompJSSpecUnsubscribe(t *testing.T) {
	forEachSpecTarget(t, 0, func(t *testing.T, tg specTarget) {
		c := tg.client(t)
		specSubscribe(t, c, "gone", tg.topic, nil)
		specSubscribe(t, c, "kept", tg.topic, nil)
		specSend(t, c, tg.topic, "before", nil)
		for range 2 {
			if _, err := c.WaitMessage(specWait, func(e jsclient.Event) bool { return e.Body == "before" }); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Unsubscribe("gone", map[string]string{"receipt": "unsub"}); err != nil {
			t.Fatal(err)
		}
		specSend(t, c, tg.topic, "Calling all cars!", nil)
		specSend(t, c, tg.topic, "marker", nil)
		for _, want := range []string{"Calling all cars!", "marker"} {
			if e := nextMessage(t, c, want); e.Subscription != "kept" || e.Unhandled {
				t.Fatalf("%q came for subscription %q (unhandled %v)", want, e.Subscription, e.Unhandled)
			}
		}
		for _, e := range c.Pending() {
			if e.Event == "message" {
				t.Fatalf("after the marker: %q for subscription %q", e.Body, e.Subscription)
			}
		}
	})
}

// stompjsSendSize is the size of the SEND frame stompjs writes for a body
// of n bytes to dest with headers: command, headers (its content-length
// included), blank line, body and NUL, as limits.max_frame_bytes counts.
func stompjsSendSize(dest string, n int, headers map[string]string) int {
	size := len("SEND\n") + len("destination:"+dest+"\n") + len("content-length:"+strconv.Itoa(n)+"\n") + len("\n") + n + len("\x00")
	for k, v := range headers {
		size += len(k) + len(":") + len(v) + len("\n")
	}
	return size
}

// bodyFor returns the largest body length whose SEND frame is at most
// size bytes.
func bodyFor(dest string, size int, headers map[string]string) int {
	n := size - stompjsSendSize(dest, 0, headers)
	for stompjsSendSize(dest, n, headers) > size {
		n--
	}
	return n
}

// TestStompJSSpecLargeBodies mirrors stompjs's large data specs. On
// chatrelay: a text and a binary body in the largest SEND frame
// limits.max_frame_bytes allows arrive intact; a frame one byte over is
// refused with an ERROR naming the limit and closes only its sender's
// connection, while the first client keeps sending and receiving. On the
// reference: 512 KiB text and binary bodies.
func TestStompJSSpecLargeBodies(t *testing.T) {
	forEachSpecTarget(t, 0, func(t *testing.T, tg specTarget) {
		c := tg.client(t)
		specSubscribe(t, c, "s1", tg.topic, nil)
		hdr := map[string]string{"receipt": "large"}
		n := 512 << 10
		if tg.maxFrame > 0 {
			n = bodyFor(tg.topic, tg.maxFrame, hdr)
			if stompjsSendSize(tg.topic, n, hdr) != tg.maxFrame {
				t.Fatalf("no body fills a frame of exactly %d bytes", tg.maxFrame)
			}
		}
		text := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz", n/36+1)[:n]
		if err := c.Send(tg.topic, text, hdr); err != nil {
			t.Fatal(err)
		}
		if e := nextMessage(t, c, text); len(e.Body) != n {
			t.Fatalf("text body %d bytes, want %d", len(e.Body), n)
		}
		raw := make([]byte, n)
		for i := range raw {
			raw[i] = byte(i * 31)
		}
		if err := c.SendBytes(tg.topic, raw, hdr); err != nil {
			t.Fatal(err)
		}
		e, err := c.WaitMessage(specWait, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.BodyBytes(); string(got) != string(raw) {
			t.Fatalf("binary body of %d bytes differs from the %d sent", len(got), n)
		}
		t.Logf("%s: %d-byte text and binary bodies delivered", tg.name, n)
		if tg.maxFrame == 0 {
			return
		}

		big := tg.client(t)
		over := bodyFor(tg.topic, tg.maxFrame+1, hdr)
		if stompjsSendSize(tg.topic, over, hdr) != tg.maxFrame+1 {
			t.Fatalf("no body makes a frame of exactly %d bytes", tg.maxFrame+1)
		}
		err = big.Send(tg.topic, strings.Repeat("x", over), hdr)
		if err == nil || !strings.Contains(err.Error(), "ERROR") {
			t.Fatalf("a %d-byte frame: want an ERROR, got %v", tg.maxFrame+1, err)
		}
		ev, err := big.WaitEvent(specWait, func(e jsclient.Event) bool { return e.Event == "error" })
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("frame exceeds %d bytes", tg.maxFrame)
		if msg := ev.Headers["message"]; !strings.Contains(msg, want) || !strings.Contains(msg, "limits.max_frame_bytes") {
			t.Fatalf("ERROR message %q, want it to contain %q and the setting's name", msg, want)
		}
		t.Logf("%s: over the limit: ERROR %q", tg.name, ev.Headers["message"])
		if _, err := big.WaitEvent(specWait, func(e jsclient.Event) bool { return e.Event == "closed" }); err != nil {
			t.Fatal(err)
		}
		specSend(t, c, tg.topic, "still here", nil)
		nextMessage(t, c, "still here")
	})
}

// TestStompJSSpecHeartBeats mirrors stompjs's heart-beat specs with both
// directions at 1000 ms: CONNECTED grants heart-beats both ways, stompjs
// receives and sends several (counted as they happen, no sleeping), the
// connection outlives several intervals with no other traffic (a server
// missing the client's heart-beats would close it after 1.5 s), and
// messages still flow.
func TestStompJSSpecHeartBeats(t *testing.T) {
	forEachSpecTarget(t, 0, func(t *testing.T, tg specTarget) {
		c := jsclient.NewT(t)
		c.Timeout = specWait
		connected, err := c.ConnectWith(jsclient.ConnectOptions{
			URL: tg.url, Login: "guest", Passcode: tg.passcode,
			Heartbeat: [2]int{1000, 1000}, HeartbeatEvents: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		var sx, sy int
		if _, err := fmt.Sscanf(connected["heart-beat"], "%d,%d", &sx, &sy); err != nil || sx <= 0 || sy <= 0 || sx > 1000 || sy > 1000 {
			t.Fatalf("CONNECTED heart-beat %q: want both directions, at most 1000 ms", connected["heart-beat"])
		}
		const beats = 4
		begin := time.Now()
		for _, kind := range []string{"heartbeat_in", "heartbeat_out"} {
			if _, err := c.WaitEvents(specWait, beats, func(e jsclient.Event) bool { return e.Event == kind }); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("%s: CONNECTED heart-beat:%s; %d heart-beats each way within %v", tg.name, connected["heart-beat"], beats, time.Since(begin).Round(time.Millisecond))
		for _, e := range c.Pending() {
			switch e.Event {
			case "heartbeat_lost", "closed", "error", "ws_error":
				t.Fatalf("while heart-beating: %+v", e)
			}
		}
		specSubscribe(t, c, "s1", tg.topic, nil)
		specSend(t, c, tg.topic, "alive", nil)
		nextMessage(t, c, "alive")
	})
}
