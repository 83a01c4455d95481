package relay

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"chatrelay/internal/stomp"
)

// upSocket is one socket to the broker, from CONNECTED until it fails.
type upSocket struct {
	conn   net.Conn
	dec    *stomp.Decoder // owned by the reader goroutine after the handshake
	server string         // CONNECTED server header
	addr   string         // the broker address dialled
	quirks quirks
	// sendEvery is how often the relay must send something (0: never);
	// recvWithin is how often the broker promised to (0: never).
	sendEvery, recvWithin time.Duration

	wbuf  []byte        // frames waiting for the writer; guarded by upConn.mu
	spare []byte        // the writer's previous buffer, reused; guarded by upConn.mu
	wake  chan struct{} // tells the writer that wbuf has data (capacity 1)
	done  chan struct{} // closed by upConn.fail
	err   error         // why the socket ended; set by upConn.fail
	// after an ERROR from the broker (refusals.go), guarded by upConn.mu:
	// the ERROR, the timer that ends the socket, and whether a RECEIPT
	// has named the frame the broker refused
	brokerErr  *stomp.Frame
	errTimer   *time.Timer
	attributed bool
	// keptRefused: the broker refused a subscription that is kept for
	// another try; restoring: the ERROR came while the subscriptions
	// re-sent at connect were not all confirmed (refusals.go)
	keptRefused bool
	restoring   bool
	wg          sync.WaitGroup
}

// dial connects to addr and performs the STOMP handshake.
func dial(ctx context.Context, cfg Config, addr string) (*upSocket, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	nc, err := cfg.Dial(ctx, addr)
	if err != nil {
		return nil, &connectError{err}
	}
	// a cancelled ctx (timeout or relay closing) aborts the handshake
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	s, err := handshake(nc, cfg)
	if !stop() || err != nil {
		nc.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, err
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		nc.Close()
		return nil, err
	}
	s.addr = addr
	return s, nil
}

// handshake sends CONNECT and waits for CONNECTED.
func handshake(nc net.Conn, cfg Config) (*upSocket, error) {
	hb := strconv.FormatInt(cfg.HeartBeat.Milliseconds(), 10)
	connect := stomp.New(stomp.CONNECT,
		"accept-version", "1.2",
		"host", cfg.VHost,
		"heart-beat", hb+","+hb)
	if cfg.Login != "" {
		connect.Headers = append(connect.Headers, stomp.Header{Key: "login", Value: cfg.Login}, stomp.Header{Key: "passcode", Value: cfg.Passcode})
	}
	if _, err := nc.Write(connect.Encode(stomp.V12)); err != nil {
		return nil, err
	}
	dec := stomp.NewDecoder(stomp.Limits{MaxFrameBytes: maxFrameBytes, MaxHeaders: 1000, MaxHeaderBytes: 1 << 20})
	f, err := stomp.NewReader(nc, dec, make([]byte, 4096)).Next()
	if err != nil {
		return nil, err
	}
	switch f.Command {
	case stomp.CONNECTED:
		return newUpSocket(nc, dec, f, cfg.HeartBeat)
	case stomp.ERROR:
		return nil, fmt.Errorf("broker refused CONNECT: %s", f.Header("message"))
	default:
		return nil, fmt.Errorf("broker sent %s before CONNECTED", f.Command)
	}
}

// newUpSocket negotiates heart-beats and quirks from CONNECTED.
func newUpSocket(nc net.Conn, dec *stomp.Decoder, connected *stomp.Frame, hb time.Duration) (*upSocket, error) {
	if v := connected.Header("version"); v != "1.2" {
		return nil, fmt.Errorf("broker speaks STOMP %q, need 1.2", v)
	}
	s := &upSocket{
		conn:   nc,
		dec:    dec,
		server: connected.Header("server"),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	if strings.HasPrefix(s.server, "stompd/") {
		s.quirks = quirks{noSubscribeReceipts: true, localAcks: true}
	}
	sx, sy, err := parseHeartBeat(connected.Header("heart-beat"))
	if err != nil {
		return nil, err
	}
	if hb > 0 && sy > 0 {
		s.sendEvery = max(hb, sy)
	}
	if hb > 0 && sx > 0 {
		s.recvWithin = max(hb, sx)
	}
	return s, nil
}

// parseHeartBeat parses the broker's "sx,sy" in milliseconds with
// stomp.ParseHeartBeat; absent means 0,0. It is stricter than a client's
// CONNECT: no sign, and each number fits 32 bits.
func parseHeartBeat(v string) (sx, sy time.Duration, err error) {
	if v == "" {
		return 0, 0, nil
	}
	x, y, err := stomp.ParseHeartBeat(v)
	if err != nil || strings.ContainsAny(v, "+-") || int64(x) > math.MaxUint32 || int64(y) > math.MaxUint32 {
		return 0, 0, fmt.Errorf("bad heart-beat header %q", v)
	}
	return time.Duration(x) * time.Millisecond, time.Duration(y) * time.Millisecond, nil
}

// readLoop owns reading s.conn and s.dec: it decodes frames, hands them to
// the connection, and ends the socket on a read error or when the broker
// has been silent for twice its heart-beat interval.
func (c *upConn) readLoop(s *upSocket) {
	defer s.wg.Done()
	rd := stomp.NewReader(silenceReader{s}, s.dec, make([]byte, 64<<10))
	for {
		f, err := rd.Next()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				err = fmt.Errorf("broker silent for %v: %w", 2*s.recvWithin, err)
			}
			c.fail(s, err)
			return
		}
		c.handle(s, f)
	}
}

// silenceReader reads the socket with a deadline of twice the
// broker's heart-beat interval before each read, when one was negotiated.
type silenceReader struct{ s *upSocket }

// Read sets the deadline and reads.
func (r silenceReader) Read(p []byte) (int, error) {
	if r.s.recvWithin > 0 {
		r.s.conn.SetReadDeadline(time.Now().Add(2 * r.s.recvWithin))
	}
	return r.s.conn.Read(p)
}

// writeLoop owns writing to s.conn: it writes what the connection queued in
// s.wbuf and sends a heart-beat EOL when nothing else went out for half the
// negotiated interval.
func (c *upConn) writeLoop(s *upSocket) {
	defer s.wg.Done()
	var tick <-chan time.Time
	if s.sendEvery > 0 {
		t := time.NewTicker(s.sendEvery / 2)
		defer t.Stop()
		tick = t.C
	}
	last := time.Now()
	for {
		var out []byte
		select {
		case <-s.done:
			return
		case <-s.wake:
			c.mu.Lock()
			out, s.wbuf, s.spare = s.wbuf, s.spare[:0], nil
			c.mu.Unlock()
		case now := <-tick:
			if now.Sub(last) < s.sendEvery/2 {
				continue
			}
			if !c.write(s, stomp.HeartBeat) {
				return
			}
			last = time.Now()
			continue
		}
		if len(out) == 0 {
			continue
		}
		if !c.write(s, out) {
			return
		}
		last = time.Now()
		if cap(out) <= 1<<20 {
			c.mu.Lock()
			s.spare = out[:0]
			c.mu.Unlock()
		}
	}
}

// write writes p with a deadline and ends the socket on failure.
func (c *upConn) write(s *upSocket, p []byte) bool {
	s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := s.conn.Write(p); err != nil {
		c.fail(s, err)
		return false
	}
	return true
}
