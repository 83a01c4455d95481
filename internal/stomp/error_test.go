package stomp

import "testing"

// TestNewError: message first, the extra headers, receipt-id and a
// text/plain body only when given.
func TestNewError(t *testing.T) {
	f := NewError("bad", "r1", "why", "subscription", "s")
	want := "ERROR\nmessage:bad\nsubscription:s\nreceipt-id:r1\ncontent-type:text/plain\ncontent-length:3\n\nwhy\x00"
	if got := string(f.Encode(V12)); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	f = NewError("bad", "", "")
	if got := string(f.Encode(V12)); got != "ERROR\nmessage:bad\n\n\x00" {
		t.Fatalf("bare: %q", got)
	}
}
