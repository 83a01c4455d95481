package transport

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/session"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// dialWS opens a raw STOMP client on e's /ws endpoint.
func dialWS(t *testing.T, e *testEndpoints) *stomptest.Client {
	t.Helper()
	c, _, err := stomptest.Dial("ws"+strings.TrimPrefix(e.srv.URL, "http")+"/ws", stomptest.Options{Subprotocols: []string{"v12.stomp"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestWebSocketPipelinedMessages: three messages arriving in one TCP
// segment are all handled, though after the first the socket has nothing
// more to read: the reader must find the rest in gorilla's buffer, not
// wait on the socket.
func TestWebSocketPipelinedMessages(t *testing.T) {
	e := newTestEndpoints(t, nil, HandshakeLimits{}, 5*time.Second)
	c := dialWS(t, e)
	burst := []string{connectFrame, "SUBSCRIBE\nid:s1\ndestination:/app/echo\n\n\x00", "DISCONNECT\nreceipt:bye\n\n\x00"}
	n := 0
	for _, p := range burst {
		n += len(stomptest.MaskedMessage([]byte(p)))
	}
	if n > readBufferSize {
		t.Fatalf("burst of %d bytes does not fit the %d-byte read buffer", n, readBufferSize)
	}
	if err := c.Segment(burst...); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{stomp.CONNECTED, stomp.MESSAGE, stomp.RECEIPT} {
		if _, err := c.Expect(want, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if code, err := c.WaitClosed(5 * time.Second); err != nil || code != session.CloseNormal {
		t.Fatalf("after RECEIPT: close %d (%v), want %d", code, err, session.CloseNormal)
	}
	e.obs.wait(t, "closed ws", 1)
}

// TestWebSocketConnectTimeout: a client that connects and says nothing
// gets an ERROR once the CONNECT timeout passes while its reader waits
// for input, and the endpoint keeps serving.
func TestWebSocketConnectTimeout(t *testing.T) {
	e := newTestEndpoints(t, nil, HandshakeLimits{}, 300*time.Millisecond)
	c := dialWS(t, e)
	if f, err := c.Expect(stomp.ERROR, 5*time.Second); err != nil || f.Header("message") != "no CONNECT frame in time" {
		t.Fatalf("got %v (%v)", f, err)
	}
	if code, err := c.WaitClosed(5 * time.Second); err != nil || code != session.CloseProtocol {
		t.Fatalf("after ERROR: close %d (%v), want %d", code, err, session.CloseProtocol)
	}
	e.obs.wait(t, "closed ws", 1)

	// a client that speaks in time is served
	if _, err := dialWS(t, e).Connect(); err != nil {
		t.Fatal(err)
	}
}

// TestWebSocketDataBeforeUpgrade: a client that sends a WebSocket frame
// in the same segment as its upgrade request, before the handshake is
// answered, is refused (gorilla checks the reader net/http hijacked,
// which the endpoint hands on in that case); its slot in the limits is
// given back and the endpoint keeps serving.
func TestWebSocketDataBeforeUpgrade(t *testing.T) {
	e := newTestEndpoints(t, nil, HandshakeLimits{}, 5*time.Second)
	raw, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	req := "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: v12.stomp\r\n\r\n"
	if _, err := raw.Write(append([]byte(req), stomptest.MaskedMessage([]byte(connectFrame))...)); err != nil {
		t.Fatal(err)
	}
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(raw)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if bytes.Contains(got, []byte(" 101 ")) {
		t.Fatalf("upgraded: %q", got)
	}
	e.obs.wait(t, "closed ws", 1)
	if n := e.ws.Connections(); n != 0 {
		t.Fatalf("%d connections still counted", n)
	}

	if _, err := dialWS(t, e).Connect(); err != nil {
		t.Fatal(err)
	}
}
