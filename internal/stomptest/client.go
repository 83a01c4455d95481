// Package stomptest is a raw STOMP-over-WebSocket client for tests: it
// sends frames (or arbitrary bytes, split however a test likes) the way a
// testing tool such as APIC types them, and reads frames with deadlines.
// It is written in Go on package stomp and checks the protocol frame by
// frame; package jsclient is the other test client, the real
// @stomp/stompjs library under Node.
package stomptest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"chatrelay/internal/stomp"
)

// Client is one raw WebSocket connection. Its reader goroutine decodes
// everything the server sends into Frames (heart-beats are counted) and
// notes whether each frame came in a text or a binary message.
type Client struct {
	ws       *websocket.Conn
	frames   chan *stomp.Frame
	closed   chan struct{}
	mu       sync.Mutex
	closeErr error
	beats    int
	lastBeat time.Time
	version  stomp.Version
	held     []*stomp.Frame // read early by Subscribe, returned first by Read
	kinds    map[*stomp.Frame]int
	beatKind int           // the message type of the first heart-beat
	beaten   chan struct{} // closed at the first heart-beat
}

// Options tune Dial.
type Options struct {
	Subprotocols []string    // offered subprotocols; nil offers none
	Header       http.Header // extra handshake headers (Origin, ...)
	// LocalIP, when set, is the address the connection comes from (any
	// 127.0.0.0/8 address works on Linux loopback): a second "client
	// address" for per-address limits.
	LocalIP string
}

// Dial opens a WebSocket to url.
func Dial(url string, o Options) (*Client, *http.Response, error) {
	d := websocket.Dialer{Subprotocols: o.Subprotocols, HandshakeTimeout: 5 * time.Second}
	if o.LocalIP != "" {
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(o.LocalIP)}}
		d.NetDialContext = nd.DialContext
	}
	ws, resp, err := d.Dial(url, o.Header)
	if err != nil {
		return nil, resp, err
	}
	c := &Client{ws: ws, frames: make(chan *stomp.Frame, 4096), closed: make(chan struct{}), version: stomp.V12,
		kinds: map[*stomp.Frame]int{}, beaten: make(chan struct{})}
	go c.readLoop()
	return c, resp, nil
}

// readLoop is the client's reader goroutine: it owns reads from the socket
// and the frames channel, and closes closed when the socket ends.
func (c *Client) readLoop() {
	defer close(c.closed)
	dec := stomp.NewDecoder(stomp.Limits{MaxFrameBytes: 64 << 20, MaxHeaders: 10000, MaxHeaderBytes: 1 << 20})
	rd := stomp.NewReader(nil, dec, make([]byte, 4096))
	var bad *stomp.Error // a decoding error, which closes the socket
	for {
		kind, r, err := c.ws.NextReader()
		if err != nil {
			c.setCloseErr(err)
			return
		}
		msg := &beatReader{r: r}
		rd.Reset(msg)
		for {
			f, err := rd.Next()
			if err == io.EOF {
				break
			}
			if errors.As(err, &bad) {
				c.setErr(err)
				return
			}
			if err != nil {
				c.setCloseErr(err)
				return
			}
			if f.Command == stomp.CONNECTED {
				switch f.Header("version") {
				case "1.0":
					dec.SetVersion(stomp.V10)
				case "1.1":
					dec.SetVersion(stomp.V11)
				}
			}
			c.mu.Lock()
			c.kinds[f] = kind
			c.mu.Unlock()
			c.frames <- f
		}
		if msg.beat {
			c.heartBeat(kind)
		}
	}
}

// beatReader reads one WebSocket message and notes whether it is a
// heart-beat: nothing but EOLs (or nothing at all).
type beatReader struct {
	r     io.Reader
	other bool // a byte other than \r or \n was read
	beat  bool // the message ended and is a heart-beat
}

func (b *beatReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if !b.other && len(bytes.Trim(p[:n], "\r\n")) > 0 {
		b.other = true
	}
	b.beat = err == io.EOF && !b.other
	return n, err
}

// heartBeat counts a heart-beat message of the given type.
func (c *Client) heartBeat(kind int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.beats++
	c.lastBeat = time.Now()
	if c.beats == 1 {
		c.beatKind = kind
		close(c.beaten)
	}
}

// setCloseErr records why the socket ended.
func (c *Client) setCloseErr(err error) {
	c.mu.Lock()
	c.closeErr = err
	c.mu.Unlock()
}

func (c *Client) setErr(err error) {
	c.mu.Lock()
	c.closeErr = err
	c.mu.Unlock()
	_ = c.ws.Close()
}

// Subprotocol returns the subprotocol the server chose.
func (c *Client) Subprotocol() string { return c.ws.Subprotocol() }

// SetVersion sets the version used to encode frames sent by Send.
func (c *Client) SetVersion(v stomp.Version) { c.version = v }

// Raw sends p as one binary WebSocket message.
func (c *Client) Raw(p []byte) error { return c.ws.WriteMessage(websocket.BinaryMessage, p) }

// Send encodes f and sends it as one message.
func (c *Client) Send(f *stomp.Frame) error { return c.Raw(f.Encode(c.version)) }

// Read returns the next frame, failing after timeout or when the socket
// closed with nothing left to read.
func (c *Client) Read(timeout time.Duration) (*stomp.Frame, error) {
	if len(c.held) > 0 {
		f := c.held[0]
		c.held = c.held[1:]
		return f, nil
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case f := <-c.frames:
		return f, nil
	case <-t.C:
		return nil, fmt.Errorf("no frame within %v", timeout)
	case <-c.closed:
		select {
		case f := <-c.frames:
			return f, nil
		default:
		}
		return nil, fmt.Errorf("socket closed: %w", c.CloseErr())
	}
}

// Expect reads the next frame and checks its command; for an unexpected
// ERROR the error text includes the server's message.
func (c *Client) Expect(command string, timeout time.Duration) (*stomp.Frame, error) {
	f, err := c.Read(timeout)
	if err != nil {
		return nil, fmt.Errorf("waiting for %s: %w", command, err)
	}
	if f.Command != command {
		return f, fmt.Errorf("got %s (message %q, body %q), want %s", f.Command, f.Header("message"), f.Body, command)
	}
	return f, nil
}

// Connect sends CONNECT with accept-version 1.2 (or the given headers)
// and waits for CONNECTED.
func (c *Client) Connect(kv ...string) (*stomp.Frame, error) {
	f := stomp.New(stomp.CONNECT, "accept-version", "1.0,1.1,1.2", "host", "/")
	for i := 0; i+1 < len(kv); i += 2 {
		f.Headers = f.Headers.Set(kv[i], kv[i+1])
	}
	if err := c.Send(f); err != nil {
		return nil, err
	}
	return c.Expect(stomp.CONNECTED, 5*time.Second)
}

// Subscribe subscribes with a receipt and waits for it. MESSAGEs that
// arrive first (a room's history) are kept for Read.
func (c *Client) Subscribe(id, dest string, kv ...string) error {
	f := stomp.New(stomp.SUBSCRIBE, append([]string{"id", id, "destination", dest, "receipt", "sub-" + id}, kv...)...)
	if err := c.Send(f); err != nil {
		return err
	}
	var early []*stomp.Frame
	defer func() { c.held = append(c.held, early...) }()
	for {
		r, err := c.Read(10 * time.Second)
		if err != nil {
			return fmt.Errorf("waiting for RECEIPT: %w", err)
		}
		switch {
		case r.Command == stomp.MESSAGE:
			early = append(early, r)
		case r.Command != stomp.RECEIPT:
			return fmt.Errorf("got %s (message %q, body %q), want RECEIPT", r.Command, r.Header("message"), r.Body)
		case r.Header("receipt-id") != "sub-"+id:
			return fmt.Errorf("receipt %q, want %q", r.Header("receipt-id"), "sub-"+id)
		default:
			return nil
		}
	}
}

// WaitClosed waits until the server closed the socket and returns the
// close code (0 when the socket ended without a close frame).
func (c *Client) WaitClosed(timeout time.Duration) (int, error) {
	select {
	case <-c.closed:
	case <-time.After(timeout):
		return 0, fmt.Errorf("socket still open after %v", timeout)
	}
	var ce *websocket.CloseError
	if errors.As(c.CloseErr(), &ce) {
		return ce.Code, nil
	}
	return 0, nil
}

// Closed is closed once the socket has ended.
func (c *Client) Closed() <-chan struct{} { return c.closed }

// CloseErr returns why the socket ended.
func (c *Client) CloseErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

// MessageType returns the type of the WebSocket message frame f (read
// from this client) came in: websocket.TextMessage or BinaryMessage.
func (c *Client) MessageType(f *stomp.Frame) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kinds[f]
}

// FirstHeartBeat waits for the first heart-beat and returns the type of
// the WebSocket message it came in.
func (c *Client) FirstHeartBeat(timeout time.Duration) (int, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.beaten:
	case <-t.C:
		return 0, fmt.Errorf("no heart-beat within %v", timeout)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.beatKind, nil
}

// HeartBeats returns how many heart-beat messages arrived.
func (c *Client) HeartBeats() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.beats
}

// Close closes the socket without a STOMP DISCONNECT.
func (c *Client) Close() error { return c.ws.Close() }
