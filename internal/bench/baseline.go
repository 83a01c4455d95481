package bench

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"chatrelay/internal/stomp"
)

// baselineQueue is how many frames may wait for one baseline connection's
// writer before the connection is dropped as a slow consumer.
const baselineQueue = 4096

// Baseline is the no-broker baseline server: one process, gorilla/websocket,
// just enough STOMP (CONNECT, SUBSCRIBE, UNSUBSCRIBE, SEND, DISCONNECT,
// receipts) to run chatbench's clients. A SEND to /app/chat.send becomes a
// ChatMessage on /topic/room.<roomId>, as chatrelay would publish it; a SEND
// anywhere else is broadcast as it is. Every subscriber of the destination
// gets its own MESSAGE frame through its connection's writer goroutine, so
// the baseline does the fan-out work of a server with no broker behind it.
type Baseline struct {
	ln  net.Listener
	srv *http.Server

	mu      sync.RWMutex
	subs    map[string]map[*bconn]string // destination → subscriber → subscription id
	live    map[*bconn]struct{}
	offsets map[string]int64 // per room topic, the next offset; guarded by mu (write)
	closing bool

	conns  sync.WaitGroup
	ids    atomic.Int64
	slow   atomic.Int64
	served atomic.Int64
}

// bconn is one baseline connection.
type bconn struct {
	b     *Baseline
	ws    *websocket.Conn
	login string
	out   chan []byte // encoded frames; nil asks the writer to close
	done  chan struct{}
	once  sync.Once
	subs  map[string]string // subscription id → destination; owned by the reader
}

// StartBaseline listens on addr (127.0.0.1:0 picks a port) and serves
// STOMP over WebSocket at /ws until Close.
func StartBaseline(addr string) (*Baseline, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	b := &Baseline{ln: ln, subs: map[string]map[*bconn]string{}, live: map[*bconn]struct{}{}, offsets: map[string]int64{}}
	up := websocket.Upgrader{
		Subprotocols:    []string{"v12.stomp", "v11.stomp", "v10.stomp"},
		ReadBufferSize:  2048,
		WriteBufferSize: 2048,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     func(*http.Request) bool { return true }, // a loopback benchmark tool
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		b.serve(ws)
	})
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	// the serving goroutine owns the listener until Close
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

// URL returns the WebSocket endpoint.
func (b *Baseline) URL() string { return "ws://" + b.ln.Addr().String() + "/ws" }

// SlowConsumers returns how many connections were dropped because their
// queue filled up.
func (b *Baseline) SlowConsumers() int64 { return b.slow.Load() }

// Close stops listening, drops every connection and waits for their
// goroutines.
func (b *Baseline) Close() error {
	err := b.srv.Close()
	b.mu.Lock()
	b.closing = true
	conns := make([]*bconn, 0, len(b.live))
	for c := range b.live {
		conns = append(conns, c)
	}
	b.mu.Unlock()
	for _, c := range conns {
		c.kill()
	}
	b.conns.Wait()
	return err
}

// serve runs one connection: this (the HTTP handler's) goroutine owns
// reads and c.subs; a writer goroutine owns writes.
func (b *Baseline) serve(ws *websocket.Conn) {
	c := &bconn{b: b, ws: ws, out: make(chan []byte, baselineQueue), done: make(chan struct{}), subs: map[string]string{}}
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		_ = ws.Close()
		return
	}
	b.live[c] = struct{}{}
	b.conns.Add(1)
	b.mu.Unlock()
	b.served.Add(1)
	writerDone := make(chan struct{})
	// the writer goroutine owns every write to ws until c.done
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	defer func() {
		c.kill()
		<-writerDone
		b.mu.Lock()
		for _, dest := range c.subs {
			delete(b.subs[dest], c)
		}
		delete(b.live, c)
		b.mu.Unlock()
		b.conns.Done()
	}()
	rd := newReader(stomp.NewDecoder(stomp.Limits{}))
	for {
		f, err := readFrame(ws, rd)
		if err != nil {
			return
		}
		if !c.handle(f) {
			return
		}
	}
}

// handle acts on one client frame; false ends the connection.
func (c *bconn) handle(f *stomp.Frame) bool {
	b := c.b
	switch f.Command {
	case stomp.CONNECT, stomp.STOMP:
		c.login = f.Header("login")
		c.enqueue(stomp.New(stomp.CONNECTED, "version", "1.2", "heart-beat", "0,0", "server", "chatbench-baseline").Encode(stomp.V12))
		return true
	case stomp.SUBSCRIBE:
		id, dest := f.Header("id"), f.Header("destination")
		c.subs[id] = dest
		b.mu.Lock()
		if b.subs[dest] == nil {
			b.subs[dest] = map[*bconn]string{}
		}
		b.subs[dest][c] = id
		b.mu.Unlock()
	case stomp.UNSUBSCRIBE:
		id := f.Header("id")
		if dest, ok := c.subs[id]; ok {
			delete(c.subs, id)
			b.mu.Lock()
			delete(b.subs[dest], c)
			b.mu.Unlock()
		}
	case stomp.SEND:
		dest, body := f.Header("destination"), f.Body
		if dest == "/app/chat.send" {
			var req struct {
				RoomID  string `json:"roomId"`
				Type    string `json:"type"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(body, &req); err != nil || req.RoomID == "" {
				c.fail("body must be a JSON object with roomId, type and message")
				return false
			}
			dest = "/topic/room." + req.RoomID
			b.mu.Lock()
			offset := b.offsets[dest]
			b.offsets[dest]++
			b.mu.Unlock()
			id := strconv.FormatInt(b.ids.Add(1), 10)
			body = AppendChatMessage(nil, id, req.RoomID, c.login, []byte(req.Message), time.Now(), offset)
		}
		b.publish(dest, f.Header("content-type"), body)
	case stomp.DISCONNECT:
		if r := f.Header("receipt"); r != "" {
			c.enqueue(stomp.New(stomp.RECEIPT, "receipt-id", r).Encode(stomp.V12))
		}
		c.enqueue(nil)
		return true
	default:
		c.fail("unsupported frame " + f.Command)
		return false
	}
	if r := f.Header("receipt"); r != "" {
		c.enqueue(stomp.New(stomp.RECEIPT, "receipt-id", r).Encode(stomp.V12))
	}
	return true
}

// publish sends body to every subscriber of dest, one MESSAGE frame each.
func (b *Baseline) publish(dest, contentType string, body []byte) {
	msgID := "m-" + strconv.FormatInt(b.ids.Add(1), 10)
	f := &stomp.Frame{Command: stomp.MESSAGE, Body: body}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for c, sub := range b.subs[dest] {
		f.Headers = append(f.Headers[:0],
			stomp.Header{Key: "destination", Value: dest},
			stomp.Header{Key: "message-id", Value: msgID},
			stomp.Header{Key: "subscription", Value: sub})
		if contentType != "" {
			f.Headers = append(f.Headers, stomp.Header{Key: "content-type", Value: contentType})
		}
		c.enqueue(f.Append(make([]byte, 0, len(body)+160), stomp.V12))
	}
}

// fail sends an ERROR and closes the connection.
func (c *bconn) fail(msg string) {
	c.enqueue(stomp.New(stomp.ERROR, "message", msg).Encode(stomp.V12))
	c.enqueue(nil)
}

// enqueue hands a frame to the writer without blocking; a full queue
// drops the connection as a slow consumer.
func (c *bconn) enqueue(p []byte) {
	select {
	case c.out <- p:
	case <-c.done:
	default:
		c.b.slow.Add(1)
		c.kill()
	}
}

// writeLoop writes queued frames until the connection ends.
func (c *bconn) writeLoop() {
	for {
		select {
		case <-c.done:
			return
		case p := <-c.out:
			if p == nil {
				_ = c.ws.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
				c.kill()
				return
			}
			_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
				c.kill()
				return
			}
		}
	}
}

// kill ends the connection once.
func (c *bconn) kill() {
	c.once.Do(func() {
		close(c.done)
		_ = c.ws.Close()
	})
}
