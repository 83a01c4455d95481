package server

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"chatrelay/internal/config"
	"chatrelay/internal/jsclient"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// messageKind names a WebSocket message type for failure messages.
func messageKind(k int) string {
	switch k {
	case websocket.TextMessage:
		return "text"
	case websocket.BinaryMessage:
		return "binary"
	}
	return "none"
}

// expectKind reads the next frame, checks its command and the type of
// the WebSocket message it came in, and returns it.
func expectKind(t *testing.T, c *stomptest.Client, command string, kind int) *stomp.Frame {
	t.Helper()
	f, err := c.Expect(command, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.MessageType(f); got != kind {
		t.Fatalf("%s (body %.40q) came in a %s message, want %s", command, f.Body, messageKind(got), messageKind(kind))
	}
	return f
}

// TestRawTextFrames: what a raw-frame tool sees on /ws. Every message
// from the server that is valid UTF-8 is a text message — CONNECTED,
// RECEIPT, heart-beats, MESSAGEs with UTF-8 bodies (from a topic and from
// a room), ERROR — and a MESSAGE whose body is not UTF-8 comes in a
// binary message, its bytes unchanged. With stomp.websocket_frames:
// binary every message is binary, as before.
func TestRawTextFrames(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		for _, mode := range []string{config.WebSocketFramesAuto, config.WebSocketFramesBinary} {
			t.Run(mode, func(t *testing.T) {
				cfg := cfg
				cfg.Policy.ClientSend = []string{"/app/**", "/topic/**"}
				cfg.STOMP.WebSocketFrames = mode
				r := start(t, cfg)
				text, binary := websocket.TextMessage, websocket.BinaryMessage
				if mode == config.WebSocketFramesBinary {
					text = binary
				}
				c := dial(t, r)
				if err := c.Raw([]byte("CONNECT\naccept-version:1.2\nlogin:rawtext\nheart-beat:0,1000\n\n\x00")); err != nil {
					t.Fatal(err)
				}
				expectKind(t, c, stomp.CONNECTED, text)

				dest := "/topic/" + unique(t)
				if err := c.Subscribe("s1", dest); err != nil {
					t.Fatal(err)
				}
				for _, tc := range []struct {
					body string
					kind int
				}{
					{"héllo 日本語 ✓", text},
					{"\xff\xfe\x00\x01 not UTF-8", binary},
					{"\xe6\x97", binary}, // a cut rune
					{"plain again", text},
				} {
					f := stomp.New(stomp.SEND, "destination", dest, "content-type", "application/octet-stream")
					f.Body = []byte(tc.body)
					if err := c.Send(f); err != nil {
						t.Fatal(err)
					}
					// one at a time: a binary frame joined in one
					// message with the next would make both binary
					m := expectKind(t, c, stomp.MESSAGE, tc.kind)
					if string(m.Body) != tc.body {
						t.Fatalf("body %q arrived as %q", tc.body, m.Body)
					}
				}

				// a room message: its frame is built once for every
				// subscriber (session/roomframe.go)
				room := createRoom(t, r, unique(t))
				if err := c.Subscribe("s2", "/topic/room."+room); err != nil {
					t.Fatal(err)
				}
				send := stomp.New(stomp.SEND, "destination", "/app/chat.send", "receipt", "talk")
				send.Body = []byte(`{"roomId":"` + room + `","message":"çà et là, 日本"}`)
				if err := c.Send(send); err != nil {
					t.Fatal(err)
				}
				for got := 0; got < 2; got++ {
					f, err := c.Read(10 * time.Second)
					if err != nil {
						t.Fatal(err)
					}
					if f.Command != stomp.RECEIPT && !(f.Command == stomp.MESSAGE && strings.Contains(string(f.Body), "日本")) {
						t.Fatalf("got %s %v %q", f.Command, f.Headers, f.Body)
					}
					if k := c.MessageType(f); k != text {
						t.Fatalf("%s came in a %s message, want %s", f.Command, messageKind(k), messageKind(text))
					}
				}

				if k, err := c.FirstHeartBeat(10 * time.Second); err != nil {
					t.Fatal(err)
				} else if k != text {
					t.Fatalf("heart-beat came in a %s message, want %s", messageKind(k), messageKind(text))
				}

				if err := c.Raw([]byte("BOGUS\n\n\x00")); err != nil {
					t.Fatal(err)
				}
				expectKind(t, c, stomp.ERROR, text)
			})
		}
	})
}

// TestConnectTimeoutHint: a client that sends CONNECT without the NUL
// that ends it (the usual slip in a raw-frame tool) gets, when the
// connect timeout passes, an ERROR whose body says so.
func TestConnectTimeoutHint(t *testing.T) {
	cfg := testConfig(t, config.BrokerEmbedded)
	cfg.STOMP.ConnectTimeout = 300 * time.Millisecond
	r := start(t, cfg)
	for _, tc := range []struct{ sent, want string }{
		{"CONNECT\naccept-version:1.2\nlogin:forgetful\n\n", "44 bytes were received but they end no frame"},
		{"", "nothing was received"},
	} {
		c := dial(t, r)
		if tc.sent != "" {
			if err := c.Raw([]byte(tc.sent)); err != nil {
				t.Fatal(err)
			}
		}
		f := expectKind(t, c, stomp.ERROR, websocket.TextMessage)
		body := string(f.Body)
		if f.Header("message") != "no CONNECT frame in time" ||
			!strings.Contains(body, "no NUL-terminated CONNECT frame received within 300ms") ||
			!strings.Contains(body, tc.want) || !strings.Contains(body, "NUL byte") {
			t.Fatalf("sent %q: ERROR %v %q", tc.sent, f.Headers, body)
		}
	}
}

// TestWebSTOMPSendsText: RabbitMQ's Web-STOMP plugin, whose text
// messages chatrelay's follow, sends a frame in a text message under its
// default web_stomp.ws_frame (text, from the plugin's application
// environment; the harness's shared node and rabbitmq/rabbitmq.conf set
// binary, so this test starts a node with the default spelled out). It
// also logs what that node does with a body that is not UTF-8, where
// chatrelay sends a binary message.
func TestWebSTOMPSendsText(t *testing.T) {
	rabbittest.Require(t, rabbit)
	n, err := rabbittest.StartWith(t.TempDir(), rabbittest.Options{Config: "web_stomp.ws_frame = text\n"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := n.Stop(); err != nil {
			t.Error(err)
		}
	}()
	c, _, err := stomptest.Dial(n.WebSTOMPURL(), stomptest.Options{Subprotocols: []string{"v12.stomp"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Raw([]byte("CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\x00")); err != nil {
		t.Fatal(err)
	}
	expectKind(t, c, stomp.CONNECTED, websocket.TextMessage)
	dest := "/topic/" + unique(t)
	if err := c.Subscribe("s1", dest); err != nil {
		t.Fatal(err)
	}
	f := stomp.New(stomp.SEND, "destination", dest)
	f.Body = []byte("héllo 日本語 ✓")
	if err := c.Send(f); err != nil {
		t.Fatal(err)
	}
	if m := expectKind(t, c, stomp.MESSAGE, websocket.TextMessage); string(m.Body) != "héllo 日本語 ✓" {
		t.Fatalf("body %q", m.Body)
	}
	f.Body = []byte("\xff\xfe not UTF-8")
	if err := c.Send(f); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Expect(stomp.MESSAGE, 10*time.Second); err != nil {
		t.Logf("a body that is not UTF-8: %v", err)
	} else {
		t.Logf("a body that is not UTF-8 came in a %s message as %q", messageKind(c.MessageType(m)), m.Body)
	}
}

// TestStompJSTextAndBinary: @stomp/stompjs (over Node's ws) reads what
// /ws now sends in both kinds of message: a UTF-8 body (a text message)
// and a body that is not UTF-8 (a binary one) arrive byte for byte.
func TestStompJSTextAndBinary(t *testing.T) {
	cfg := testConfig(t, config.BrokerEmbedded)
	cfg.Policy.ClientSend = []string{"/app/**", "/topic/**"}
	r := start(t, cfg)
	c := jsClient(t, r, "jsreader")
	dest := "/topic/" + unique(t)
	if err := c.Subscribe("s1", dest, map[string]string{"receipt": "sub"}); err != nil {
		t.Fatal(err)
	}
	for i, body := range [][]byte{[]byte("héllo 日本語 ✓"), []byte("\xff\xfe\x00\x01 not UTF-8"), []byte("plain")} {
		if err := c.SendBytes(dest, body, map[string]string{"content-type": "application/octet-stream"}); err != nil {
			t.Fatal(err)
		}
		e, err := c.WaitMessage(10*time.Second, func(e jsclient.Event) bool { return e.Subscription == "s1" })
		if err != nil {
			t.Fatal(err)
		}
		if got := e.BodyBytes(); !bytes.Equal(got, body) {
			t.Fatalf("body %d: sent %q, stompjs read %q", i, body, got)
		}
	}
}
