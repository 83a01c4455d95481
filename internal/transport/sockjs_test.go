package transport

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"chatrelay/internal/auth"
	"chatrelay/internal/destination"
	"chatrelay/internal/relay"
	"chatrelay/internal/router"
	"chatrelay/internal/session"
	"chatrelay/internal/stomp"
)

// testMaxFrame is limits.max_frame_bytes of the test endpoints.
const testMaxFrame = 4096

// tokenAuth takes the handshake token, else the login, as the user.
type tokenAuth struct{}

func (tokenAuth) Authenticate(c auth.Credentials) (auth.Identity, error) {
	if c.HandshakeToken != "" {
		return auth.Identity{User: c.HandshakeToken}, nil
	}
	return auth.None{}.Authenticate(c)
}

// counter is a transport.Observer that counts events by name.
type counter struct {
	mu      sync.Mutex
	n       map[string]int
	changed chan struct{} // closed and replaced at each event
}

func newCounter() *counter { return &counter{n: map[string]int{}, changed: make(chan struct{})} }

func (c *counter) add(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[k]++
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *counter) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

// wait waits up to 5 s until event k has been counted n times.
func (c *counter) wait(t *testing.T, k string, n int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		c.mu.Lock()
		got, ch := c.n[k], c.changed
		c.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%q counted %d times, want %d", k, got, n)
		}
	}
}

func (c *counter) ConnectionOpened(t string)          { c.add("opened " + t) }
func (c *counter) ConnectionClosed(t string)          { c.add("closed " + t) }
func (c *counter) ConnectionRefused(t, reason string) { c.add("refused " + t + " " + reason) }

// testEndpoints serves /ws and /ws-stomp with real sessions (no broker:
// /app/echo answers a SUBSCRIBE with the subscriber's name).
type testEndpoints struct {
	srv    *httptest.Server
	ws     *WebSocket
	sockjs *SockJS
	obs    *counter
	live   sync.WaitGroup // sessions not yet done
	// opened gets the WebSocket connections accepted, with their
	// sessions, while it has room
	opened chan openedConn
}

// openedConn is a WebSocket connection the test endpoints accepted.
type openedConn struct {
	c *wsConn
	s *session.Session
}

func newTestEndpoints(t *testing.T, origins []string, limits HandshakeLimits, connectTimeout time.Duration) *testEndpoints {
	t.Helper()
	policy, err := destination.New(destination.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rt := router.New()
	rt.Handle("/app/echo", func(c *router.Context) (any, error) { return map[string]string{"user": c.User}, nil })
	r := relay.New(relay.Config{}) // never started: nothing here goes to a broker
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	opts := &session.Options{
		Broker: session.RelayBroker(r), Policy: policy, Router: rt, Auth: tokenAuth{},
		Limits:         stomp.Limits{MaxFrameBytes: testMaxFrame, MaxHeaders: 64, MaxHeaderBytes: 2048},
		Logger:         slog.New(slog.DiscardHandler),
		ConnectTimeout: connectTimeout,
		SendQueueBytes: 1 << 20,
	}
	e := &testEndpoints{obs: newCounter(), opened: make(chan openedConn, 16)}
	e.ws = NewWebSocket(WebSocketOptions{
		Origins: NewOriginChecker(origins), Limits: limits, MaxMessage: testMaxFrame + 1024, WriteTimeout: 5 * time.Second,
		Tokens: TokenCarriers{QueryParam: "access_token", Cookie: "chat_token"}, Log: slog.New(slog.DiscardHandler),
		NewSession: func(conn session.Conn, remote string, v stomp.Version, hs session.Handshake) Handler {
			e.live.Add(1)
			s := session.New(opts, conn, remote, v, hs, func(*session.Session) { e.live.Done() })
			if c, ok := conn.(*wsConn); ok {
				select {
				case e.opened <- openedConn{c, s}:
				default:
				}
			}
			return s
		},
	})
	e.ws.SetObserver(e.obs)
	e.sockjs = NewSockJS("/ws-stomp", e.ws, slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	mux.Handle("GET /ws", e.ws)
	mux.Handle("/ws-stomp/", e.sockjs)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		e.sockjs.Shutdown()
		e.srv.CloseClientConnections()
		e.srv.Close()
		waitGroup(t, &e.live, 10*time.Second)
	})
	return e
}

// waitGroup waits for wg within d.
func waitGroup(t *testing.T, wg *sync.WaitGroup, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		// ends when every session has finished
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Errorf("sessions still running after %v", d)
	}
}

var sessionSeq atomic.Int64

// sjFrame is one SockJS frame from the server.
type sjFrame struct {
	kind   byte     // 'o', 'h', 'a' or 'c'
	msgs   []string // a
	code   int      // c
	reason string   // c
}

// parseSJ parses one SockJS frame.
func parseSJ(t *testing.T, s string) sjFrame {
	t.Helper()
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		t.Fatal("empty SockJS frame")
	}
	f := sjFrame{kind: s[0]}
	switch f.kind {
	case 'a':
		if err := json.Unmarshal([]byte(s[1:]), &f.msgs); err != nil {
			t.Fatalf("frame %q: %v", s, err)
		}
	case 'c':
		var v []any
		if err := json.Unmarshal([]byte(s[1:]), &v); err != nil || len(v) != 2 {
			t.Fatalf("close frame %q: %v", s, err)
		}
		f.code, f.reason = int(v[0].(float64)), v[1].(string)
	}
	return f
}

// sjClient is a SockJS client over the websocket transport.
type sjClient struct {
	t   *testing.T
	ws  *websocket.Conn
	dec *stomp.Decoder
	// closed is set once the server sent its close frame
	closed *sjFrame
}

// dialSockJS opens a SockJS session over the websocket transport and
// reads its open frame.
func dialSockJS(t *testing.T, e *testEndpoints, query string, h http.Header) *sjClient {
	t.Helper()
	c, err := tryDialSockJS(e, query, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	sc := &sjClient{t: t, ws: c, dec: stomp.NewDecoder(stomp.Limits{})}
	if f := sc.next(); f.kind != 'o' {
		t.Fatalf("first frame %q, want o", f.kind)
	}
	return sc
}

func tryDialSockJS(e *testEndpoints, query string, h http.Header) (*websocket.Conn, error) {
	url := fmt.Sprintf("ws%s/ws-stomp/000/t%d/websocket%s", strings.TrimPrefix(e.srv.URL, "http"), sessionSeq.Add(1), query)
	c, resp, err := websocket.DefaultDialer.Dial(url, h)
	if err != nil && resp != nil {
		return nil, fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
	}
	return c, err
}

// next reads the next SockJS frame other than a heart-beat.
func (c *sjClient) next() sjFrame {
	c.t.Helper()
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, p, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("reading SockJS frame: %v", err)
		}
		if f := parseSJ(c.t, string(p)); f.kind != 'h' {
			return f
		}
	}
}

// send sends STOMP bytes as one SockJS message.
func (c *sjClient) send(s string) {
	c.t.Helper()
	b, _ := json.Marshal([]string{s})
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatal(err)
	}
}

// frame returns the next STOMP frame, reading SockJS frames as needed; a
// close frame ends the test unless a frame is still buffered.
func (c *sjClient) frame() *stomp.Frame {
	c.t.Helper()
	for {
		f, err := c.dec.Next()
		if err != nil {
			c.t.Fatal(err)
		}
		if f != nil {
			return f
		}
		if c.closed != nil {
			c.t.Fatalf("SockJS session closed (%d %q) while a frame was expected", c.closed.code, c.closed.reason)
		}
		sf := c.next()
		if sf.kind == 'c' {
			c.closed = &sf
			continue
		}
		for _, m := range sf.msgs {
			if err := c.dec.Feed([]byte(m)); err != nil {
				c.t.Fatal(err)
			}
		}
	}
}

// closeFrame reads up to the server's close frame.
func (c *sjClient) closeFrame() sjFrame {
	c.t.Helper()
	for c.closed == nil {
		if sf := c.next(); sf.kind == 'c' {
			c.closed = &sf
		}
	}
	return *c.closed
}

const connectFrame = "CONNECT\naccept-version:1.2\nhost:x\nlogin:alice\n\n\x00"

// TestSockJSWebSocketTransport: CONNECT, SUBSCRIBE to /app/echo and the
// reply, DISCONNECT with its receipt, over sockjs-go's websocket
// transport; the connection is counted open and then closed.
func TestSockJSWebSocketTransport(t *testing.T) {
	e := newTestEndpoints(t, nil, HandshakeLimits{}, 5*time.Second)
	c := dialSockJS(t, e, "", nil)
	c.send(connectFrame)
	if f := c.frame(); f.Command != stomp.CONNECTED || f.Header("version") != "1.2" || f.Header("user-name") != "alice" {
		t.Fatalf("got %s %v", f.Command, f.Headers)
	}
	// a frame split over two SockJS messages, then heart-beats
	c.send("SUBSCRIBE\nid:s1\ndestination:/app/")
	c.send("echo\n\n\x00\n\n")
	if f := c.frame(); f.Command != stomp.MESSAGE || f.Header("subscription") != "s1" || string(f.Body) != `{"user":"alice"}` {
		t.Fatalf("got %s %v %q", f.Command, f.Headers, f.Body)
	}
	c.send("DISCONNECT\nreceipt:bye\n\n\x00")
	if f := c.frame(); f.Command != stomp.RECEIPT || f.Header("receipt-id") != "bye" {
		t.Fatalf("got %s %v", f.Command, f.Headers)
	}
	if cf := c.closeFrame(); cf.code != session.CloseNormal {
		t.Fatalf("close %d %q", cf.code, cf.reason)
	}
	e.obs.wait(t, "closed sockjs", 1)
	if e.obs.get("opened sockjs") != 1 || e.ws.Connections() != 0 {
		t.Fatalf("observer %v, %d connections", e.obs.n, e.ws.Connections())
	}
}

// TestSockJSHandshakeToken: the session start request's query parameter
// and cookie carry the token to CONNECT.
func TestSockJSHandshakeToken(t *testing.T) {
	e := newTestEndpoints(t, nil, HandshakeLimits{}, 5*time.Second)
	c := dialSockJS(t, e, "?access_token=tok-query", nil)
	c.send("CONNECT\naccept-version:1.2\n\n\x00")
	if f := c.frame(); f.Header("user-name") != "tok-query" {
		t.Fatalf("query token: user %q", f.Header("user-name"))
	}
	c = dialSockJS(t, e, "", http.Header{"Cookie": {"chat_token=tok-cookie"}})
	c.send("CONNECT\naccept-version:1.2\n\n\x00")
	if f := c.frame(); f.Header("user-name") != "tok-cookie" {
		t.Fatalf("cookie token: user %q", f.Header("user-name"))
	}
}

// TestSockJSOrigin: a refused Origin gets 403 on every SockJS request,
// an allowed one gets CORS headers naming it.
func TestSockJSOrigin(t *testing.T) {
	e := newTestEndpoints(t, []string{"https://chat.example"}, HandshakeLimits{}, 5*time.Second)
	for _, path := range []string{"/ws-stomp/info", "/ws-stomp/000/x1/xhr", "/ws-stomp/000/x1/xhr_send", "/ws-stomp/000/x1/xhr_streaming"} {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(`["x"]`))
		if path == "/ws-stomp/info" {
			req.Method = http.MethodGet
		}
		req.Header.Set("Origin", "https://evil.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s from a refused origin: %d, ACAO %q", path, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	if _, err := tryDialSockJS(e, "", http.Header{"Origin": {"https://evil.example"}}); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("websocket transport from a refused origin: %v", err)
	}
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/ws-stomp/info", nil)
	req.Header.Set("Origin", "https://chat.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "https://chat.example" {
		t.Errorf("info from the allowed origin: %d, ACAO %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	if n := e.obs.get("refused sockjs origin"); n != 5 {
		t.Errorf("%d origin refusals observed, want 5", n)
	}
	// no JSONP, htmlfile or iframe page
	for _, path := range []string{"/ws-stomp/000/x2/jsonp?c=f", "/ws-stomp/000/x2/htmlfile?c=f", "/ws-stomp/iframe.html"} {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, resp.StatusCode)
		}
	}
}

// TestSockJSMessageTooBig: a SockJS message over the limit, and a
// WebSocket message over the raw limit (refused from its header, before
// its payload), end the session with an ERROR naming
// limits.max_frame_bytes.
func TestSockJSMessageTooBig(t *testing.T) {
	e := newTestEndpoints(t, nil, HandshakeLimits{}, 5*time.Second)
	c := dialSockJS(t, e, "", nil)
	c.send(connectFrame)
	c.frame()
	c.send(strings.Repeat("\n", testMaxFrame+1025))
	f := c.frame()
	if f.Command != stomp.ERROR || !strings.Contains(f.Header("message"), "limits.max_frame_bytes") {
		t.Fatalf("got %s %v", f.Command, f.Headers)
	}
	if cf := c.closeFrame(); cf.code != session.CloseTooBig {
		t.Fatalf("close %d %q", cf.code, cf.reason)
	}

	c = dialSockJS(t, e, "", nil)
	c.send(connectFrame)
	c.frame()
	// a binary frame header announcing 1 TiB, masked, and no payload
	hdr := []byte{0x82, 0x80 | 127, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4}
	if _, err := c.ws.UnderlyingConn().Write(hdr); err != nil {
		t.Fatal(err)
	}
	f = c.frame()
	if f.Command != stomp.ERROR || !strings.Contains(f.Header("message"), "sockjs message exceeds") {
		t.Fatalf("got %s %v", f.Command, f.Headers)
	}
	c.closeFrame()
	waitGroup(t, &e.live, 5*time.Second)
}

// TestSockJSLimitsShared: the WebSocket and SockJS endpoints share the
// per-address limit; a SockJS session over it is refused with an ERROR
// and a close frame, and counted as refused.
func TestSockJSLimitsShared(t *testing.T) {
	e := newTestEndpoints(t, nil, HandshakeLimits{MaxPerAddress: 1}, 5*time.Second)
	c := dialSockJS(t, e, "", nil)
	c.send(connectFrame)
	c.frame()
	resp, err := http.Get(e.srv.URL + "/ws") // not an upgrade, but refused first
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("/ws while a SockJS session holds the address: %d", resp.StatusCode)
	}
	c2 := dialSockJS(t, e, "", nil)
	if f := c2.frame(); f.Command != stomp.ERROR || !strings.Contains(f.Header("message"), "max_connections_per_address") {
		t.Fatalf("got %s %v", f.Command, f.Headers)
	}
	if cf := c2.closeFrame(); cf.code != session.ClosePolicy {
		t.Fatalf("close %d %q", cf.code, cf.reason)
	}
	if e.obs.get("refused sockjs max_connections_per_address") != 1 || e.obs.get("refused ws max_connections_per_address") != 1 {
		t.Fatalf("observer %v", e.obs.n)
	}
}

// TestSockJSHeartBeats: STOMP heart-beats run on top of SockJS's own:
// the server sends EOL messages at the negotiated interval, and a client
// that goes silent is closed by the heart-beat timeout.
func TestSockJSHeartBeats(t *testing.T) {
	e := newTestEndpoints(t, nil, HandshakeLimits{}, 5*time.Second)
	c := dialSockJS(t, e, "", nil)
	c.send("CONNECT\naccept-version:1.2\nheart-beat:200,50\n\n\x00")
	if f := c.frame(); f.Command != stomp.CONNECTED || f.Header("heart-beat") != "50,200" {
		t.Fatalf("got %s %v", f.Command, f.Headers)
	}
	beats := 0
	for beats < 2 {
		sf := c.next()
		if sf.kind != 'a' {
			t.Fatalf("frame %q before two heart-beats", sf.kind)
		}
		for _, m := range sf.msgs {
			if m == "\n" {
				beats++
			}
			if err := c.dec.Feed([]byte(m)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// silent for more than twice 200 ms
	f := c.frame()
	if f.Command != stomp.ERROR || f.Header("message") != "heart-beat timeout" {
		t.Fatalf("got %s %v", f.Command, f.Headers)
	}
	if cf := c.closeFrame(); cf.code != session.CloseHeartBeat {
		t.Fatalf("close %d %q", cf.code, cf.reason)
	}
}
