// Package jsclient is the JavaScript test client: it runs the real
// @stomp/stompjs library, the one browsers use, under Node and drives it
// from Go tests, to prove interoperability. (Package stomptest is the
// other test client: raw frames written in Go.) It runs
// test/js/stompclient.mjs under node and talks to it in JSON lines: commands
// on the script's stdin, events on its stdout.
//
//	c := jsclient.NewT(t) // skips loudly without node or test/js/node_modules
//	if _, err := c.Connect(url, "alice", "secret", nil); err != nil { t.Fatal(err) }
//	if err := c.Subscribe("s1", "/topic/room.1", map[string]string{"receipt": "r1"}); err != nil { ... }
//	if err := c.Send("/topic/room.1", "hi", nil); err != nil { ... }
//	msg, err := c.WaitMessage(5*time.Second, func(e jsclient.Event) bool { return e.Body == "hi" })
//
// The Node packages are installed with `npm ci --prefix test/js` (make test
// does it).
package jsclient

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireEnv names the environment variable that, set to "1", turns a
// missing node or test/js/node_modules from a loud skip into a test failure.
const RequireEnv = "CHATRELAY_TEST_REQUIRE_NODE" // testkit.Node.Env

// DefaultTimeout bounds Connect, Subscribe, Send and the other commands.
const DefaultTimeout = 10 * time.Second

// startTimeout bounds a Node process's start: tests start dozens at once,
// and on a loaded 2-core machine that takes longer than a command.
const startTimeout = 45 * time.Second

// Event is one line the script wrote. Event says which kind: ready, reply,
// connected, message, receipt, error (a STOMP ERROR frame), disconnected,
// closed (the WebSocket closed), ws_error, heartbeat_lost, and with
// ConnectOptions.HeartbeatEvents heartbeat_in and heartbeat_out.
type Event struct {
	Event        string            `json:"event"`
	Seq          int               `json:"seq,omitempty"` // reply: the command's sequence number
	Op           string            `json:"op,omitempty"`  // reply: the command
	OK           bool              `json:"ok,omitempty"`  // reply: whether stompjs accepted it
	Error        string            `json:"error,omitempty"`
	Headers      map[string]string `json:"headers,omitempty"`
	Subscription string            `json:"subscription,omitempty"`
	Destination  string            `json:"destination,omitempty"`
	Body         string            `json:"body,omitempty"`        // body decoded as UTF-8 by stompjs
	BodyBase64   string            `json:"body_base64,omitempty"` // exact body bytes
	Unhandled    bool              `json:"unhandled,omitempty"`   // message for no known subscription
	ID           string            `json:"id,omitempty"`          // receipt: receipt-id
	Code         int               `json:"code,omitempty"`        // closed: WebSocket close code
	Reason       string            `json:"reason,omitempty"`      // closed: close reason
	WasClean     bool              `json:"was_clean,omitempty"`
	Message      string            `json:"message,omitempty"` // ws_error

	arrival int // position in the stream of events, from 1
}

// BodyBytes returns the message body's exact bytes.
func (e Event) BodyBytes() []byte {
	b, _ := base64.StdEncoding.DecodeString(e.BodyBase64)
	return b
}

// ConnectOptions are the less common knobs of ConnectWith.
type ConnectOptions struct {
	URL      string            // ws://host:port/path, or http://... with SockJS
	Login    string            // CONNECT login header
	Passcode string            // CONNECT passcode header
	Headers  map[string]string // further CONNECT headers
	// Heartbeat is {incoming, outgoing} in milliseconds; zero disables.
	Heartbeat [2]int
	SockJS    bool     // dial with sockjs-client instead of ws
	Binary    bool     // send binary WebSocket frames (forceBinaryWSFrames)
	Versions  []string // accept-version list; nil means 1.2, 1.1, 1.0
	// HeartbeatEvents reports every heart-beat: heartbeat_in when one
	// arrives, heartbeat_out when stompjs sends one.
	HeartbeatEvents bool
}

// Client is one running stompclient.mjs process, with at most one STOMP
// connection at a time. Its methods may be called from several goroutines.
type Client struct {
	// Timeout bounds each command; DefaultTimeout unless changed.
	Timeout time.Duration

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tailBuffer
	done   chan struct{} // closed when the script's stdout ends

	writeMu sync.Mutex
	mu      sync.Mutex
	seq     int
	arrived int
	queue   []Event
	replies map[int]chan Event
	changed chan struct{} // closed and replaced whenever an event is queued

	closeOnce sync.Once
	closeErr  error
}

// NewT starts a client for a test and closes it at cleanup. Without node or
// the packages it skips loudly (fails when CHATRELAY_TEST_REQUIRE_NODE=1).
func NewT(t testing.TB) *Client {
	t.Helper()
	requireAvailable(t, "stompjs interop test")
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Logf("jsclient: close: %v", err)
		}
	})
	return c
}

// New starts node on stompclient.mjs and waits until the script reports
// that it is running.
func New() (*Client, error) {
	c := &Client{
		Timeout: DefaultTimeout,
		stderr:  &tailBuffer{max: 64 << 10},
		done:    make(chan struct{}),
		replies: map[int]chan Event{},
		changed: make(chan struct{}),
	}
	cmd, stdin, stdout, err := startScript("stompclient.mjs", c.stderr)
	if err != nil {
		return nil, err
	}
	c.cmd, c.stdin = cmd, stdin
	// the read goroutine owns stdout until the script exits
	go c.readLoop(stdout)
	if _, err := c.WaitEvent(startTimeout, func(e Event) bool { return e.Event == "ready" }); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) readLoop(stdout io.Reader) {
	defer close(c.done)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			e = Event{Event: "bad_output", Error: err.Error(), Body: sc.Text()}
		}
		c.mu.Lock()
		if ch, ok := c.replies[e.Seq]; ok && e.Event == "reply" {
			delete(c.replies, e.Seq)
			ch <- e
		} else {
			c.arrived++
			e.arrival = c.arrived
			c.queue = append(c.queue, e)
			close(c.changed)
			c.changed = make(chan struct{})
		}
		c.mu.Unlock()
	}
}

// Stderr returns the end of what the script wrote to stderr.
func (c *Client) Stderr() string { return c.stderr.String() }

// Close closes the script's stdin (it sends DISCONNECT if connected and
// exits) and waits for it to exit, killing it after 5 s.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.stdin.Close()
		kill := time.AfterFunc(5*time.Second, func() { _ = c.cmd.Process.Kill() })
		<-c.done // stdout ends when the script exits or is killed
		c.closeErr = c.cmd.Wait()
		kill.Stop()
	})
	return c.closeErr
}

// do sends one command and waits for the script's reply.
func (c *Client) do(cmd map[string]any) error {
	c.mu.Lock()
	c.seq++
	seq := c.seq
	ch := make(chan Event, 1)
	c.replies[seq] = ch
	c.mu.Unlock()
	cmd["seq"] = seq
	line, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	c.writeMu.Lock()
	_, err = c.stdin.Write(append(line, '\n'))
	c.writeMu.Unlock()
	if err != nil {
		return fmt.Errorf("jsclient: %s: write to script: %w%s", cmd["op"], err, c.stderrNote())
	}
	select {
	case r := <-ch:
		if !r.OK {
			return fmt.Errorf("jsclient: %s: %s", cmd["op"], r.Error)
		}
		return nil
	case <-c.done:
		return fmt.Errorf("jsclient: %s: script exited%s", cmd["op"], c.stderrNote())
	case <-time.After(c.Timeout):
		return fmt.Errorf("jsclient: %s: no reply within %v%s", cmd["op"], c.Timeout, c.stderrNote())
	}
}

func (c *Client) stderrNote() string {
	if s := c.Stderr(); s != "" {
		return "\nstompclient.mjs stderr:\n" + s
	}
	return ""
}

// Connect opens a STOMP connection over a WebSocket to url with the given
// login, passcode and further CONNECT headers, and returns the CONNECTED
// frame's headers. A STOMP ERROR or a closed socket is returned as an error.
func (c *Client) Connect(url, login, passcode string, headers map[string]string) (map[string]string, error) {
	return c.ConnectWith(ConnectOptions{URL: url, Login: login, Passcode: passcode, Headers: headers})
}

// ConnectWith is Connect with heart-beats, SockJS, binary frames or a
// version list.
func (c *Client) ConnectWith(o ConnectOptions) (map[string]string, error) {
	cmd := map[string]any{
		"op": "connect", "url": o.URL, "login": o.Login, "passcode": o.Passcode,
		"headers": nonNil(o.Headers), "heartbeat": o.Heartbeat[:], "sockjs": o.SockJS,
		"binary": o.Binary, "timeout_ms": c.Timeout.Milliseconds(),
		"heartbeat_events": o.HeartbeatEvents,
	}
	if o.Versions != nil {
		cmd["versions"] = o.Versions
	}
	start := c.mark()
	if err := c.do(cmd); err != nil {
		return nil, err
	}
	e, err := c.waitAfter(start, c.Timeout, func(e Event) bool { return e.Event == "connected" }, true)
	if err != nil {
		return nil, fmt.Errorf("jsclient: connect %s: %w", o.URL, err)
	}
	return e.Headers, nil
}

// Subscribe subscribes with the given id. If headers has "receipt", it
// waits for that RECEIPT.
func (c *Client) Subscribe(id, dest string, headers map[string]string) error {
	return c.withReceipt(headers, map[string]any{"op": "subscribe", "id": id, "destination": dest, "headers": nonNil(headers)})
}

// Unsubscribe ends subscription id. If headers has "receipt", it waits for
// that RECEIPT.
func (c *Client) Unsubscribe(id string, headers map[string]string) error {
	return c.withReceipt(headers, map[string]any{"op": "unsubscribe", "id": id, "headers": nonNil(headers)})
}

// Send publishes a text body. If headers has "receipt", it waits for that
// RECEIPT.
func (c *Client) Send(dest, body string, headers map[string]string) error {
	return c.withReceipt(headers, map[string]any{"op": "send", "destination": dest, "body": body, "headers": nonNil(headers)})
}

// SendBytes publishes a binary body (stompjs adds content-length). If
// headers has "receipt", it waits for that RECEIPT.
func (c *Client) SendBytes(dest string, body []byte, headers map[string]string) error {
	return c.withReceipt(headers, map[string]any{"op": "send", "destination": dest,
		"body_base64": base64.StdEncoding.EncodeToString(body), "headers": nonNil(headers)})
}

// Ack acknowledges a message: messageID is its "ack" header in STOMP 1.2.
func (c *Client) Ack(messageID, subscription string, headers map[string]string) error {
	return c.withReceipt(headers, map[string]any{"op": "ack", "message_id": messageID, "subscription": subscription, "headers": nonNil(headers)})
}

// Nack rejects a message, like Ack.
func (c *Client) Nack(messageID, subscription string, headers map[string]string) error {
	return c.withReceipt(headers, map[string]any{"op": "nack", "message_id": messageID, "subscription": subscription, "headers": nonNil(headers)})
}

// Begin starts transaction tx with stompjs's client.begin(tx). SENDs,
// ACKs and NACKs join it with the header "transaction": tx. stompjs asks
// for no receipt for BEGIN, COMMIT or ABORT.
func (c *Client) Begin(tx string) error {
	return c.do(map[string]any{"op": "begin", "transaction": tx})
}

// Commit commits tx through the object client.begin returned.
func (c *Client) Commit(tx string) error {
	return c.do(map[string]any{"op": "commit", "transaction": tx})
}

// Abort aborts tx through the object client.begin returned.
func (c *Client) Abort(tx string) error {
	return c.do(map[string]any{"op": "abort", "transaction": tx})
}

// Disconnect sends DISCONNECT (stompjs asks for a receipt) and waits until
// the WebSocket has closed.
func (c *Client) Disconnect() error {
	return c.do(map[string]any{"op": "disconnect"})
}

func (c *Client) withReceipt(headers map[string]string, cmd map[string]any) error {
	start := c.mark()
	if err := c.do(cmd); err != nil {
		return err
	}
	receipt := headers["receipt"]
	if receipt == "" {
		return nil
	}
	_, err := c.waitAfter(start, c.Timeout, func(e Event) bool { return e.Event == "receipt" && e.ID == receipt }, true)
	if err != nil {
		return fmt.Errorf("jsclient: %s: receipt %q: %w", cmd["op"], receipt, err)
	}
	return nil
}

func nonNil(h map[string]string) map[string]string {
	if h == nil {
		return map[string]string{}
	}
	return h
}

// Next removes and returns the oldest event not yet taken.
func (c *Client) Next(timeout time.Duration) (Event, error) {
	return c.WaitEvent(timeout, func(Event) bool { return true })
}

// WaitEvent removes and returns the oldest event for which pred is true,
// waiting up to timeout; other events stay queued.
func (c *Client) WaitEvent(timeout time.Duration, pred func(Event) bool) (Event, error) {
	return c.waitAfter(0, timeout, pred, false)
}

// WaitEvents removes and returns the n oldest events for which pred is
// true, all within timeout.
func (c *Client) WaitEvents(timeout time.Duration, n int, pred func(Event) bool) ([]Event, error) {
	deadline := time.Now().Add(timeout)
	var got []Event
	for len(got) < n {
		e, err := c.WaitEvent(time.Until(deadline), pred)
		if err != nil {
			return got, fmt.Errorf("jsclient: %d of %d events within %v: %w", len(got), n, timeout, err)
		}
		got = append(got, e)
	}
	return got, nil
}

// WaitMessage removes and returns the oldest MESSAGE event for which pred
// (nil: any) is true. It fails early when a STOMP ERROR arrives or the
// socket closes after the call began.
func (c *Client) WaitMessage(timeout time.Duration, pred func(Event) bool) (Event, error) {
	return c.waitAfter(c.mark(), timeout, func(e Event) bool {
		return e.Event == "message" && (pred == nil || pred(e))
	}, true)
}

// Pending returns a copy of the events not yet taken.
func (c *Client) Pending() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.queue...)
}

// mark is the arrival number of the newest event so far.
func (c *Client) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.arrived
}

// waitAfter takes the first queued event matching pred. With failFast, an
// error, closed or ws_error event that arrived after start ends the wait
// (and stays queued).
func (c *Client) waitAfter(start int, timeout time.Duration, pred func(Event) bool, failFast bool) (Event, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	exited := false
	for {
		c.mu.Lock()
		for i, e := range c.queue {
			if pred(e) {
				c.queue = append(c.queue[:i], c.queue[i+1:]...)
				c.mu.Unlock()
				return e, nil
			}
			if failFast && e.arrival > start && (e.Event == "error" || e.Event == "closed" || e.Event == "ws_error") {
				c.mu.Unlock()
				return Event{}, fmt.Errorf("got %s event: %s", e.Event, describe(e))
			}
		}
		changed := c.changed
		c.mu.Unlock()
		if exited {
			return Event{}, fmt.Errorf("jsclient: script exited while waiting%s", c.stderrNote())
		}
		select {
		case <-changed:
		case <-c.done:
			exited = true // scan once more: everything read is queued by now
		case <-deadline.C:
			return Event{}, fmt.Errorf("jsclient: nothing matched within %v; pending events: %s", timeout, describeAll(c.Pending()))
		}
	}
}

func describe(e Event) string {
	switch e.Event {
	case "error":
		return fmt.Sprintf("ERROR message=%q body=%q", e.Headers["message"], e.Body)
	case "closed":
		return fmt.Sprintf("WebSocket closed code=%d reason=%q", e.Code, e.Reason)
	case "ws_error":
		return "WebSocket error " + e.Message
	}
	b, _ := json.Marshal(e)
	return string(b)
}

func describeAll(es []Event) string {
	parts := []string{"none"}
	for i, e := range es {
		parts = append(parts[:i], describe(e))
	}
	return strings.Join(parts, "; ")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}
