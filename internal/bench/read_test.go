package bench

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"chatrelay/internal/stomp"
)

// BenchmarkReadFrame reads room MESSAGEs, four to a WebSocket message, the
// way a bench client reads them: the client's read path end to end over a
// loopback WebSocket.
func BenchmarkReadFrame(b *testing.B) {
	one := stomp.New(stomp.MESSAGE, "destination", "/topic/room.r-0123456789ab", "subscription", "0",
		"message-id", "m-0123456789abcdef", "content-type", "application/json").Encode(stomp.V12)
	one = append(one[:len(one)-1], bytes.Repeat([]byte(`{"x":"chat message text "}`), 8)...)
	one = append(one, 0)
	batch := bytes.Repeat(one, 4)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for ws.WriteMessage(websocket.BinaryMessage, batch) == nil {
		}
	}))
	defer srv.Close()
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	rd := newReader(stomp.NewDecoder(decoderLimits))
	b.ReportAllocs()
	b.SetBytes(int64(len(one)))
	for b.Loop() {
		if _, err := readFrame(conn, rd); err != nil {
			b.Fatal(err)
		}
	}
}
