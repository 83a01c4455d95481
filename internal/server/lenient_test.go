package server

import (
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// Input that RabbitMQ's STOMP adapter tolerates and chatrelay must too.

// nulConnect is a CONNECT with NULs (and a NUL EOL) before it and a
// second NUL after it, as some clients write it.
func nulConnect(kv ...string) []byte {
	f := "\x00\n\x00CONNECT\naccept-version:1.2\nhost:/\n"
	for i := 0; i+1 < len(kv); i += 2 {
		f += kv[i] + ":" + kv[i+1] + "\n"
	}
	return []byte(f + "\n\x00\x00")
}

// nulExchange sends nulConnect, then one message holding a SUBSCRIBE to
// sub (receipt r1), "\0\n\0", a SEND (receipt r2) of send with body, and
// "\0\0\n"; it expects CONNECTED, both RECEIPTs and the MESSAGE on the
// subscription, whose body contains want.
func nulExchange(t *testing.T, c *stomptest.Client, connect []string, sub, send, body, want string) {
	t.Helper()
	if err := c.Raw(nulConnect(connect...)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(stomp.CONNECTED, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	raw := "SUBSCRIBE\nid:s\ndestination:" + sub + "\nreceipt:r1\n\n\x00\n\x00" +
		"SEND\ndestination:" + send + "\nreceipt:r2\n\n" + body + "\x00\x00\n"
	if err := c.Raw([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	receipts := map[string]bool{}
	var msg *stomp.Frame
	for msg == nil || len(receipts) < 2 {
		f, err := c.Read(10 * time.Second)
		if err != nil {
			t.Fatalf("after receipts %v and message %v: %v", receipts, msg, err)
		}
		switch f.Command {
		case stomp.RECEIPT:
			receipts[f.Header("receipt-id")] = true
		case stomp.MESSAGE:
			msg = f
		default:
			t.Fatalf("got %s %q %q", f.Command, f.Header("message"), f.Body)
		}
	}
	if !receipts["r1"] || !receipts["r2"] {
		t.Fatalf("receipts %v, want r1 and r2", receipts)
	}
	if msg.Header("subscription") != "s" || !strings.Contains(string(msg.Body), want) {
		t.Fatalf("MESSAGE %v %q, want on s with %q", msg.Headers, msg.Body, want)
	}
}

// TestNULsBetweenFrames sends NULs before CONNECT, after frames and
// between them: chatrelay answers as if they were not there, as RabbitMQ
// does. (One upstream connection, so that the SEND cannot overtake the
// SUBSCRIBE of the same message.)
func TestNULsBetweenFrames(t *testing.T) {
	cfg := testConfig(t, config.BrokerEmbedded)
	cfg.Broker.Connections = 1
	r := start(t, cfg)
	room := createRoom(t, r, unique(t))
	body := `{"roomId":"` + room + `","message":"through NULs"}`
	nulExchange(t, dial(t, r), []string{"login", "nul"}, "/topic/room."+room, "/app/chat.send", body, "through NULs")
}

// TestNULsBetweenFramesRabbitMQ shows RabbitMQ Web-STOMP tolerating the
// bytes TestNULsBetweenFrames sends chatrelay.
func TestNULsBetweenFramesRabbitMQ(t *testing.T) {
	n := rabbittest.Require(t, rabbit)
	c, _, err := stomptest.Dial(n.WebSTOMPURL(), stomptest.Options{Subprotocols: []string{"v12.stomp"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	topic := "/topic/" + strings.ReplaceAll(unique(t), "/", ".")
	nulExchange(t, c, []string{"login", "guest", "passcode", "guest"}, topic, topic, "through NULs", "through NULs")
}

// TestNULsBeforeCONNECTBounded sends nothing but NULs: they count against
// limits.preconnect_bytes exactly as heart-beat EOLs do.
func TestNULsBeforeCONNECTBounded(t *testing.T) {
	cfg := testConfig(t, config.BrokerEmbedded)
	cfg.Limits.PreconnectBytes = 4096
	r := start(t, cfg)
	c := dial(t, r)
	// the server stops reading mid-message: send from a goroutine (it
	// ends when the socket does) and read the ERROR meanwhile
	sent := make(chan error, 1)
	go func() { sent <- c.Raw(make([]byte, 60<<10)) }()
	expectError(t, c, "limits.preconnect_bytes")
	select {
	case <-sent:
	case <-time.After(10 * time.Second):
		t.Fatal("sending never ended after the close")
	}
}

// TestBooleanHeaderSpellings sends the boolean spellings stomp.py writes
// (True, False) on headers policy.allow_headers lists: accepted, in both
// broker modes, with the replica's one upstream connection untouched; a
// nonsense value is still refused with an ERROR naming the header.
func TestBooleanHeaderSpellings(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		cfg.Broker.Connections = 1
		cfg.Policy.ClientSend = []string{"/app/**", "/topic/**"}
		cfg.Policy.AllowHeaders = []string{"persistent", "durable", "auto-delete"}
		r := start(t, cfg)
		topic := "/topic/" + strings.ReplaceAll(unique(t), "/", ".")
		c := connect(t, r, "py")
		if err := c.Subscribe("s", topic, "durable", "False", "auto-delete", "True"); err != nil {
			t.Fatal(err)
		}
		send := stomp.New(stomp.SEND, "destination", topic, "persistent", "True", "receipt", "r2")
		send.Body = []byte("py")
		if err := c.Send(send); err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for !got[stomp.RECEIPT] || !got[stomp.MESSAGE] {
			f, err := c.Read(10 * time.Second)
			if err != nil {
				t.Fatalf("after %v: %v", got, err)
			}
			if f.Command == stomp.MESSAGE && (f.Header("subscription") != "s" || string(f.Body) != "py") ||
				f.Command == stomp.RECEIPT && f.Header("receipt-id") != "r2" || f.Command == stomp.ERROR {
				t.Fatalf("got %s %v %q", f.Command, f.Headers, f.Body)
			}
			got[f.Command] = true
		}
		bad := connect(t, r, "mallory")
		if err := bad.Raw([]byte("SEND\ndestination:" + topic + "\npersistent:yes\n\nx\x00")); err != nil {
			t.Fatal(err)
		}
		expectError(t, bad, `persistent must be true or false (True and False are accepted too), not "yes"`)
		if n := r.srv.Relay().Reconnects(); n != 0 {
			t.Fatalf("upstream reconnected %d times", n)
		}
	})
}
