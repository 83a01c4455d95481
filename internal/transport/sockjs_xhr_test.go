package transport

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/session"
	"chatrelay/internal/stomp"
)

// xhr is a SockJS client over the xhr-polling transport, with a cookie
// jar of its own, as a browser has.
type xhr struct {
	t      *testing.T
	base   string
	dec    *stomp.Decoder
	client *http.Client
}

func newXHR(t *testing.T, e *testEndpoints) *xhr {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &xhr{t: t, base: fmt.Sprintf("%s/ws-stomp/000/p%d", e.srv.URL, sessionSeq.Add(1)), dec: stomp.NewDecoder(stomp.Limits{}),
		client: &http.Client{Jar: jar}}
}

// post sends a request to the session's transport path.
func (x *xhr) post(kind, body string) (int, string) {
	x.t.Helper()
	resp, err := x.client.Post(x.base+"/"+kind, "text/plain", strings.NewReader(body))
	if err != nil {
		x.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// poll polls until a STOMP frame is complete or the session closes.
func (x *xhr) poll() (*stomp.Frame, *sjFrame) {
	x.t.Helper()
	for {
		if f, err := x.dec.Next(); err != nil || f != nil {
			if err != nil {
				x.t.Fatal(err)
			}
			return f, nil
		}
		status, body := x.post("xhr", "")
		if status != http.StatusOK {
			x.t.Fatalf("poll: %d %q", status, body)
		}
		sf := parseSJ(x.t, body)
		if sf.kind == 'c' {
			return nil, &sf
		}
		for _, m := range sf.msgs {
			_ = x.dec.Feed([]byte(m))
		}
	}
}

func (x *xhr) send(msgs ...string) int {
	b, _ := json.Marshal(msgs)
	status, _ := x.post("xhr_send", string(b))
	return status
}

// TestSockJSXHRPolling: a session over xhr-polling; a body over the raw
// limit ends it with the ERROR.
func TestSockJSXHRPolling(t *testing.T) {
	e := newTestEndpoints(t, nil, HandshakeLimits{}, 5*time.Second)
	x := newXHR(t, e)
	if status, body := x.post("xhr", ""); status != http.StatusOK || body != "o\n" {
		t.Fatalf("open: %d %q", status, body)
	}
	if status := x.send(connectFrame, "SUBSCRIBE\nid:e\ndestination:/app/echo\n\n\x00"); status != http.StatusNoContent {
		t.Fatalf("xhr_send: %d", status)
	}
	if f, cf := x.poll(); f == nil || f.Command != stomp.CONNECTED {
		t.Fatalf("got %v %+v", f, cf)
	}
	if f, _ := x.poll(); f == nil || f.Command != stomp.MESSAGE || string(f.Body) != `{"user":"alice"}` {
		t.Fatalf("got %v", f)
	}
	// 6 bytes each once escaped: over the raw limit
	if status := x.send(strings.Repeat("\x01", 2*testMaxFrame)); status != http.StatusNoContent {
		t.Fatalf("oversized xhr_send: %d", status)
	}
	f, cf := x.poll()
	if f == nil || f.Command != stomp.ERROR || !strings.Contains(f.Header("message"), "limits.max_frame_bytes") {
		t.Fatalf("got %v %v", f, cf)
	}
	if _, cf = x.poll(); cf == nil || cf.code != session.CloseTooBig {
		t.Fatalf("close %+v", cf)
	}
}

// TestSockJSConnectTimeout: a session that never CONNECTs is ended by the
// connect timeout, through the read deadline of the SockJS session.
func TestSockJSConnectTimeout(t *testing.T) {
	e := newTestEndpoints(t, nil, HandshakeLimits{}, 300*time.Millisecond)
	idle := newXHR(t, e)
	idle.post("xhr", "")
	f, cf := idle.poll()
	if f == nil || f.Command != stomp.ERROR || f.Header("message") != "no CONNECT frame in time" {
		t.Fatalf("got %v %v", f, cf)
	}
}

// TestSockJSShutdown: Shutdown ends a streaming session with the
// going-away ERROR, so that its request ends.
func TestSockJSShutdown(t *testing.T) {
	e := newTestEndpoints(t, nil, HandshakeLimits{}, 5*time.Second)
	x := newXHR(t, e)
	resp, err := x.client.Post(x.base+"/xhr_streaming", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	stream := bufio.NewReader(resp.Body)
	line := func() string {
		l, err := stream.ReadString('\n')
		if err != nil {
			t.Fatalf("stream: %q %v", l, err)
		}
		return l
	}
	if l := line(); strings.Trim(l, "h\n") != "" {
		t.Fatalf("prelude %q", l)
	}
	if l := line(); l != "o\n" {
		t.Fatalf("open %q", l)
	}
	if status := x.send(connectFrame); status != http.StatusNoContent {
		t.Fatalf("xhr_send: %d", status)
	}
	if l := line(); !strings.HasPrefix(l, `a["CONNECTED`) {
		t.Fatalf("got %q", l)
	}
	e.sockjs.Shutdown()
	rest, _ := io.ReadAll(stream)
	if !strings.Contains(string(rest), "server shutting down") || !strings.HasSuffix(string(rest), "c[1001,\"server shutting down\"]\n") {
		t.Fatalf("stream after Shutdown: %q", rest)
	}
}
