package flood

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// attackerIP is the address every attack comes from: another loopback
// address than the ordinary clients' 127.0.0.1, so that per-address limits
// see one attacker and one crowd.
const attackerIP = "127.0.0.2"

// tally counts what the attacks saw, by name.
type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func newTally() *tally { return &tally{n: map[string]int{}} }

func (t *tally) add(name string, k int) {
	t.mu.Lock()
	t.n[name] += k
	t.mu.Unlock()
}

func (t *tally) get(name string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n[name]
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.n))
	for k := range t.n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %d\n", k, t.n[k])
	}
	return b.String()
}

// attackerDialer dials from attackerIP.
var attackerDialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(attackerIP)}, Timeout: 5 * time.Second}

// attackerHTTP is the attacker's HTTP client: from attackerIP, no cookies.
var attackerHTTP = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{DialContext: attackerDialer.DialContext, MaxIdleConnsPerHost: 4},
}

// stompSession dials wsURL from the attacker's address and connects as
// login; the caller closes it.
func stompSession(wsURL, login string) (*stomptest.Client, error) {
	c, resp, err := stomptest.Dial(wsURL, stomptest.Options{Subprotocols: []string{"v12.stomp"}, LocalIP: attackerIP})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("handshake %s", resp.Status)
		}
		return nil, err
	}
	if _, err := c.Connect("login", login); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// churn runs one SUBSCRIBE+UNSUBSCRIBE pair after another on the
// destinations dest(i) returns, at most max pairs and until ctx ends,
// reconnecting whenever the server closes the session. It counts what
// each SUBSCRIBE got (receipt, ERROR, closed) and the bytes it was sent.
func churn(ctx context.Context, t *tally, name, wsURL string, max int, dest func(i int) string) {
	var c *stomptest.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for i := 0; i < max && ctx.Err() == nil; i++ {
		if c == nil {
			var err error
			if c, err = stompSession(wsURL, "mallory"); err != nil {
				t.add(name+" connect refused", 1)
				waitCtx(ctx, 100*time.Millisecond)
				continue
			}
			t.add(name+" sessions", 1)
		}
		id := fmt.Sprintf("s%d", i)
		receipt := "r" + id
		_ = c.Send(stomp.New(stomp.SUBSCRIBE, "id", id, "destination", dest(i), "receipt", receipt))
		_ = c.Send(stomp.New(stomp.UNSUBSCRIBE, "id", id))
		t.add(name+" subscribes", 1)
		switch got := awaitReceipt(c, receipt, 5*time.Second, t, name); got {
		case "closed":
			c.Close()
			c = nil
		default:
			t.add(name+" "+got, 1)
		}
	}
}

// awaitReceipt reads frames until the RECEIPT receipt, an ERROR or the
// end of the session, counting MESSAGE bytes on the way.
func awaitReceipt(c *stomptest.Client, receipt string, d time.Duration, t *tally, name string) string {
	for {
		f, err := c.Read(d)
		if err != nil {
			t.add(name+" closed", 1)
			return "closed"
		}
		switch f.Command {
		case stomp.MESSAGE:
			t.add(name+" message bytes", len(f.Body))
		case stomp.ERROR:
			// "destination refused: /queue/junk-7" counts as "destination refused"
			msg, _, _ := strings.Cut(f.Header("message"), ":")
			t.add(name+" error "+msg, 1)
		case stomp.RECEIPT:
			if f.Header("receipt-id") == receipt {
				return "receipt"
			}
		}
	}
}

// roomFlood creates rooms with long escaped names from the attacker's
// address, at most max, counting the answers by status.
func roomFlood(ctx context.Context, t *tally, base string, max int) {
	name := strings.Repeat(`\u2039`, 90)
	for i := 0; i < max && ctx.Err() == nil; i++ {
		body := fmt.Sprintf(`{"name":"%s%d"}`, name, i)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/rooms", strings.NewReader(body))
		if err != nil {
			return
		}
		resp, err := attackerHTTP.Do(req)
		if err != nil {
			t.add("rooms transport error", 1)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t.add(fmt.Sprintf("rooms %d", resp.StatusCode), 1)
	}
}

// sockJSInject posts a forged SEND into the victim's SockJS session from
// the attacker's address, at most max times, counting the statuses.
func sockJSInject(ctx context.Context, t *tally, victimBase string, max int) {
	forged := stomp.New(stomp.SEND, "destination", "/app/chat.dm", "content-type", "application/json")
	forged.Body = []byte(`{"to":"chatter-0","message":"forged by mallory"}`)
	for i := 0; i < max && ctx.Err() == nil; i++ {
		status, err := postXHRSend(attackerHTTP, victimBase, forged)
		if err != nil {
			t.add("sockjs transport error", 1)
		} else {
			t.add(fmt.Sprintf("sockjs %d", status), 1)
		}
		waitCtx(ctx, 50*time.Millisecond)
	}
}

// slowConn is one connection the slow-HTTP attack holds open, and when
// the server ended it.
type slowConn struct {
	kind   string
	opened time.Time
	ended  chan time.Duration // how long it lived, once the server closed it
}

// slowHTTP opens n connections from the attacker's address: half send one
// request and then sit idle on keep-alive, half trickle a POST body one
// byte a second. Each connection's watcher reports when the server ends
// it; trickling stops with ctx.
func slowHTTP(ctx context.Context, t *tally, addr string, n int) []*slowConn {
	var out []*slowConn
	for i := 0; i < n; i++ {
		conn, err := attackerDialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			t.add("slow dial refused", 1)
			continue
		}
		sc := &slowConn{kind: "idle", opened: time.Now(), ended: make(chan time.Duration, 1)}
		if i%2 == 1 {
			sc.kind = "trickle"
		}
		out = append(out, sc)
		// the watcher goroutine owns conn: it writes the slow request and
		// reads until the server closes it
		go func() {
			defer conn.Close()
			done := make(chan struct{})
			go func() {
				// the reader goroutine owns reads from conn
				defer close(done)
				_, _ = io.Copy(io.Discard, conn)
				sc.ended <- time.Since(sc.opened)
			}()
			if sc.kind == "idle" {
				fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
			} else {
				fmt.Fprintf(conn, "POST /api/rooms HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", addr)
			}
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-ctx.Done():
					// hold it open: the server must end it (the test
					// checks when); give up on it after two minutes
					select {
					case <-done:
					case <-time.After(2 * time.Minute):
					}
					return
				case <-tick.C:
					if sc.kind == "trickle" {
						_, _ = conn.Write([]byte(" "))
					}
				}
			}
		}()
	}
	return out
}

// waitCtx waits d or until ctx ends.
func waitCtx(ctx context.Context, d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
}

// jsonBody is a small helper for REST bodies.
func jsonBody(s string) io.Reader { return bytes.NewReader([]byte(s)) }
