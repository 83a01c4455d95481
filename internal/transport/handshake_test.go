package transport

import (
	"net/http"
	"strings"
	"testing"
)

// TestConnLimiter checks the replica and per-address limits and that
// every release gives its slot back.
func TestConnLimiter(t *testing.T) {
	c := newConnLimiter(HandshakeLimits{MaxConnections: 3, MaxPerAddress: 2})
	for _, ip := range []string{"10.0.0.1", "10.0.0.1"} {
		if status, _ := c.acquire(ip); status != 0 {
			t.Fatalf("%s refused with %d", ip, status)
		}
	}
	if status, _ := c.acquire("10.0.0.1"); status != http.StatusTooManyRequests {
		t.Fatalf("third from one address: %d, want 429", status)
	}
	if status, _ := c.acquire("10.0.0.2"); status != 0 {
		t.Fatalf("other address refused: %d", status)
	}
	if status, reason := c.acquire("10.0.0.3"); status != http.StatusServiceUnavailable || reason == "" {
		t.Fatalf("fourth connection: %d %q, want 503", status, reason)
	}
	c.release("10.0.0.1")
	if status, _ := c.acquire("10.0.0.1"); status != 0 {
		t.Fatalf("slot not given back: %d", status)
	}
	for _, ip := range []string{"10.0.0.1", "10.0.0.1", "10.0.0.2"} {
		c.release(ip)
	}
	if n := c.count(); n != 0 || c.byAddr.Total() != 0 {
		t.Fatalf("%d connections, %d address slots after every release", n, c.byAddr.Total())
	}
}

// TestSubprotocol checks the subprotocol offer check.
func TestSubprotocol(t *testing.T) {
	for offer, want := range map[string]bool{"": false, "mqtt": false, "mqtt, v11.stomp": true, "v12.stomp": true} {
		r, _ := http.NewRequest(http.MethodGet, "/ws", nil)
		if offer != "" {
			r.Header.Set("Sec-WebSocket-Protocol", offer)
		}
		if got := offersSubprotocol(r); got != want {
			t.Errorf("offer %q: %v, want %v", offer, got, want)
		}
	}
}

// TestAcceptLanguage: every Accept-Language line of the handshake counts,
// joined as one list, and a huge header is cut, not kept whole.
func TestAcceptLanguage(t *testing.T) {
	r, _ := http.NewRequest(http.MethodGet, "/ws", nil)
	if got := acceptLanguage(r); got != "" {
		t.Fatalf("no header: %q", got)
	}
	r.Header.Add("Accept-Language", "fr;q=0.9")
	r.Header.Add("Accept-Language", "ko-KR")
	if got := acceptLanguage(r); got != "fr;q=0.9,ko-KR" {
		t.Fatalf("two lines: %q", got)
	}
	r.Header.Set("Accept-Language", strings.Repeat("en-US,", 1000))
	if got := acceptLanguage(r); len(got) != maxAcceptLanguage {
		t.Fatalf("huge header kept as %d bytes, want %d", len(got), maxAcceptLanguage)
	}
}
