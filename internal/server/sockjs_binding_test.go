package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/stomp"
)

// sjStream is a SockJS session over xhr-streaming driven by raw HTTP
// requests, with a cookie jar of its own as a browser has. Its reading
// goroutine owns the streaming response and sends each SockJS frame to
// frames until the stream ends.
type sjStream struct {
	t      *testing.T
	base   string // .../ws-stomp/<server>/<session>
	client *http.Client
	frames chan string
	dec    *stomp.Decoder
}

// openStream opens an xhr-streaming session on r and reads its open frame.
func openStream(t *testing.T, r *replica) *sjStream {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &sjStream{t: t, base: fmt.Sprintf("%s/ws-stomp/000/%s", r.HTTP(), strings.ToLower(strings.ReplaceAll(unique(t), ".", ""))),
		client: &http.Client{Jar: jar}, frames: make(chan string, 64), dec: stomp.NewDecoder(stomp.Limits{})}
	resp, err := s.client.Post(s.base+"/xhr_streaming", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("xhr_streaming: %d", resp.StatusCode)
	}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(s.frames)
		br := bufio.NewReader(resp.Body)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			s.frames <- strings.TrimSuffix(l, "\n")
		}
	}()
	if f := s.next(); strings.Trim(f, "h") != "" {
		t.Fatalf("prelude %q", f)
	}
	if f := s.next(); f != "o" {
		t.Fatalf("open frame %q", f)
	}
	return s
}

// next returns the next SockJS frame within 10 s.
func (s *sjStream) next() string {
	s.t.Helper()
	select {
	case f, ok := <-s.frames:
		if !ok {
			s.t.Fatal("the stream ended")
		}
		return f
	case <-time.After(10 * time.Second):
		s.t.Fatal("no SockJS frame within 10 s")
	}
	return ""
}

// frame returns the next STOMP frame the stream carries.
func (s *sjStream) frame() *stomp.Frame {
	s.t.Helper()
	for {
		if f, err := s.dec.Next(); err != nil || f != nil {
			if err != nil {
				s.t.Fatal(err)
			}
			return f
		}
		sf := s.next()
		if sf == "h" {
			continue
		}
		var msgs []string
		if !strings.HasPrefix(sf, "a") || json.Unmarshal([]byte(sf[1:]), &msgs) != nil {
			s.t.Fatalf("SockJS frame %q", sf)
		}
		for _, m := range msgs {
			_ = s.dec.Feed([]byte(m))
		}
	}
}

// send posts STOMP bytes to the session with client, returning the status.
func (s *sjStream) send(client *http.Client, stompBytes string) int {
	s.t.Helper()
	b, _ := json.Marshal([]string{stompBytes})
	resp, err := client.Post(s.base+"/xhr_send", "text/plain", strings.NewReader(string(b)))
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSockJSSessionInjection performs the reproduced attack with the
// default config: alice's SockJS session runs over xhr-streaming; a
// second client that knows her session id (it is in every URL) but not
// her cookie POSTs a SEND /app/chat.dm to her xhr_send. It gets 404; bob
// receives nothing "from alice" but what alice herself sends next, and
// alice's session keeps working.
func TestSockJSSessionInjection(t *testing.T) {
	r := start(t, testConfig(t, config.BrokerEmbedded))
	bob := connect(t, r, "bob")
	if err := bob.Subscribe("dm", "/user/queue/messages"); err != nil {
		t.Fatal(err)
	}
	alice := openStream(t, r)
	if status := alice.send(alice.client, "CONNECT\naccept-version:1.2\nlogin:alice\n\n\x00"); status != http.StatusNoContent {
		t.Fatalf("alice's CONNECT: %d", status)
	}
	if f := alice.frame(); f.Command != stomp.CONNECTED || f.Header("user-name") != "alice" {
		t.Fatalf("alice got %v", f)
	}
	dm := func(text string) string {
		return "SEND\ndestination:/app/chat.dm\nreceipt:" + text + "\n\n" + `{"to":"bob","message":"` + text + `"}` + "\x00"
	}
	// the attacker: no cookie at all, then a cookie jar of its own
	jar, _ := cookiejar.New(nil)
	for _, attacker := range []*http.Client{{}, {Jar: jar}} {
		if status := alice.send(attacker, dm("injected")); status != http.StatusNotFound {
			t.Fatalf("injected xhr_send: %d, want 404", status)
		}
	}
	if status := alice.send(alice.client, dm("from-alice")); status != http.StatusNoContent {
		t.Fatalf("alice's SEND: %d", status)
	}
	if f := alice.frame(); f.Command != stomp.RECEIPT || f.Header("receipt-id") != "from-alice" {
		t.Fatalf("alice got %v, want the receipt of her own SEND only", f)
	}
	m, err := bob.Expect(stomp.MESSAGE, 5*time.Second)
	if err != nil || !strings.Contains(string(m.Body), `"message":"from-alice"`) || !strings.Contains(string(m.Body), `"from":"alice"`) {
		t.Fatalf("bob's first message: %v %v", m, err)
	}
	if f, err := bob.Read(200 * time.Millisecond); err == nil {
		t.Fatalf("bob got more: %v", f)
	}
}
