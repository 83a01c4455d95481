package embedded

import (
	"context"
	"testing"
	"time"

	"chatrelay/internal/stomp"
)

// roundTrip writes f and reads frames until one arrives.
func roundTrip(t *testing.T, c interface {
	Write([]byte) (int, error)
	Read([]byte) (int, error)
}, dec *stomp.Decoder, f *stomp.Frame) *stomp.Frame {
	t.Helper()
	if f != nil {
		if _, err := c.Write(f.Encode(stomp.V12)); err != nil {
			t.Fatal(err)
		}
	}
	g, err := stomp.NewReader(c, dec, make([]byte, 4096)).Next()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestBrokerInMemory(t *testing.T) {
	b, err := Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := b.Dial(ctx, Address)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	dec := stomp.NewDecoder(stomp.Limits{})
	got := roundTrip(t, c, dec, stomp.New(stomp.CONNECT, "accept-version", "1.2", "host", "/", "heart-beat", "1000,1000"))
	if got.Command != stomp.CONNECTED || got.Header("version") != "1.2" || got.Header("heart-beat") != "10000,10000" {
		t.Fatalf("CONNECTED: %v", got.Headers)
	}
	// SUBSCRIBE is never receipted; a receipted BEGIN after it is.
	c.Write(stomp.New(stomp.SUBSCRIBE, "id", "1", "destination", "/topic/x", "receipt", "ignored").Encode(stomp.V12))
	if got := roundTrip(t, c, dec, stomp.New(stomp.BEGIN, "transaction", "t", "receipt", "b")); got.Command != stomp.RECEIPT || got.Header("receipt-id") != "b" {
		t.Fatalf("want RECEIPT b, got %v %v", got.Command, got.Headers)
	}
	m := roundTrip(t, c, dec, stomp.New(stomp.SEND, "destination", "/topic/x", "k", "v"))
	if m.Command != stomp.MESSAGE || m.Header("subscription") != "1" || m.Header("k") != "v" {
		t.Fatalf("MESSAGE: %v %v", m.Command, m.Headers)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection open after Close")
	}
	if _, err := b.Dial(ctx, Address); err == nil {
		t.Fatal("Dial after Close succeeded")
	}
	// the broker loop ends once the closed connection has cleaned up
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		t.Fatal("broker loop still running 5s after Close")
	}
}
