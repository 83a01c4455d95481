package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"chatrelay/internal/stomp"
)

// setupTimeout bounds one client's handshake, CONNECT and SUBSCRIBEs.
const setupTimeout = 15 * time.Second

// maxGaps bounds the sequence numbers one receiver remembers as missing
// from one sender; past it, late arrivals count as duplicates.
const maxGaps = 4096

// readChunk is the size of the pooled buffers WebSocket messages are read
// through; 10,000 idle clients hold none.
const readChunk = 4096

var chunkPool = sync.Pool{New: func() any { b := make([]byte, readChunk); return &b }}

// decoderLimits accept anything a server may reasonably send.
var decoderLimits = stomp.Limits{MaxFrameBytes: 4 << 20, MaxHeaders: 1000, MaxHeaderBytes: 1 << 20}

// room is one chat room (or Web-STOMP topic) and its live member count.
type room struct {
	index int
	id    string // room id as chat.send names it (chatrelay, baseline)
	dest  string // SUBSCRIBE and, for Web-STOMP, SEND destination
	// a reads run's private room: its owner (the first member) and where
	// reads and typing signals are sent
	owner, readDest, typingDest string
	members                     atomic.Int64
	// made: created through the API (rooms at scale); written by the
	// goroutine that created it, read after the creations' wg.Wait
	made bool
}

// job asks a sender to send one message.
type job struct {
	step     int
	measured bool
	due      time.Time
}

// client is one STOMP-over-WebSocket connection and what it has seen.
type client struct {
	r      *runner
	idx    int
	room   *room
	url    string
	login  string
	sender bool

	wmu  sync.Mutex      // serialises writes and guards conn
	conn *websocket.Conn // nil while down
	up   bool            // counted in room.members; guarded by wmu

	// seqs is what this client received from each sender; owned by the
	// client's reader goroutine (one at a time, across reconnects).
	seqs map[int]*seqState

	jobs chan job // sender clients only

	rd *readState // a reads run's reading; nil otherwise
}

// seqState tracks one sender's sequence numbers at one receiver.
type seqState struct {
	last    int64
	missing map[int64]struct{}
}

// observe classifies a sequence number: fresh (first time seen; reordered
// when it fills an earlier gap) or a duplicate.
func (s *seqState) observe(seq int64) (fresh, reordered bool) {
	switch {
	case seq > s.last:
		for g := s.last + 1; g < seq && len(s.missing) < maxGaps; g++ {
			if s.missing == nil {
				s.missing = map[int64]struct{}{}
			}
			s.missing[g] = struct{}{}
		}
		s.last = seq
		return true, false
	case seq == s.last:
		return false, false
	default:
		if _, ok := s.missing[seq]; ok {
			delete(s.missing, seq)
			return true, true
		}
		return false, false
	}
}

// dial opens the WebSocket, CONNECTs and SUBSCRIBEs, waiting for the
// receipts, and returns the connection and the decoder holding whatever
// arrived after the last receipt.
func (c *client) dial(ctx context.Context) (*websocket.Conn, *stomp.Reader, error) {
	cfg := &c.r.cfg
	hb := "0,0"
	if cfg.HeartBeat > 0 {
		n := strconv.FormatInt(cfg.HeartBeat.Milliseconds(), 10)
		hb = n + "," + n
	}
	frames := []*stomp.Frame{
		stomp.New(stomp.SUBSCRIBE, "id", subRoom, "destination", c.room.dest, "ack", "auto", "receipt", "r0")}
	sub := func(id, dest string) {
		frames = append(frames, stomp.New(stomp.SUBSCRIBE, "id", id, "destination", dest, "receipt", "r"+strconv.Itoa(len(frames))))
	}
	if (c.sender || c.rd != nil) && cfg.WatchErrors && cfg.Mode == ModeChatrelay {
		sub(subErrors, "/user/queue/errors")
	}
	if c.rd != nil {
		sub(subReads, c.room.dest+".reads")
		sub(subTyping, c.room.dest+".typing")
	}
	return dialSTOMP(ctx, cfg, c.r.writePool, c.r.netDial, c.url, c.login, hb, frames)
}

// dialSTOMP opens a WebSocket to url, CONNECTs as login with heart-beat
// hb, then sends each of then (frame i carries receipt r<i>) and waits
// for its RECEIPT; it returns the connection and the decoder holding
// whatever arrived after the last one. netDial may be nil (the kernel
// picks the source address).
func dialSTOMP(ctx context.Context, cfg *Config, pool *sync.Pool, netDial *sourceDialer, url, login, hb string, then []*stomp.Frame) (*websocket.Conn, *stomp.Reader, error) {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	d := websocket.Dialer{
		HandshakeTimeout: setupTimeout,
		Subprotocols:     []string{"v12.stomp", "v11.stomp", "v10.stomp"},
		ReadBufferSize:   2048,
		WriteBufferSize:  2048,
		WriteBufferPool:  pool,
	}
	if netDial != nil {
		d.NetDialContext = netDial.DialContext
	}
	conn, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil {
			return nil, nil, fmt.Errorf("handshake %s: HTTP %d: %w", url, resp.StatusCode, err)
		}
		return nil, nil, fmt.Errorf("handshake %s: %w", url, err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetReadDeadline(deadline)
	_ = conn.SetWriteDeadline(deadline)
	connect := stomp.New(stomp.CONNECT, "accept-version", "1.2", "host", cfg.VHost, "heart-beat", hb, "login", login)
	if cfg.Passcode != "" {
		connect.Headers = append(connect.Headers, stomp.Header{Key: "passcode", Value: cfg.Passcode})
	}
	rd := newReader(stomp.NewDecoder(decoderLimits))
	for i, f := range append([]*stomp.Frame{connect}, then...) {
		if err := conn.WriteMessage(websocket.BinaryMessage, f.Encode(stomp.V12)); err != nil {
			_ = conn.Close()
			return nil, nil, fmt.Errorf("write %s: %w", f.Command, err)
		}
		want, id := stomp.RECEIPT, "r"+strconv.Itoa(i-1)
		if i == 0 {
			want, id = stomp.CONNECTED, ""
		}
		if _, err := awaitFrame(conn, rd, want, id); err != nil {
			_ = conn.Close()
			return nil, nil, fmt.Errorf("after %s: %w", f.Command, err)
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	_ = conn.SetWriteDeadline(time.Time{})
	return conn, rd, nil
}

// newReader returns the frame reader of one connection: it decodes with
// dec and borrows a chunk from chunkPool only while a WebSocket message is
// being read, so idle clients hold no buffer.
func newReader(dec *stomp.Decoder) *stomp.Reader {
	return stomp.NewPooledReader(nil, dec, &chunkPool)
}

// readFrame returns the next frame, moving rd on to the next WebSocket
// message whenever the one it reads is used up.
func readFrame(conn *websocket.Conn, rd *stomp.Reader) (*stomp.Frame, error) {
	for {
		f, err := rd.Next()
		if err != io.EOF {
			return f, err
		}
		_, r, err := conn.NextReader()
		if err != nil {
			return nil, err
		}
		rd.Reset(r)
	}
}

// start dials and, on success, marks the client up and starts its reader
// goroutine.
func (c *client) start(ctx context.Context) error {
	conn, rd, err := c.dial(ctx)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	c.conn, c.up = conn, true
	c.room.members.Add(1)
	c.wmu.Unlock()
	c.r.wg.Add(1)
	// the reader goroutine owns reads from conn, the decoder and c.seqs;
	// it ends when conn fails or is closed (and, with -reconnect, owns
	// the reconnection and the next connection's reads)
	go c.readLoop(ctx, conn, rd)
	return nil
}

// readLoop handles every frame the server sends until the socket ends.
func (c *client) readLoop(ctx context.Context, conn *websocket.Conn, rd *stomp.Reader) {
	defer c.r.wg.Done()
	attempts := 0
	for {
		err := c.readAll(conn, rd)
		c.markDown(conn)
		if c.r.closing.Load() || ctx.Err() != nil {
			return
		}
		c.r.drops.Add(1)
		c.r.note("socket", fmt.Errorf("client %d: %w", c.idx, err))
		if !c.r.cfg.Reconnect {
			return
		}
		for {
			if attempts >= c.r.cfg.MaxReconnects {
				return
			}
			attempts++
			select {
			case <-ctx.Done():
				return
			case <-time.After(reconnectDelay(attempts)):
			}
			var derr error
			if conn, rd, derr = c.dial(ctx); derr == nil {
				break
			}
			c.r.note("connect", fmt.Errorf("client %d reconnect: %w", c.idx, derr))
		}
		c.wmu.Lock()
		c.conn, c.up = conn, true
		c.room.members.Add(1)
		c.wmu.Unlock()
		c.r.reconnects.Add(1)
	}
}

// reconnectDelay is the wait before reconnection attempt n (from 1):
// 500 ms, doubling, at most 5 s.
func reconnectDelay(n int) time.Duration {
	d := 500 * time.Millisecond << uint(min(n-1, 4))
	return min(d, 5*time.Second)
}

// readAll processes frames until the socket fails, returning why.
func (c *client) readAll(conn *websocket.Conn, rd *stomp.Reader) error {
	for {
		f, err := readFrame(conn, rd)
		if err != nil {
			return err
		}
		switch f.Command {
		case stomp.MESSAGE:
			switch f.Header("subscription") {
			case subErrors:
				c.r.handlerErrors.Add(1)
				c.r.note("handler", fmt.Errorf("client %d: /user/queue/errors: %s", c.idx, trim(f.Body)))
				continue
			case subReads:
				c.r.act.readEvent(c, f.Body)
				continue
			case subTyping:
				c.r.act.typingEvents.Add(1)
				continue
			}
			now := time.Now()
			if c.rd != nil {
				if off, ok := RoomOffset(f.Body); ok {
					c.r.act.noteOffset(c, off, now)
				}
			}
			m, ok := ParseMarker(f.Body)
			if !ok {
				c.r.other.Add(1)
				continue
			}
			c.deliver(m, now)
		case stomp.ERROR:
			c.r.errorFrames.Add(1)
			c.r.note("error-frame", fmt.Errorf("client %d: ERROR %q %q", c.idx, f.Header("message"), trim(f.Body)))
		}
	}
}

// deliver counts one received benchmark message.
func (c *client) deliver(m Marker, now time.Time) {
	if c.seqs == nil {
		c.seqs = map[int]*seqState{}
	}
	st := c.seqs[m.Sender]
	if st == nil {
		st = &seqState{last: -1}
		c.seqs[m.Sender] = st
	}
	fresh, reordered := st.observe(m.Seq)
	if !m.Measured || m.Step >= len(c.r.steps) {
		if fresh {
			c.r.warmDelivered.Add(1)
		}
		return
	}
	s := c.r.steps[m.Step]
	if !fresh {
		s.duplicates.Add(1)
		return
	}
	if reordered {
		s.reordered.Add(1)
	}
	s.delivered.Add(1)
	s.hist.Record(now.Sub(m.Sent()))
	storeMax(&s.lastDelivery, now.UnixNano())
}

// markDown takes the client out of its room's member count once, if conn
// is still its connection.
func (c *client) markDown(conn *websocket.Conn) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = conn.Close()
	if c.conn == conn && c.up {
		c.conn, c.up = nil, false
		c.room.members.Add(-1)
	}
}

// write sends one encoded frame if the client is up.
func (c *client) write(p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.conn == nil {
		return errDown
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(setupTimeout))
	return c.conn.WriteMessage(websocket.BinaryMessage, p)
}

// errDown is returned by write while a client has no connection.
var errDown = errors.New("client is not connected")

// close says goodbye (DISCONNECT, then a close frame) and closes the
// socket; the reader goroutine then ends.
func (c *client) close() {
	c.wmu.Lock()
	conn := c.conn
	c.wmu.Unlock()
	if conn == nil {
		return
	}
	_ = c.write(stomp.New(stomp.DISCONNECT).Encode(stomp.V12))
	c.wmu.Lock()
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
	c.wmu.Unlock()
	c.markDown(conn)
}

// sendLoop is a sender's goroutine: it owns the sender's frame buffer and
// sequence counter, turns each job into a SEND and counts it.
func (c *client) sendLoop() {
	defer c.r.sendWG.Done()
	var seq int64
	var text, body, frame []byte
	cfg := &c.r.cfg
	f := &stomp.Frame{Command: stomp.SEND}
	msgID := 0
	name := "bench-" + strconv.Itoa(c.idx) // the sender a chat server would name
	for j := range c.jobs {
		now := time.Now()
		m := Marker{Step: j.step, Measured: j.measured, Sender: c.idx, Seq: seq, SentNanos: now.UnixNano()}
		text = m.AppendText(text[:0], cfg.MessageBytes)
		switch cfg.Mode {
		case ModeWebSTOMP:
			msgID++
			body = AppendChatMessage(body[:0], name+"-"+strconv.Itoa(msgID), c.room.id, name, text, now, 0)
			f.Headers = append(f.Headers[:0], stomp.Header{Key: "destination", Value: c.room.dest})
		default:
			body = AppendSendBody(body[:0], c.room.id, text)
			f.Headers = append(f.Headers[:0], stomp.Header{Key: "destination", Value: "/app/chat.send"})
		}
		f.Headers = append(f.Headers, stomp.Header{Key: "content-type", Value: "application/json"})
		f.Body = body
		frame = f.Append(frame[:0], stomp.V12)
		members := c.room.members.Load()
		err := c.write(frame)
		if err == nil {
			seq++ // a failed write never reached anyone: its number is reused
		}
		c.r.account(j, members, now, err)
		c.r.pending.Add(-1)
	}
}

// storeMax raises *a to v if v is larger.
func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// trim shortens a frame body for error samples.
func trim(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}
