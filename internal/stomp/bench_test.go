package stomp

import (
	"bytes"
	"testing"
)

// benchBody is a chat message body of the size chatbench sends.
var benchBody = bytes.Repeat([]byte(`{"x":"chat message text "}`), 8)

// benchMessage is a room MESSAGE as the session builds it.
func benchMessage() *Frame {
	f := New(MESSAGE,
		"destination", "/topic/room.r-0123456789ab",
		"subscription", "sub-0",
		"message-id", "m-0123456789abcdef",
		"x-offset", "123456",
		"content-type", "application/json",
	)
	f.Body = benchBody
	return f
}

// BenchmarkEncodeRoomMessage encodes one room MESSAGE into a fresh buffer.
func BenchmarkEncodeRoomMessage(b *testing.B) {
	f := benchMessage()
	b.ReportAllocs()
	b.SetBytes(int64(len(f.Encode(V12))))
	for b.Loop() {
		_ = f.Encode(V12)
	}
}

// BenchmarkAppendRoomMessage encodes one room MESSAGE into a reused buffer.
func BenchmarkAppendRoomMessage(b *testing.B) {
	f := benchMessage()
	buf := f.Encode(V12)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		buf = f.Append(buf[:0], V12)
	}
}

// BenchmarkDecodeSend decodes SEND frames fed one per WebSocket message, as
// a session reads them.
func BenchmarkDecodeSend(b *testing.B) {
	wire := New(SEND, "destination", "/app/chat.send", "content-type", "application/json", "receipt", "r-1").Encode(V12)
	wire = append(wire[:len(wire)-1], benchBody...)
	wire = append(wire, 0)
	benchDecode(b, wire, 1)
}

// BenchmarkDecodeBatch decodes 16 MESSAGE frames that arrive in one
// WebSocket message, as a client reads a batched write.
func BenchmarkDecodeBatch(b *testing.B) {
	one := benchMessage().Encode(V12)
	benchDecode(b, bytes.Repeat(one, 16), 16)
}

// benchDecode feeds wire, one WebSocket message holding frames frames, to
// a 1.2 decoder per iteration and takes every frame out.
func benchDecode(b *testing.B, wire []byte, frames int) {
	d := NewDecoder(Limits{})
	d.SetVersion(V12)
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		if err := d.Feed(wire); err != nil {
			b.Fatal(err)
		}
		for range frames {
			if f, err := d.Next(); err != nil || f == nil {
				b.Fatal(f, err)
			}
		}
	}
}
