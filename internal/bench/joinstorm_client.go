package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"chatrelay/internal/stomp"
)

// The join storm's subscription id and receipt id, the same for every
// joiner.
const (
	joinSubID   = "0"
	joinReceipt = "join"
)

// seedSender is the Marker.Sender of the seeded messages.
const seedSender = 0

// joiner is one join-storm client: connected before the storm, it
// SUBSCRIBEs once, during it.
type joiner struct {
	idx  int
	conn *websocket.Conn // set before its reader starts, never reassigned
	wmu  sync.Mutex      // serialises writes
	// subAt is when its SUBSCRIBE was written (Unix ns; 0: not written).
	subAt atomic.Int64

	// Owned by the joiner's reader goroutine; read by the storm only
	// after every reader has ended.
	hist         []histEntry
	receiptAt    time.Time
	nthAt        time.Time
	afterReceipt bool
	completed    bool
}

// joinConnect opens a WebSocket to url and CONNECTs as login, subscribing
// to nothing; it returns the connection and the decoder holding whatever
// arrived after CONNECTED.
func joinConnect(ctx context.Context, cfg *Config, pool *sync.Pool, url, login string) (*websocket.Conn, *stomp.Reader, error) {
	return dialSTOMP(ctx, cfg, pool, nil, url, login, "0,0", nil)
}

// awaitFrame reads frames until one with command want (and, when id is
// not "", receipt-id id) arrives; an ERROR fails it. Frames in between
// are dropped.
func awaitFrame(conn *websocket.Conn, rd *stomp.Reader, want, id string) (*stomp.Frame, error) {
	for {
		f, err := readFrame(conn, rd)
		if err != nil {
			return nil, fmt.Errorf("waiting for %s: %w", want, err)
		}
		if f.Command == stomp.ERROR {
			return nil, fmt.Errorf("ERROR %q %q waiting for %s", f.Header("message"), trim(f.Body), want)
		}
		if f.Command == want && (id == "" || f.Header("receipt-id") == id) {
			return f, nil
		}
	}
}

// write sends one encoded frame.
func (j *joiner) write(p []byte) error {
	j.wmu.Lock()
	defer j.wmu.Unlock()
	_ = j.conn.SetWriteDeadline(time.Now().Add(setupTimeout))
	return j.conn.WriteMessage(websocket.BinaryMessage, p)
}

// close says goodbye and closes the socket; the reader then ends.
func (j *joiner) close() {
	j.wmu.Lock()
	defer j.wmu.Unlock()
	_ = j.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
	_ = j.conn.Close()
}

// readLoop is the joiner's reader goroutine: it owns the decoder and the
// joiner's record of its subscription (hist, receiptAt, nthAt) until the
// socket ends.
func (j *joiner) readLoop(s *storm, rd *stomp.Reader) {
	defer s.wg.Done()
	for {
		f, err := readFrame(j.conn, rd)
		if err != nil {
			if !s.closing.Load() {
				s.r.drops.Add(1)
				s.r.note("socket", fmt.Errorf("joiner %d: %w", j.idx, err))
			}
			return
		}
		now := time.Now()
		switch f.Command {
		case stomp.MESSAGE:
			if f.Header("subscription") != joinSubID {
				s.r.other.Add(1)
				continue
			}
			e := histEntry{seq: -1, offset: -1}
			if m, ok := ParseMarker(f.Body); ok && m.Sender == seedSender {
				e.seq = m.Seq
			}
			if o, err := strconv.ParseInt(f.Header("x-offset"), 10, 64); err == nil {
				e.offset = o
			}
			j.hist = append(j.hist, e)
			if !j.receiptAt.IsZero() {
				j.afterReceipt = true
			}
			if len(j.hist) == s.cfg.History {
				j.nthAt = now
			}
		case stomp.RECEIPT:
			if f.Header("receipt-id") == joinReceipt && j.receiptAt.IsZero() {
				j.receiptAt = now
			}
		case stomp.ERROR:
			s.r.errorFrames.Add(1)
			s.r.note("error-frame", fmt.Errorf("joiner %d: ERROR %q %q", j.idx, f.Header("message"), trim(f.Body)))
		}
		if !j.completed && !j.receiptAt.IsZero() && !j.nthAt.IsZero() {
			j.completed = true
			s.complete.Add(1)
		}
	}
}

// seed publishes the room's history before the storm: one client
// subscribes to the room and to /user/queue/errors, SENDs Seed messages
// through /app/chat.send, each with a receipt, and returns once it has
// every receipt and has seen every message come back from the room (so
// they are stored). Anything on /user/queue/errors fails it.
func (s *storm) seed(ctx context.Context) error {
	cfg := &s.cfg
	ctx, cancel := context.WithTimeout(ctx, roomTimeout)
	defer cancel()
	conn, rd, err := joinConnect(ctx, cfg, s.r.writePool, cfg.URLs[0], cfg.Login+"-seed")
	if err != nil {
		return fmt.Errorf("seed client: %w", err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetReadDeadline(deadline)
	_ = conn.SetWriteDeadline(deadline)
	rm := s.r.rooms[0]
	subs := []*stomp.Frame{
		stomp.New(stomp.SUBSCRIBE, "id", "0", "destination", rm.dest, "ack", "auto", "receipt", "sub0"),
		stomp.New(stomp.SUBSCRIBE, "id", "1", "destination", "/user/queue/errors", "receipt", "sub1"),
	}
	for _, f := range subs {
		if err := conn.WriteMessage(websocket.BinaryMessage, f.Encode(stomp.V12)); err != nil {
			return fmt.Errorf("seed client: %w", err)
		}
		if _, err := awaitFrame(conn, rd, stomp.RECEIPT, f.Header("receipt")); err != nil {
			return fmt.Errorf("seed client: %w", err)
		}
	}
	var text, frame []byte
	for k := 0; k < cfg.Seed; k++ {
		m := Marker{Sender: seedSender, Seq: int64(k), SentNanos: time.Now().UnixNano()}
		text = m.AppendText(text[:0], cfg.MessageBytes)
		f := stomp.New(stomp.SEND, "destination", "/app/chat.send", "content-type", "application/json", "receipt", "s"+strconv.Itoa(k))
		f.Body = AppendSendBody(nil, rm.id, text)
		frame = f.Append(frame[:0], stomp.V12)
		if err := conn.WriteMessage(websocket.BinaryMessage, frame); err != nil {
			return fmt.Errorf("seed client: send %d: %w", k, err)
		}
	}
	receipts, seen := 0, map[int64]bool{}
	for receipts < cfg.Seed || len(seen) < cfg.Seed {
		f, err := readFrame(conn, rd)
		if err != nil {
			return fmt.Errorf("seed client: %d/%d receipts, %d/%d messages seen: %w", receipts, cfg.Seed, len(seen), cfg.Seed, err)
		}
		switch {
		case f.Command == stomp.ERROR:
			return fmt.Errorf("seed client: ERROR %q %q", f.Header("message"), trim(f.Body))
		case f.Command == stomp.RECEIPT:
			receipts++
		case f.Command == stomp.MESSAGE && f.Header("subscription") == "1":
			return fmt.Errorf("seed client: refused (the server needs limits.send_rate 0): %s", trim(f.Body))
		case f.Command == stomp.MESSAGE:
			if m, ok := ParseMarker(f.Body); ok && m.Sender == seedSender {
				seen[m.Seq] = true
			}
		}
	}
	_ = conn.WriteMessage(websocket.BinaryMessage, stomp.New(stomp.DISCONNECT).Encode(stomp.V12))
	return nil
}
