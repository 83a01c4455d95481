package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// These tests perform item 7's attacks (issue 12) with raw TCP: idle
// keep-alive connections, a body trickled a byte at a time, headers
// trickled a byte at a time (slowloris), and more connections than the
// per-address cap. They shrink the http.* timeouts through config so as
// to run in seconds; TestHTTPTimeoutDefaults checks the defaults.

// chatter is a legitimate client in room, which must keep working
// through an attack.
type chatter struct {
	c    *stomptest.Client
	room string
	n    int
}

func newChatter(t *testing.T, r *replica) *chatter {
	t.Helper()
	room := createRoom(t, r, unique(t))
	c := connect(t, r, "legit")
	if err := c.Subscribe("room", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	// the room's creation left a keep-alive connection: the tests count
	// connections from here
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	waitConnections(t, r, 1)
	return &chatter{c: c, room: room}
}

// check sends a line to the room and waits for it to come back.
func (ch *chatter) check(t *testing.T) {
	t.Helper()
	ch.n++
	text := fmt.Sprint("line ", ch.n)
	f := stomp.New(stomp.SEND, "destination", "/app/chat.send")
	f.Body = []byte(fmt.Sprintf(`{"roomId":%q,"message":%q}`, ch.room, text))
	if err := ch.c.Send(f); err != nil {
		t.Fatal(err)
	}
	m, err := ch.c.Expect(stomp.MESSAGE, 5*time.Second)
	if err != nil || !strings.Contains(string(m.Body), text) {
		t.Fatalf("legitimate client: %v %v", m, err)
	}
}

// rawConn opens a TCP connection to r, closed at cleanup.
func rawConn(t *testing.T, r *replica) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", r.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitEOF reads (and discards) from c until the server closes it, within
// limit, and returns how long that took and what was read.
func waitEOF(t *testing.T, c net.Conn, limit time.Duration) (time.Duration, string) {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v (read %q)", limit, b)
	}
	return time.Since(start), string(b)
}

// httpTimeouts returns the test config with short http.* timeouts.
func httpTimeouts(t *testing.T, d time.Duration) config.Config {
	cfg := testConfig(t, config.BrokerEmbedded)
	cfg.HTTP.ReadHeaderTimeout = d
	cfg.HTTP.ReadTimeout = 2 * d
	cfg.HTTP.WriteTimeout = 2 * d
	cfg.HTTP.IdleTimeout = d
	return cfg
}

// TestHTTPTimeoutDefaults: with the default config the attacks of issue
// 12 item 7 (an idle keep-alive connection and a body trickled a byte
// every 5 s, both still open after 45 s) end well before 45 s, and REST
// bodies are bounded.
func TestHTTPTimeoutDefaults(t *testing.T) {
	d := config.Defaults().HTTP
	if d.IdleTimeout > 30*time.Second || d.ReadTimeout > 30*time.Second || d.ReadHeaderTimeout > 10*time.Second ||
		d.WriteTimeout > 30*time.Second || d.MaxBodyBytes > 64<<10 {
		t.Fatalf("defaults %+v", d)
	}
}

// TestHTTPIdleKeepAlive: an idle keep-alive connection is closed by
// http.idle_timeout and gives its place in the limits back; a WebSocket
// client idle just as long is not.
func TestHTTPIdleKeepAlive(t *testing.T) {
	cfg := httpTimeouts(t, time.Second)
	cfg.HTTP.ReadTimeout = 10 * time.Second // net/http's idle fallback: keep it out of reach
	r := start(t, cfg)
	ch := newChatter(t, r)
	base := r.srv.Connections()
	c := rawConn(t, r)
	if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if n := r.srv.Connections(); n != base+1 {
		t.Fatalf("%d connections counted with the keep-alive one, want %d", n, base+1)
	}
	took, _ := waitEOF(t, c, cfg.HTTP.IdleTimeout+5*time.Second)
	t.Logf("idle keep-alive connection closed after %v (idle_timeout %v)", took.Round(10*time.Millisecond), cfg.HTTP.IdleTimeout)
	// seconds of slack for a loaded machine, still well short of the
	// 10 s read_timeout fallback
	if took > cfg.HTTP.IdleTimeout+4*time.Second {
		t.Fatalf("closed after %v, idle_timeout %v", took, cfg.HTTP.IdleTimeout)
	}
	waitConnections(t, r, base)
	ch.check(t) // idle for longer than every http.* timeout, and still there
}

// TestHTTPSlowBody: a POST whose body trickles in a byte at a time is cut
// off within http.read_timeout (plus a margin), with no room created.
func TestHTTPSlowBody(t *testing.T) {
	cfg := httpTimeouts(t, time.Second)
	r := start(t, cfg)
	ch := newChatter(t, r)
	base := r.srv.Connections()
	c := rawConn(t, r)
	start := time.Now()
	if _, err := c.Write([]byte("POST /api/rooms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")); err != nil {
		t.Fatal(err)
	}
	// the trickle: one byte every 200 ms, bounded, until a write fails
	// or the server has answered
	answered := make(chan string, 1)
	go func() {
		// owns reading c until the server closes it
		b, _ := io.ReadAll(c)
		answered <- string(b)
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(cfg.HTTP.ReadTimeout + 5*time.Second)
	var got string
trickle:
	for {
		select {
		case got = <-answered:
			break trickle
		case <-deadline:
			t.Fatal("the trickled request was never cut off")
		case <-tick.C:
			_, _ = c.Write([]byte(" ")) // fails once the server closed
		}
	}
	took := time.Since(start)
	t.Logf("trickled POST cut off after %v (read_timeout %v): %q", took.Round(10*time.Millisecond), cfg.HTTP.ReadTimeout, firstLine(got))
	if took > cfg.HTTP.ReadTimeout+3*time.Second {
		t.Fatalf("cut off after %v, read_timeout %v", took, cfg.HTTP.ReadTimeout)
	}
	if got != "" && !strings.HasPrefix(got, "HTTP/1.1 408") {
		t.Fatalf("the trickled request got %q, want 408 or a close", got)
	}
	waitConnections(t, r, base)
	ch.check(t)
}

// TestHTTPSlowloris: request headers trickled a byte at a time are cut
// off at http.read_header_timeout.
func TestHTTPSlowloris(t *testing.T) {
	cfg := httpTimeouts(t, time.Second)
	cfg.HTTP.ReadTimeout = 10 * time.Second // the header timeout alone must cut it
	r := start(t, cfg)
	ch := newChatter(t, r)
	c := rawConn(t, r)
	start := time.Now()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		// owns reading c until the server closes it
		_, _ = io.Copy(io.Discard, c)
		close(closed)
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		if i == 100 {
			t.Fatal("headers trickled for 10 s and the connection is still open")
		}
		select {
		case <-closed:
		case <-tick.C:
			_, _ = c.Write([]byte("X"))
			continue
		}
		break
	}
	took := time.Since(start)
	t.Logf("slowloris cut off after %v (read_header_timeout %v)", took.Round(10*time.Millisecond), cfg.HTTP.ReadHeaderTimeout)
	if took < cfg.HTTP.ReadHeaderTimeout-100*time.Millisecond || took > cfg.HTTP.ReadHeaderTimeout+4*time.Second { // slack short of the 10 s read_timeout
		t.Fatalf("cut off after %v, read_header_timeout %v", took, cfg.HTTP.ReadHeaderTimeout)
	}
	ch.check(t)
}

// TestHTTPBodyLimit: a REST body over http.max_body_bytes gets 413
// naming the limit, whether its Content-Length says so or it comes
// chunked, and creates nothing.
func TestHTTPBodyLimit(t *testing.T) {
	cfg := testConfig(t, config.BrokerEmbedded)
	cfg.HTTP.MaxBodyBytes = 2048
	r := start(t, cfg)
	body := `{"name":"` + strings.Repeat("x", 4096) + `"}`
	resp, err := http.Post(r.HTTP()+"/api/rooms", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "2048 bytes (http.max_body_bytes)") {
		t.Fatalf("declared body: %d %q", resp.StatusCode, b)
	}
	// chunked: no Content-Length to refuse it by
	resp, err = http.Post(r.HTTP()+"/api/rooms", "application/json", io.MultiReader(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "2048 bytes (http.max_body_bytes)") {
		t.Fatalf("chunked body: %d %q", resp.StatusCode, b)
	}
	createRoom(t, r, unique(t)) // a normal one still works
}

// TestHTTPConnectionCap: every TCP connection counts toward
// limits.max_connections_per_address. An attacker filling its address's
// places with idle TCP connections gets 429 (and a closed connection) for
// every further plain request and WebSocket handshake; a client connected
// before keeps working; once the attacker's connections close, their
// places are free again and a new client connects.
func TestHTTPConnectionCap(t *testing.T) {
	cfg := testConfig(t, config.BrokerEmbedded)
	cfg.Limits.MaxConnectionsPerAddress = 4 // tests all come from 127.0.0.1
	r := start(t, cfg)
	ch := newChatter(t, r)
	base := r.srv.Connections()
	var attack []net.Conn
	for r.srv.Connections() < cfg.Limits.MaxConnectionsPerAddress {
		if len(attack) == cfg.Limits.MaxConnectionsPerAddress {
			t.Fatalf("%d connections opened, %d counted", len(attack), r.srv.Connections())
		}
		attack = append(attack, rawConn(t, r))
		waitConnections(t, r, base+len(attack))
	}
	for i := range 3 {
		c := rawConn(t, r)
		if _, err := c.Write([]byte("GET /api/rooms HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		_, got := waitEOF(t, c, 5*time.Second)
		if !strings.HasPrefix(got, "HTTP/1.1 429") || !strings.Contains(got, "limits.max_connections_per_address") {
			t.Fatalf("request %d over the cap: %q", i, got)
		}
	}
	if _, resp, err := stomptest.Dial(r.URL(), stomptest.Options{}); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("WebSocket handshake over the cap: %v %v", resp, err)
	}
	ch.check(t)
	for _, c := range attack {
		_ = c.Close()
	}
	waitConnections(t, r, base)
	connect(t, r, "late")
	ch.check(t)
}

// TestLongLivedTransportsOutliveTimeouts: with every http.* timeout at
// 300 ms, a WebSocket session and a SockJS xhr-streaming session stay
// open and working after an idle HTTP connection opened beside them has
// been closed several times over.
func TestLongLivedTransportsOutliveTimeouts(t *testing.T) {
	cfg := httpTimeouts(t, 300*time.Millisecond)
	r := start(t, cfg)
	ch := newChatter(t, r)
	sj := openStream(t, r)
	if status := sj.send(sj.client, "CONNECT\naccept-version:1.2\nlogin:sam\n\n\x00"); status != http.StatusNoContent {
		t.Fatalf("SockJS CONNECT: %d", status)
	}
	if f := sj.frame(); f.Command != stomp.CONNECTED {
		t.Fatalf("SockJS got %v", f)
	}
	for range 3 { // each idle connection lives one idle timeout
		c := rawConn(t, r)
		if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		waitEOF(t, c, 5*time.Second)
	}
	ch.check(t)
	if status := sj.send(sj.client, "SUBSCRIBE\nid:1\ndestination:/topic/room."+ch.room+"\nreceipt:s\n\n\x00"); status != http.StatusNoContent {
		t.Fatalf("SockJS SUBSCRIBE: %d", status)
	}
	if f := sj.frame(); f.Command != stomp.RECEIPT {
		t.Fatalf("SockJS got %v", f)
	}
	ch.check(t)
	if f := sj.frame(); f.Command != stomp.MESSAGE || !strings.Contains(string(f.Body), fmt.Sprint("line ", ch.n)) {
		t.Fatalf("SockJS got %v", f)
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}
