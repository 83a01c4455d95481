package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"chatrelay/internal/session"
	"chatrelay/internal/stomp"
)

// dialRaw opens a /ws connection and returns it with the TCP connection
// under it, so that a test can write client frames of its own making.
func dialRaw(t *testing.T, e *testEndpoints) (*websocket.Conn, net.Conn) {
	t.Helper()
	var raw net.Conn
	d := websocket.Dialer{
		Subprotocols: []string{"v12.stomp"},
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			raw = c
			return c, err
		},
	}
	ws, _, err := d.Dial("ws"+strings.TrimPrefix(e.srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws, raw
}

// clientMessage returns payload as one masked binary WebSocket frame, as
// a client sends it.
func clientMessage(payload string) []byte {
	mask := [4]byte{0x1f, 0x2e, 0x3d, 0x4c}
	var b bytes.Buffer
	b.WriteByte(0x82) // FIN, binary
	switch n := len(payload); {
	case n < 126:
		b.WriteByte(0x80 | byte(n))
	default:
		b.Write([]byte{0x80 | 126, byte(n >> 8), byte(n)})
	}
	b.Write(mask[:])
	for i := 0; i < len(payload); i++ {
		b.WriteByte(payload[i] ^ mask[i%4])
	}
	return b.Bytes()
}

// frameReader reads STOMP frames from a client connection, which may
// carry several in one message.
type frameReader struct {
	ws  *websocket.Conn
	dec *stomp.Decoder
}

func newFrameReader(ws *websocket.Conn) *frameReader {
	return &frameReader{ws: ws, dec: stomp.NewDecoder(stomp.DefaultLimits)}
}

// next returns the next frame within 5 s, skipping heart-beats.
func (r *frameReader) next(t *testing.T) *stomp.Frame {
	t.Helper()
	_ = r.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := r.dec.Next()
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if f != nil {
			return f
		}
		_, p, err := r.ws.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if err := r.dec.Feed(p); err != nil {
			t.Fatalf("decode %q: %v", p, err)
		}
	}
}

// TestWebSocketPipelinedMessages: three messages arriving in one TCP
// segment are all handled, though after the first the socket has nothing
// more to read: the reader must find the rest in gorilla's buffer, not
// wait on the socket.
func TestWebSocketPipelinedMessages(t *testing.T) {
	e := newTestEndpoints(t, nil, HandshakeLimits{}, 5*time.Second)
	ws, raw := dialRaw(t, e)
	var burst []byte
	burst = append(burst, clientMessage(connectFrame)...)
	burst = append(burst, clientMessage("SUBSCRIBE\nid:s1\ndestination:/app/echo\n\n\x00")...)
	burst = append(burst, clientMessage("DISCONNECT\nreceipt:bye\n\n\x00")...)
	if len(burst) > readBufferSize {
		t.Fatalf("burst of %d bytes does not fit the %d-byte read buffer", len(burst), readBufferSize)
	}
	if _, err := raw.Write(burst); err != nil {
		t.Fatal(err)
	}
	fr := newFrameReader(ws)
	for _, want := range []string{stomp.CONNECTED, stomp.MESSAGE, stomp.RECEIPT} {
		if f := fr.next(t); f.Command != want {
			t.Fatalf("got %s %v, want %s", f.Command, f.Headers, want)
		}
	}
	_, _, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != session.CloseNormal {
		t.Fatalf("after RECEIPT: %v, want close %d", err, session.CloseNormal)
	}
	e.obs.wait(t, "closed ws", 1)
}

// TestWebSocketConnectTimeout: a client that connects and says nothing
// gets an ERROR once the CONNECT timeout passes while its reader waits
// for input, and the endpoint keeps serving.
func TestWebSocketConnectTimeout(t *testing.T) {
	e := newTestEndpoints(t, nil, HandshakeLimits{}, 300*time.Millisecond)
	ws, _ := dialRaw(t, e)
	if f := newFrameReader(ws).next(t); f.Command != stomp.ERROR || f.Header("message") != "no CONNECT frame in time" {
		t.Fatalf("got %s %v", f.Command, f.Headers)
	}
	_, _, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != session.CloseProtocol {
		t.Fatalf("after ERROR: %v, want close %d", err, session.CloseProtocol)
	}
	e.obs.wait(t, "closed ws", 1)

	// a client that speaks in time is served
	ws2, raw2 := dialRaw(t, e)
	if _, err := raw2.Write(clientMessage(connectFrame)); err != nil {
		t.Fatal(err)
	}
	if f := newFrameReader(ws2).next(t); f.Command != stomp.CONNECTED {
		t.Fatalf("got %s %v", f.Command, f.Headers)
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
	if _, err := raw.Write(append([]byte(req), clientMessage(connectFrame)...)); err != nil {
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

	ws, raw2 := dialRaw(t, e)
	if _, err := raw2.Write(clientMessage(connectFrame)); err != nil {
		t.Fatal(err)
	}
	if f := newFrameReader(ws).next(t); f.Command != stomp.CONNECTED {
		t.Fatalf("got %s %v", f.Command, f.Headers)
	}
}
