package stack

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// backend is a stand-in replica that answers every request with its name
// and the request's proxy headers, and echoes WebSocket messages prefixed
// with its name.
type backend struct {
	name string
	addr string
	srv  *http.Server
	done chan struct{} // closed when Serve has returned
}

// seen is what a backend reports about one plain request.
type seen struct {
	Backend, Path, Host, XFF, Proto, RealIP, Connection string
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, addr: l.Addr().String(), done: make(chan struct{})}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	b.srv = &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if websocket.IsWebSocketUpgrade(r) {
				ws, err := up.Upgrade(w, r, nil)
				if err != nil {
					return
				}
				defer ws.Close()
				_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
				for {
					typ, p, err := ws.ReadMessage()
					if err != nil {
						return
					}
					if err := ws.WriteMessage(typ, append([]byte(name+":"), p...)); err != nil {
						return
					}
				}
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(seen{
				Backend: name, Path: r.URL.Path, Host: r.Host,
				XFF: r.Header.Get("X-Forwarded-For"), Proto: r.Header.Get("X-Forwarded-Proto"),
				RealIP: r.Header.Get("X-Real-IP"), Connection: r.Header.Get("Connection"),
			})
		}),
	}
	// the serving goroutine owns the listener until stop closes the server
	go func() {
		_ = b.srv.Serve(l)
		close(b.done)
	}()
	t.Cleanup(b.stop)
	return b
}

// stop closes the backend: new connections are refused.
func (b *backend) stop() {
	_ = b.srv.Close()
	<-b.done
}

// get fetches path through nginx and returns what the backend saw.
func get(t *testing.T, base, path string) seen {
	t.Helper()
	resp, err := httpClient.Get("http://" + base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var s seen
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return s
}

// TestNginxBalancing runs docker/nginx.conf in front of two stand-in
// replicas: plain requests and WebSockets are spread over both, every
// request of one SockJS session reaches the same replica, the proxy
// headers arrive, and a dead replica's traffic moves to the other.
func TestNginxBalancing(t *testing.T) {
	a, b := startBackend(t, "A"), startBackend(t, "B")
	base := startNginx(t, a.addr, b.addr)

	t.Run("round-robin and headers", func(t *testing.T) {
		count := map[string]int{}
		for i := 0; i < 10; i++ {
			s := get(t, base, fmt.Sprintf("/api/rooms/%d", i))
			count[s.Backend]++
			if s.XFF != "127.0.0.1" || s.Proto != "http" || s.RealIP != "127.0.0.1" {
				t.Fatalf("forwarded headers: X-Forwarded-For %q, X-Forwarded-Proto %q, X-Real-IP %q", s.XFF, s.Proto, s.RealIP)
			}
			if s.Host != base {
				t.Fatalf("Host %q reached the replica, want the client's %q (the origin check compares them)", s.Host, base)
			}
			if strings.EqualFold(s.Connection, "close") {
				t.Fatal("plain requests reach the replica with Connection: close (no upstream keepalive)")
			}
		}
		if count["A"] != 5 || count["B"] != 5 {
			t.Fatalf("10 plain requests split %v, want 5 and 5", count)
		}
	})

	t.Run("SockJS sessions are sticky", func(t *testing.T) {
		perBackend := map[string]int{}
		for i := 0; i < 40; i++ {
			session := fmt.Sprintf("sess%02dx", i)
			var first string
			for j, transport := range []string{"xhr", "xhr_send", "xhr_streaming", "xhr_send", "eventsource"} {
				s := get(t, base, fmt.Sprintf("/ws-stomp/%03d/%s/%s", j*111%1000, session, transport))
				if j == 0 {
					first = s.Backend
				} else if s.Backend != first {
					t.Fatalf("session %s: request %d (%s) reached %s, the first reached %s", session, j, transport, s.Backend, first)
				}
			}
			perBackend[first]++
		}
		if perBackend["A"] == 0 || perBackend["B"] == 0 {
			t.Fatalf("40 SockJS sessions all on one replica: %v", perBackend)
		}
		// requests without a session (the info request) are spread
		info := map[string]int{}
		for i := 0; i < 60; i++ {
			info[get(t, base, "/ws-stomp/info").Backend]++
		}
		if info["A"] == 0 || info["B"] == 0 {
			t.Fatalf("60 /ws-stomp/info requests all on one replica: %v", info)
		}
	})

	t.Run("WebSocket upgrade", func(t *testing.T) {
		got := map[string]int{}
		for _, path := range []string{"/ws", "/ws", "/ws-stomp/000/wssession/websocket", "/ws-stomp/websocket"} {
			ws, _, err := websocket.DefaultDialer.Dial("ws://"+base+path, nil)
			if err != nil {
				t.Fatalf("WebSocket %s through nginx: %v", path, err)
			}
			_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			if err := ws.WriteMessage(websocket.BinaryMessage, []byte("CONNECT\n\n\x00")); err != nil {
				t.Fatal(err)
			}
			typ, p, err := ws.ReadMessage()
			ws.Close()
			if err != nil {
				t.Fatalf("WebSocket %s: %v", path, err)
			}
			name, rest, _ := strings.Cut(string(p), ":")
			if typ != websocket.BinaryMessage || rest != "CONNECT\n\n\x00" {
				t.Fatalf("WebSocket %s echoed %d %q", path, typ, p)
			}
			if path == "/ws" {
				got[name]++
			}
		}
		if got["A"] != 1 || got["B"] != 1 {
			t.Fatalf("two WebSockets on /ws went to %v, want one per replica", got)
		}
	})

	t.Run("failover", func(t *testing.T) {
		b.stop()
		var wg sync.WaitGroup
		for i := 0; i < 10; i++ {
			if s := get(t, base, fmt.Sprintf("/api/x/%d", i)); s.Backend != "A" {
				t.Fatalf("request %d reached %s after B died", i, s.Backend)
			}
		}
		for i := 0; i < 10; i++ {
			wg.Add(1)
			// concurrent SockJS requests of sessions that hashed anywhere
			go func(i int) {
				defer wg.Done()
				resp, err := httpClient.Get(fmt.Sprintf("http://%s/ws-stomp/1/dead%d/xhr", base, i))
				if err != nil {
					t.Errorf("SockJS session %d after B died: %v", i, err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("SockJS session %d after B died: %s", i, resp.Status)
				}
			}(i)
		}
		wg.Wait()
	})
}
