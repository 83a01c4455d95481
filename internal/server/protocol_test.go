package server

import (
	"net/http"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
	"chatrelay/internal/testkit"
)

// TestProtocolErrors sends each kind of bad frame and checks the precise
// ERROR, the close, and that a bystander on the same replica keeps
// receiving.
func TestProtocolErrors(t *testing.T) {
	cfg := testConfig(t, config.BrokerEmbedded)
	cfg.Auth = config.Auth{Mode: config.AuthStatic, Users: map[string]string{"alice": "pw", "bob": "pw"}}
	cfg.HTTP.APIKey = testAPIKey // creating the room takes a user or the key
	r := start(t, cfg)
	bystander := connect(t, r, "alice", "passcode", "pw")
	room := createRoom(t, r, unique(t))
	if err := bystander.Subscribe("b", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		preamble bool // CONNECT first
		raw      string
		want     string
	}{
		{"frame before CONNECT", false, "SEND\ndestination:/app/chat.send\n\n\x00", "Illegal command"},
		{"bad credentials", false, "CONNECT\naccept-version:1.2\nlogin:alice\npasscode:nope\n\n\x00", "bad credentials"},
		{"unsupported version", false, "CONNECT\naccept-version:2.0\n\n\x00", "Version mismatch"},
		{"bad heart-beat", false, "CONNECT\naccept-version:1.2\nlogin:bob\npasscode:pw\nheart-beat:x\n\n\x00", "invalid heart-beat"},
		{"unknown command", true, "FROB\n\n\x00", "Bad command"},
		{"missing destination", true, "SUBSCRIBE\nid:1\n\n\x00", "Missing destination"},
		{"missing id", true, "SUBSCRIBE\ndestination:/topic/x\n\n\x00", "Missing header"},
		{"duplicate subscription", true, "SUBSCRIBE\nid:1\ndestination:/topic/x\n\n\x00SUBSCRIBE\nid:1\ndestination:/topic/y\n\n\x00", "duplicate subscription id"},
		{"missing transaction", true, "BEGIN\n\n\x00", "Missing transaction"},
		{"unknown transaction", true, "COMMIT\ntransaction:t9\n\n\x00", "Bad transaction"},
		{"ack without id", true, "ACK\n\n\x00", "Missing header"},
		{"malformed header", true, "SEND\nno-colon-here\n\n\x00", "malformed frame"},
		{"second CONNECT", true, "CONNECT\naccept-version:1.2\n\n\x00", "already connected"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, r)
			if tt.preamble {
				if _, err := c.Connect("login", "bob", "passcode", "pw"); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Raw([]byte(tt.raw)); err != nil {
				t.Fatal(err)
			}
			expectError(t, c, tt.want)
		})
	}
	// the ERROR carries receipt-id when the failing frame asked for one
	c := connect(t, r, "bob", "passcode", "pw")
	if err := c.Raw([]byte("SUBSCRIBE\nid:1\nreceipt:r-5\n\n\x00")); err != nil {
		t.Fatal(err)
	}
	f, err := c.Expect(stomp.ERROR, 5*time.Second)
	if err != nil || f.Header("receipt-id") != "r-5" {
		t.Fatalf("ERROR without receipt-id: %v %v", f, err)
	}
	assertStillReceives(t, r, bystander, "b", room, "login", "alice", "passcode", "pw")
}

// assertStillReceives publishes to room through the replica, as a client
// connecting with the CONNECT headers kv, and checks the subscriber gets
// it on subscription sub.
func assertStillReceives(t *testing.T, r *replica, c *stomptest.Client, sub, room string, kv ...string) {
	t.Helper()
	sender := dial(t, r)
	if _, err := sender.Connect(kv...); err != nil {
		t.Fatal(err)
	}
	body := `{"roomId":"` + room + `","message":"still here"}`
	if err := sender.Send(&stomp.Frame{Command: stomp.SEND, Headers: stomp.Headers{{Key: "destination", Value: "/app/chat.send"}}, Body: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	m, err := c.Expect(stomp.MESSAGE, 5*time.Second)
	if err != nil {
		t.Fatalf("bystander stopped receiving: %v", err)
	}
	if m.Header("subscription") != sub {
		t.Fatalf("bystander got %v", m.Headers)
	}
}

// TestOriginCheck refuses a foreign Origin with 403 and accepts the
// configured one.
func TestOriginCheck(t *testing.T) {
	cfg := testConfig(t, config.BrokerEmbedded)
	cfg.HTTP.AllowedOrigins = []string{"https://chat.example"}
	r := start(t, cfg)
	_, resp, err := stomptest.Dial(r.URL(), stomptest.Options{Header: http.Header{"Origin": {"https://evil.example"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("evil origin: err %v resp %v", err, resp)
	}
	c, _, err := stomptest.Dial(r.URL(), stomptest.Options{Header: http.Header{"Origin": {"https://chat.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Connect("login", "ok"); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	// default: same host and localhost only
	r2 := start(t, testConfig(t, config.BrokerEmbedded))
	if _, resp, err := stomptest.Dial(r2.URL(), stomptest.Options{Header: http.Header{"Origin": {"https://evil.example"}}}); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("default policy let evil.example in: %v", err)
	}
	if _, _, err := stomptest.Dial(r2.URL(), stomptest.Options{Header: http.Header{"Origin": {"http://localhost:3000"}}}); err != nil {
		t.Fatalf("localhost refused by default: %v", err)
	}
}

// TestHeartBeats checks the server sends heart-beats at the negotiated
// rate and closes a client that goes silent within 2x the interval plus
// grace. The close may come late on a loaded machine, never early: the
// lower bound is exact, the upper one has seconds of slack.
func TestHeartBeats(t *testing.T) {
	testkit.SkipSlow(t, "waits out heart-beat timeouts")
	cfg := testConfig(t, config.BrokerEmbedded)
	r := start(t, cfg)
	c := dial(t, r)
	f, err := c.Connect("login", "beater", "heart-beat", "1000,1000")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Header("heart-beat"); got != "1000,1000" {
		t.Fatalf("negotiated heart-beat %q, want 1000,1000", got)
	}
	start := time.Now()
	due := 2*time.Second + cfg.STOMP.HeartBeatGrace // twice the interval plus grace
	const slack = 5 * time.Second                   // a loaded 2-core machine's scheduling delays
	code, err := c.WaitClosed(due + slack)
	if err != nil {
		t.Fatalf("silent client not closed within %v (due after %v): %v", due+slack, due, err)
	}
	elapsed := time.Since(start)
	if elapsed < 2*time.Second {
		t.Fatalf("closed after %v, before twice the interval", elapsed)
	}
	if code != 4002 {
		t.Errorf("close code %d, want 4002 (heart-beat timeout)", code)
	}
	// at least one beat a second while the client was silent, and at
	// most two: the writer checks every half interval and beats when
	// nothing was written for half of it (so that a late timer never
	// lets a whole interval pass)
	secs := int(elapsed / time.Second)
	if n := c.HeartBeats(); n < secs-1 || n > 2*secs+1 {
		t.Errorf("%d server heart-beats in %v, want one or two a second", n, elapsed)
	}
	// a client that keeps beating stays connected and sees beats
	c2 := dial(t, r)
	if _, err := c2.Connect("login", "beater2", "heart-beat", "500,1000"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if err := c2.Raw([]byte("\n")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-c2.Closed():
			t.Fatal("beating client was closed")
		case <-time.After(400 * time.Millisecond):
		}
	}
	if n := c2.HeartBeats(); n < 2 {
		t.Errorf("only %d server heart-beats in 2.5 s at 1000 ms", n)
	}
}
