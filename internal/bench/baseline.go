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
// anywhere else is broadcast as it is.
//
// It is meant as the limit of fan-out in one Go process, so it does what
// chatrelay does to fan out cheaply: a published MESSAGE is encoded once
// and shared by every subscriber but for its subscription line, encoded
// once per subscription (baseline_fanout.go); each connection's writer
// goroutine joins the frames it finds queued into WebSocket messages of up
// to 64 KiB, one write each (baseline_writer.go).
type Baseline struct {
	ln  net.Listener
	srv *http.Server
	// queueLimit is the slow-consumer limit in frames (baselineQueue)
	queueLimit int

	mu      sync.RWMutex
	topics  map[string]*topic // destination → its subscriptions
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
	out   outFrames // frames waiting for the writer
	done  chan struct{}
	once  sync.Once
	subs  map[string]*bsub // subscription id → subscription; owned by the reader
}

// StartBaseline listens on addr (127.0.0.1:0 picks a port) and serves
// STOMP over WebSocket at /ws until Close.
func StartBaseline(addr string) (*Baseline, error) {
	return startBaseline(addr, baselineQueue)
}

// startBaseline is StartBaseline with a slow-consumer limit of queueLimit
// frames per connection.
func startBaseline(addr string, queueLimit int) (*Baseline, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	b := &Baseline{ln: ln, queueLimit: queueLimit, topics: map[string]*topic{}, live: map[*bconn]struct{}{}, offsets: map[string]int64{}}
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
	c := &bconn{b: b, ws: ws, done: make(chan struct{}), subs: map[string]*bsub{}}
	c.out.init(b.queueLimit)
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
	// the writer goroutine owns every write to ws and c.out's taken
	// frames until c.done
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	defer func() {
		c.kill()
		<-writerDone
		b.mu.Lock()
		for _, s := range c.subs {
			b.unsubscribe(s)
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
		c.send(stomp.New(stomp.CONNECTED, "version", "1.2", "heart-beat", "0,0", "server", "chatbench-baseline"))
		return true
	case stomp.SUBSCRIBE:
		id, dest := f.Header("id"), f.Header("destination")
		s := &bsub{c: c, dest: dest, line: subscriptionLine(id)}
		b.mu.Lock()
		if old := c.subs[id]; old != nil {
			b.unsubscribe(old)
		}
		b.subscribe(s)
		b.mu.Unlock()
		c.subs[id] = s
	case stomp.UNSUBSCRIBE:
		id := f.Header("id")
		if s, ok := c.subs[id]; ok {
			delete(c.subs, id)
			b.mu.Lock()
			b.unsubscribe(s)
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
			c.send(stomp.New(stomp.RECEIPT, "receipt-id", r))
		}
		c.out.close()
		return true
	default:
		c.fail("unsupported frame " + f.Command)
		return false
	}
	if r := f.Header("receipt"); r != "" {
		c.send(stomp.New(stomp.RECEIPT, "receipt-id", r))
	}
	return true
}

// send queues one frame of the connection's own (CONNECTED, RECEIPT,
// ERROR).
func (c *bconn) send(f *stomp.Frame) {
	c.enqueue(framePart{head: f.Encode(stomp.V12)})
}

// fail sends an ERROR and closes the connection.
func (c *bconn) fail(msg string) {
	c.send(stomp.New(stomp.ERROR, "message", msg))
	c.out.close()
}
