package transport

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"chatrelay/internal/testkit"
)

// TestAddressKeyIPv6: the per-address limit counts an IPv6 client as its
// /64 (any address inside it is the same client) and an IPv4-mapped
// address as the IPv4 address.
func TestAddressKeyIPv6(t *testing.T) {
	e := newTestEndpoints(t, nil, HandshakeLimits{MaxPerAddress: 2}, 5*time.Second)
	try := func(addr string) int {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "/ws", nil)
		r.RemoteAddr = addr
		_, status, _ := e.ws.acquire(r, TransportWebSocket, false)
		return status
	}
	for _, tt := range []struct {
		addr string
		want int
	}{
		{"[2001:db8:1:2::1]:1000", 0},
		{"[2001:db8:1:2:ffff:ffff:ffff:ffff]:1001", 0},
		{"[2001:db8:1:2::abcd%eth0]:1002", http.StatusTooManyRequests}, // same /64
		{"[2001:db8:1:3::1]:1003", 0},                                  // the next /64
		{"10.0.0.1:1", 0},
		{"[::ffff:10.0.0.1]:2", 0}, // 10.0.0.1's second
		{"10.0.0.1:3", http.StatusTooManyRequests},
	} {
		if got := try(tt.addr); got != tt.want {
			t.Errorf("%s: status %d, want %d", tt.addr, got, tt.want)
		}
	}
}

// TestListenerIPv6: on [::1], every TCP connection counts for ::/64;
// past the cap a plain request gets 429 and its connection closes; once
// the holders close, a new connection is served.
func TestListenerIPv6(t *testing.T) {
	testkit.SkipSlow(t, "its server shutdown waits 5 s on a held connection")
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	e := newTestEndpoints(t, nil, HandshakeLimits{MaxPerAddress: 2}, 5*time.Second)
	srv := &http.Server{Handler: e.ws.Admit(e.srv.Config.Handler), ConnContext: ConnContext}
	// the serving goroutine owns l until Shutdown
	go func() { _ = srv.Serve(e.ws.Listener(l)) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	addr := l.Addr().String()
	holders := []net.Conn{dialTCP(t, addr), dialTCP(t, addr)}
	waitCount(t, e.ws, 2)
	status, closed := rawGet(t, dialTCP(t, addr), "/x")
	if status != http.StatusTooManyRequests || !closed {
		t.Fatalf("third connection: status %d, closed %v; want 429 and closed", status, closed)
	}
	if n := e.obs.get("refused http max_connections_per_address"); n != 1 {
		t.Fatalf("%d refusals observed", n)
	}
	for _, c := range holders {
		_ = c.Close()
	}
	waitCount(t, e.ws, 0)
	if status, _ := rawGet(t, dialTCP(t, addr), "/ws-stomp/info"); status != http.StatusOK {
		t.Fatalf("after the holders left: %d", status)
	}
}

// dialTCP opens a TCP connection to addr, closed at cleanup.
func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// rawGet sends GET path on c and returns the response's status and
// whether the server closed the connection after it.
func rawGet(t *testing.T, c net.Conn, path string) (status int, closed bool) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = br.Discard(int(max(resp.ContentLength, 0)))
	resp.Body.Close()
	_, err = br.ReadByte()
	return resp.StatusCode, errors.Is(err, net.ErrClosed) || err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// waitCount waits up to 5 s until the endpoint counts n connections.
func waitCount(t *testing.T, ws *WebSocket, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for ws.Connections() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections counted, want %d", ws.Connections(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
