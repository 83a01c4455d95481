package flood

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"time"

	"chatrelay/internal/stomp"
)

// xhrSession is a SockJS session over the xhr_streaming transport, as
// sockjs-client opens it where WebSocket is missing: a streaming POST
// receives, POSTs to xhr_send send. Its HTTP client keeps the cookies the
// server sets, as a browser would.
type xhrSession struct {
	base   string // http://host:port/ws-stomp/000/<id>
	client *http.Client
	cancel context.CancelFunc

	mu     sync.Mutex
	frames []*stomp.Frame
	closed error
	more   chan struct{} // closed and replaced whenever frames or closed change
}

// openXHR opens session id on the SockJS endpoint at sockjsURL and waits
// for its open frame.
func openXHR(sockjsURL, id string) (*xhrSession, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &xhrSession{
		base:   fmt.Sprintf("%s/000/%s", sockjsURL, id),
		client: &http.Client{Jar: jar},
		cancel: cancel,
		more:   make(chan struct{}),
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/xhr_streaming", nil)
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("xhr_streaming: %s", resp.Status)
	}
	opened := make(chan error, 1)
	// the stream goroutine owns resp.Body until the session is closed
	go s.stream(bufio.NewReader(resp.Body), opened)
	select {
	case err := <-opened:
		if err != nil {
			s.close()
			return nil, err
		}
	case <-time.After(10 * time.Second):
		s.close()
		return nil, fmt.Errorf("xhr_streaming: no open frame in 10s")
	}
	return s, nil
}

// stream reads SockJS frames: the prelude line, "o", "h", "a[...]" and
// "c[...]", and decodes the STOMP frames the "a" arrays carry.
func (s *xhrSession) stream(r *bufio.Reader, opened chan<- error) {
	dec := stomp.NewDecoder(stomp.Limits{MaxFrameBytes: 1 << 20, MaxHeaders: 1000, MaxHeaderBytes: 1 << 16})
	first := true
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if first {
				opened <- err
			}
			s.finish(err)
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "o":
			if first {
				first = false
				opened <- nil
			}
		case strings.HasPrefix(line, "a"):
			var msgs []string
			if err := json.Unmarshal([]byte(line[1:]), &msgs); err != nil {
				s.finish(err)
				return
			}
			for _, m := range msgs {
				if err := dec.Feed([]byte(m)); err != nil {
					s.finish(err)
					return
				}
				for {
					f, err := dec.Next()
					if err != nil || f == nil {
						break
					}
					s.add(f)
				}
			}
		case strings.HasPrefix(line, "c"):
			s.finish(fmt.Errorf("closed by server: %s", line[1:]))
			return
		}
	}
}

func (s *xhrSession) add(f *stomp.Frame) {
	s.mu.Lock()
	s.frames = append(s.frames, f)
	close(s.more)
	s.more = make(chan struct{})
	s.mu.Unlock()
}

func (s *xhrSession) finish(err error) {
	s.mu.Lock()
	if s.closed == nil {
		s.closed = err
	}
	close(s.more)
	s.more = make(chan struct{})
	s.mu.Unlock()
}

// send posts STOMP frames to xhr_send with the session's cookies and
// returns the HTTP status.
func (s *xhrSession) send(frames ...*stomp.Frame) (int, error) {
	return postXHRSend(s.client, s.base, frames...)
}

// postXHRSend posts frames to base+"/xhr_send" with client, as anyone
// who knows (or guessed) a session id can.
func postXHRSend(client *http.Client, base string, frames ...*stomp.Frame) (int, error) {
	msgs := make([]string, len(frames))
	for i, f := range frames {
		msgs[i] = string(f.Encode(stomp.V12))
	}
	body, err := json.Marshal(msgs)
	if err != nil {
		return 0, err
	}
	resp, err := client.Post(base+"/xhr_send", "text/plain", strings.NewReader(string(body)))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// waitFrame waits up to d for the first frame (from index from on) that
// match accepts, and returns its index.
func (s *xhrSession) waitFrame(from int, d time.Duration, match func(*stomp.Frame) bool) (int, *stomp.Frame, error) {
	deadline := time.After(d)
	for {
		s.mu.Lock()
		for i := from; i < len(s.frames); i++ {
			if match(s.frames[i]) {
				f := s.frames[i]
				s.mu.Unlock()
				return i, f, nil
			}
		}
		from = len(s.frames)
		closed, more := s.closed, s.more
		s.mu.Unlock()
		if closed != nil {
			return 0, nil, fmt.Errorf("sockjs session ended: %w", closed)
		}
		select {
		case <-more:
		case <-deadline:
			return 0, nil, fmt.Errorf("no matching frame within %v", d)
		}
	}
}

// all returns every frame received so far.
func (s *xhrSession) all() []*stomp.Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*stomp.Frame(nil), s.frames...)
}

// err returns why the session ended, or nil while it is open.
func (s *xhrSession) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *xhrSession) close() { s.cancel() }
