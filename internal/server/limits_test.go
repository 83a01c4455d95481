package server

import (
	"bytes"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// TestFrameLimits sends each input the acceptance lists (and a WebSocket
// message over the message limit), each from its own client under the
// default limits. Each gets an ERROR naming the limit, then a close; a
// bystander keeps receiving; the process's heap stays bounded while the
// 12 MiB of bad input stream in.
func TestFrameLimits(t *testing.T) {
	cfg := testConfig(t, config.BrokerEmbedded)
	r := start(t, cfg)
	room := createRoom(t, r, unique(t))
	bystander := connect(t, r, "bystander")
	if err := bystander.Subscribe("b", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	headers101 := "SEND\ndestination:/app/chat.send\n"
	for i := range 101 {
		headers101 += fmt.Sprintf("x-h%d:v\n", i)
	}
	cases := []struct {
		name       string
		preconnect bool // sent instead of CONNECT
		raw        []byte
		want       string
	}{
		{"65 KiB frame", false, append([]byte("SEND\ndestination:/app/chat.send\n\n"+strings.Repeat("x", 65<<10)), 0), "limits.max_frame_bytes"},
		{"101 headers", false, []byte(headers101 + "\n{}\x00"), "limits.max_headers"},
		{"1 MiB header line", false, []byte("SEND\ndestination:/app/chat.send\nx-big:" + strings.Repeat("y", 1<<20) + "\n\n\x00"), "limits.max_header_bytes"},
		{"content-length 2^63-1", false, []byte("SEND\ndestination:/app/chat.send\ncontent-length:9223372036854775807\n\nx\x00"), "limits.max_frame_bytes"},
		{"10 MiB junk before CONNECT", true, bytes.Repeat([]byte("JUNK-no-newline "), (10<<20)/16), "limits.preconnect_bytes"},
		{"10 MiB of EOLs before CONNECT", true, bytes.Repeat([]byte("\n"), 10<<20), "limits.preconnect_bytes"},
		{"70 KiB of heart-beats in one message", false, bytes.Repeat([]byte("\n"), 70<<10), "websocket message exceeds"},
	}
	var input int
	for _, tt := range cases {
		input += len(tt.raw)
	}
	before := heapNow()
	peak := sampleHeap(t)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			var c *stomptest.Client
			if tt.preconnect {
				c = dial(t, r)
			} else {
				c = connect(t, r, "mallory")
			}
			// the server stops reading mid-message: send from a
			// goroutine (it ends when the socket does) and read the
			// ERROR meanwhile
			sent := make(chan error, 1)
			go func() { sent <- c.Raw(tt.raw) }()
			expectError(t, c, tt.want)
			select {
			case <-sent:
			case <-time.After(10 * time.Second):
				t.Fatal("sending never ended after the close")
			}
		})
	}
	maxInuse := peak()
	after := heapNow()
	t.Logf("bad input sent: %.1f MiB; heap in use before %.1f MiB, peak %.1f MiB (growth %.1f MiB), after GC %.1f MiB; allocated meanwhile %.1f MiB",
		mib(uint64(input)), mib(before.HeapInuse), mib(maxInuse), mib(maxInuse-before.HeapInuse), mib(after.HeapInuse), mib(after.TotalAlloc-before.TotalAlloc))
	// one connection may hold a frame (64 KiB), a read chunk and gorilla's
	// buffers; 32 MiB leaves room for GC slack and the test's own clients
	// while being far below what buffering the 22 MiB of input would cost
	if growth := int64(maxInuse) - int64(before.HeapInuse); growth > 32<<20 {
		t.Errorf("heap grew by %.1f MiB while bad input streamed in", mib(uint64(growth)))
	}
	// the server never copied the big inputs: the process allocated less
	// than the 10 MiB junk alone
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 10<<20 {
		t.Errorf("%.1f MiB allocated for %.1f MiB of bad input", mib(alloc), mib(uint64(input)))
	}
	assertStillReceives(t, r, bystander, "b", room, "login", "sender")
}

// heapNow returns the memory statistics after a collection.
func heapNow() runtime.MemStats {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

// sampleHeap samples HeapInuse every 10 ms until the returned function is
// called, which returns the highest value seen. The sampling goroutine is
// owned by the test and ends there (or at cleanup).
func sampleHeap(t *testing.T) func() uint64 {
	stop := make(chan struct{})
	done := make(chan uint64, 1)
	go func() {
		var m runtime.MemStats
		var peak uint64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	finish := func() uint64 {
		once.Do(func() { close(stop) })
		return <-done
	}
	t.Cleanup(func() { once.Do(func() { close(stop) }) })
	return finish
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// TestHandshakeLimits refuses connections past the replica's and the
// address's limits at the handshake, and a user's past its limit at
// CONNECT; every refusal and departure gives its slot back.
func TestHandshakeLimits(t *testing.T) {
	cfg := testConfig(t, config.BrokerEmbedded)
	cfg.Limits.MaxConnections = 4
	cfg.Limits.MaxConnectionsPerAddress = 3
	cfg.Limits.MaxConnectionsPerUser = 2
	r := start(t, cfg)
	opts := stomptest.Options{Subprotocols: []string{"v12.stomp"}}

	a1 := connect(t, r, "alice")
	a2 := connect(t, r, "alice")
	a3 := dial(t, r)
	f, err := a3.Connect("login", "alice")
	if err == nil || f == nil || f.Command != stomp.ERROR || f.Header("message") != "too many connections" {
		t.Fatalf("third session of alice: %v %v", f, err)
	}
	if _, err := a3.WaitClosed(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitConnections(t, r, 2)
	// the address's fourth connection is refused (all tests come from 127.0.0.1)
	b := connect(t, r, "bob")
	_, resp, err := stomptest.Dial(r.URL(), opts)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("4th connection from one address: err %v resp %v", err, resp)
	}
	_ = a1.Close()
	waitConnections(t, r, 2)
	a4 := connect(t, r, "alice") // alice's slot came back with a1's socket
	_ = a4.Close()
	_ = a2.Close()
	_ = b.Close()
	waitConnections(t, r, 0)
	if n := r.srv.sessOpts.UserConns.Total(); n != 0 {
		t.Fatalf("%d user slots held after everyone left", n)
	}
}

// TestReplicaConnectionLimit refuses the replica's connection past
// limits.max_connections with 503, and accepts again once clients left,
// whichever way they left.
func TestReplicaConnectionLimit(t *testing.T) {
	cfg := testConfig(t, config.BrokerEmbedded)
	cfg.Limits.MaxConnections = 3
	r := start(t, cfg)
	opts := stomptest.Options{Subprotocols: []string{"v12.stomp"}}
	for round := range 3 {
		c1 := connect(t, r, "u1")
		c2 := dial(t, r)          // leaves by junk before CONNECT
		c3 := connect(t, r, "u3") // leaves by DISCONNECT
		_, resp, err := stomptest.Dial(r.URL(), opts)
		if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("round %d: 4th connection: err %v resp %v", round, err, resp)
		}
		_ = c1.Close()
		if err := c2.Raw(bytes.Repeat([]byte("\n"), 9<<10)); err != nil {
			t.Fatal(err)
		}
		expectError(t, c2, "limits.preconnect_bytes")
		if err := c3.Raw([]byte("DISCONNECT\nreceipt:r\n\n\x00")); err != nil {
			t.Fatal(err)
		}
		if _, err := c3.WaitClosed(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		waitConnections(t, r, 0)
	}
}

// TestRequireSubprotocol refuses a handshake offering no STOMP
// subprotocol when http.require_subprotocol is set.
func TestRequireSubprotocol(t *testing.T) {
	cfg := testConfig(t, config.BrokerEmbedded)
	cfg.HTTP.RequireSubprotocol = true
	r := start(t, cfg)
	for _, offer := range [][]string{nil, {"mqtt"}} {
		_, resp, err := stomptest.Dial(r.URL(), stomptest.Options{Subprotocols: offer})
		if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("offer %v: err %v resp %v", offer, err, resp)
		}
	}
	c := connect(t, r, "proper")
	if c.Subprotocol() != "v12.stomp" {
		t.Fatalf("subprotocol %q", c.Subprotocol())
	}
	if _, err := c.Expect(stomp.CONNECTED, time.Millisecond); err == nil {
		t.Fatal("a second CONNECTED")
	}
}

// waitConnections waits until the replica counts n WebSocket connections.
func waitConnections(t *testing.T, r *replica, n int) {
	t.Helper()
	err := rabbittest.WaitFor(5*time.Second, func() (bool, error) { return r.srv.Connections() == n, nil })
	if err != nil {
		t.Fatalf("replica holds %d connections, want %d: %v", r.srv.Connections(), n, err)
	}
}
