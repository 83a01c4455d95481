package session

import (
	"bytes"
	"strconv"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
)

// TestRoomFrameParts: a room MESSAGE built from the shared head and tail
// and the subscription's own line is byte for byte the frame the encoder
// writes whole, in every version, escapes included; the cache gives the
// next subscriber the same parts and a new message new ones.
func TestRoomFrameParts(t *testing.T) {
	var c frameCache
	body := []byte(`{"message":"a:b\nc\\d\re"}`)
	for _, v := range []stomp.Version{stomp.V10, stomp.V11, stomp.V12} {
		for _, display := range []string{"/topic/room.r1", "/topic/odd:dest\\with\nbreaks\r"} {
			for _, id := range []string{"sub-0", "a:b\\c\nd\re"} {
				m := rooms.Message{Post: rooms.Post{ID: "m:1\n"}, Offset: 42}
				head, tail, text := c.parts(display, v, &m, body)
				got := append(append(append([]byte(nil), head...), subscriptionHeader(id, v)...), tail...)
				want := withBody(stomp.New(stomp.MESSAGE,
					"destination", display,
					"subscription", id,
					"message-id", m.ID,
					"x-offset", strconv.FormatInt(m.Offset, 10),
					"content-type", "application/json",
				), body).Encode(v)
				if !bytes.Equal(got, want) {
					t.Fatalf("v%s %q %q:\n got %q\nwant %q", v, display, id, got, want)
				}
				if text != utf8.Valid(want) {
					t.Fatalf("v%s %q: text %v for valid UTF-8 %v", v, display, text, utf8.Valid(want))
				}
				h2, t2, _ := c.parts(display, v, &m, body)
				if &h2[0] != &head[0] || &t2[0] != &tail[0] {
					t.Fatalf("v%s %q: same message encoded twice", v, display)
				}
				m.Offset++
				if _, t3, _ := c.parts(display, v, &m, body); &t3[0] == &tail[0] {
					t.Fatalf("v%s %q: next message got the previous one's tail", v, display)
				}
			}
		}
	}
}

// TestRoomFrameReplaysShareEncodings: joiners that each replay the same
// roomFrameSlots consecutive messages of a room in turn (a join storm with
// x-history) get the encoding the first joiner's replay made, message for
// message, instead of one encoding per joiner.
func TestRoomFrameReplaysShareEncodings(t *testing.T) {
	var c frameCache
	const display = "/topic/room.storm"
	body := []byte(`{"message":"hi"}`)
	msgs := make([]rooms.Message, roomFrameSlots)
	tails := make([][]byte, roomFrameSlots)
	for i := range msgs {
		msgs[i] = rooms.Message{Post: rooms.Post{ID: "m" + strconv.Itoa(i)}, Offset: int64(1000 + i)}
		_, tails[i], _ = c.parts(display, stomp.V12, &msgs[i], body)
	}
	for joiner := 1; joiner < 3; joiner++ {
		for i := range msgs {
			if _, tail, _ := c.parts(display, stomp.V12, &msgs[i], body); &tail[0] != &tails[i][0] {
				t.Fatalf("joiner %d: message %d encoded again", joiner, i)
			}
		}
	}
}

// gateConn is a Batcher conn whose first write waits for release, so the
// frames queued meanwhile reach the writer together.
type gateConn struct {
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	writes  [][]byte
	texts   []bool // each write's text flag
	closed  chan int
}

func (c *gateConn) WriteMessage(p []byte, text bool) error {
	c.once.Do(func() { <-c.release })
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, append([]byte(nil), p...))
	c.texts = append(c.texts, text)
	return nil
}
func (c *gateConn) SetReadDeadline(time.Time) error { return nil }
func (c *gateConn) BatchFrames() bool               { return true }
func (c *gateConn) Close(code int, _ string) error {
	c.closed <- code
	return nil
}

// TestWriterBatches: frames queued while the socket is busy are written
// in order, several per message and none split, no message above
// maxBatch unless it holds a single larger frame; the observer still
// counts every frame, and the final ERROR follows them.
func TestWriterBatches(t *testing.T) {
	obs := &recObserver{events: map[string]int{}}
	opts := newObserved(t, obs)
	opts.SendQueueBytes = 8 << 20
	const n = 300
	bodies := make([]string, n)
	for i := range n {
		body := bytes.Repeat([]byte{'a' + byte(i%26)}, 500)
		if i == 100 {
			body = bytes.Repeat([]byte("z"), maxBatch+10) // alone in its message
		}
		bodies[i] = string(body)
	}
	writes, _ := writeRoomBodies(t, opts, bodies...)
	dec := stomp.NewDecoder(stomp.Limits{MaxFrameBytes: 1 << 20})
	var frames []*stomp.Frame
	for _, w := range writes {
		before := len(frames)
		if err := dec.Feed(w); err != nil {
			t.Fatal(err)
		}
		for {
			f, err := dec.Next()
			if err != nil {
				t.Fatal(err)
			}
			if f == nil {
				break
			}
			frames = append(frames, f)
		}
		if dec.Buffered() != 0 {
			t.Fatalf("a message ends inside a frame")
		}
		if len(w) > maxBatch && len(frames)-before != 1 {
			t.Fatalf("a %d-byte message holds %d frames", len(w), len(frames)-before)
		}
	}
	if len(writes) >= n {
		t.Fatalf("%d writes for %d frames: nothing batched", len(writes), n+2)
	}
	if len(frames) != n+2 || frames[0].Command != stomp.CONNECTED || frames[n+1].Command != stomp.ERROR {
		t.Fatalf("%d frames", len(frames))
	}
	for i, f := range frames[1 : n+1] {
		if f.Header("message-id") != "m"+strconv.Itoa(i) || f.Header("subscription") != "s1" || f.Header("x-offset") != strconv.Itoa(i) {
			t.Fatalf("frame %d: %v", i, f.Headers)
		}
	}
	if obs.count("out MESSAGE") != n || obs.count("out CONNECTED") != 1 || obs.count("out ERROR") != 1 {
		t.Fatalf("events %v", obs.events)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.lat) != n {
		t.Fatalf("%d latencies, want %d", len(obs.lat), n)
	}
}
