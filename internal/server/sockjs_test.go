package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"chatrelay/internal/config"
	"chatrelay/internal/jsclient"
)

// SockJSURL returns the replica's SockJS endpoint, as sockjs-client
// takes it.
func (r *replica) SockJSURL() string { return "http://" + r.addr + "/ws-stomp" }

// sockJSClient starts a real @stomp/stompjs client connected to r through
// sockjs-client as login.
func sockJSClient(t *testing.T, r *replica, login string) *jsclient.Client {
	t.Helper()
	c := jsclient.NewT(t)
	c.Timeout = 10 * time.Second
	if _, err := c.ConnectWith(jsclient.ConnectOptions{URL: r.SockJSURL(), Login: login, SockJS: true}); err != nil {
		t.Fatal(err)
	}
	return c
}

// jsChatSend sends a TALK line to room through /app/chat.send and waits
// for its receipt.
func jsChatSend(t *testing.T, c *jsclient.Client, room, text string) {
	t.Helper()
	body := fmt.Sprintf(`{"roomId":%q,"type":"TALK","message":%q}`, room, text)
	if err := c.Send("/app/chat.send", body, map[string]string{"receipt": "r-" + text}); err != nil {
		t.Fatal(err)
	}
}

// expectTalk waits for the room line text from sender on c.
func expectTalk(t *testing.T, c *jsclient.Client, sender, text string) {
	t.Helper()
	e, err := c.WaitMessage(10*time.Second, func(e jsclient.Event) bool { return strings.Contains(e.Body, text) })
	if err != nil {
		t.Fatal(err)
	}
	if m := decodeRoomMessage(t, e); m.Sender != sender || m.Message != text || m.Type != "TALK" {
		t.Fatalf("got %+v, want %q from %s", m, text, sender)
	}
}

// TestSockJSRoundTrip: @stomp/stompjs over sockjs-client on /ws-stomp
// and over a plain WebSocket on /ws, subscribed to one room, each see
// what the other sends through /app/chat.send, with either broker.
func TestSockJSRoundTrip(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		r := start(t, cfg)
		room := createRoom(t, r, unique(t))
		viaSockJS := sockJSClient(t, r, "sam")
		viaWS := jsClient(t, r, "wendy")
		for i, c := range []*jsclient.Client{viaSockJS, viaWS} {
			if err := c.Subscribe("room", "/topic/room."+room, map[string]string{"receipt": fmt.Sprint("sub-", i)}); err != nil {
				t.Fatal(err)
			}
		}
		jsChatSend(t, viaSockJS, room, "hello from sockjs")
		expectTalk(t, viaWS, "sam", "hello from sockjs")
		expectTalk(t, viaSockJS, "sam", "hello from sockjs")
		jsChatSend(t, viaWS, room, "hello from ws")
		expectTalk(t, viaSockJS, "wendy", "hello from ws")
		expectTalk(t, viaWS, "wendy", "hello from ws")
		if err := viaSockJS.Disconnect(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSockJSOriginRefused: with an origin allowlist, /ws-stomp refuses
// (403) another origin on its info request, its HTTP transports and its
// websocket transport, and admits a listed one.
func TestSockJSOriginRefused(t *testing.T) {
	cfg := testConfig(t, config.BrokerEmbedded)
	cfg.HTTP.AllowedOrigins = []string{"https://chat.example"}
	r := start(t, cfg)
	for _, req := range []struct{ method, path string }{
		{http.MethodGet, "/ws-stomp/info"},
		{http.MethodPost, "/ws-stomp/123/abcdefgh/xhr_streaming"},
		{http.MethodPost, "/ws-stomp/123/abcdefgh/xhr_send"},
	} {
		hr, _ := http.NewRequest(req.method, r.HTTP()+req.path, strings.NewReader(`["x"]`))
		hr.Header.Set("Origin", "https://evil.example")
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s %s from another origin: %d, ACAO %q", req.method, req.path, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	url := "ws://" + r.addr + "/ws-stomp/123/abcdefgh/websocket"
	if _, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {"https://evil.example"}}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("websocket transport from another origin: %v", err)
	}
	c, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {"https://chat.example"}})
	if err != nil {
		t.Fatalf("websocket transport from the listed origin: %v", err)
	}
	defer c.Close()
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "o" {
		t.Fatalf("open frame %q %v", p, err)
	}
}

// TestSockJSFrameTooBig: a frame over limits.max_frame_bytes sent by
// stompjs over SockJS gets a STOMP ERROR naming the limit, whether it is
// refused as a SockJS message or from its WebSocket frame header; a
// client beside it keeps working.
func TestSockJSFrameTooBig(t *testing.T) {
	r := start(t, testConfig(t, config.BrokerEmbedded))
	room := createRoom(t, r, unique(t))
	other := sockJSClient(t, r, "other")
	if err := other.Subscribe("room", "/topic/room."+room, map[string]string{"receipt": "sub"}); err != nil {
		t.Fatal(err)
	}
	limit := testConfig(t, config.BrokerEmbedded).Limits.MaxFrameBytes
	// 2x: one SockJS message over the limit; 8x: also over what a
	// WebSocket message may carry before it is decoded
	for _, size := range []int{2 * limit, 8 * limit} {
		big := sockJSClient(t, r, "big")
		body := fmt.Sprintf(`{"roomId":%q,"message":%q}`, room, strings.Repeat("x", size))
		if err := big.Send("/app/chat.send", body, nil); err != nil {
			t.Fatal(err)
		}
		e, err := big.WaitEvent(10*time.Second, func(e jsclient.Event) bool { return e.Event == "error" })
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if msg := e.Headers["message"]; !strings.Contains(msg, "limits.max_frame_bytes") {
			t.Fatalf("%d bytes: ERROR %q", size, msg)
		}
		if _, err := big.WaitEvent(10*time.Second, func(e jsclient.Event) bool { return e.Event == "closed" }); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		text := fmt.Sprint("still here after ", size)
		jsChatSend(t, other, room, text)
		expectTalk(t, other, "other", text)
	}
}

// TestSockJSHandshakeToken: in jwt mode the token in the SockJS URL's
// query reaches CONNECT, as on /ws.
func TestSockJSHandshakeToken(t *testing.T) {
	e := startJWT(t, config.JWTHS256, 0)
	c := jsclient.NewT(t)
	url := e.SockJSURL() + "?access_token=" + e.valid(t, "tess", time.Now().Add(time.Hour))
	h, err := c.ConnectWith(jsclient.ConnectOptions{URL: url, SockJS: true})
	if err != nil {
		t.Fatal(err)
	}
	if h["user-name"] != "tess" {
		t.Fatalf("CONNECTED user-name %q, want tess", h["user-name"])
	}
}
