package session

import (
	"bytes"
	"strconv"
	"testing"
	"unicode/utf8"

	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
)

// writeRoomBodies connects a session on a gateConn, queues a room MESSAGE
// for each body while the first write is held (so that frames are
// joined), ends the session with an ERROR and returns what was written
// and each write's text flag.
func writeRoomBodies(t *testing.T, opts *Options, bodies ...string) ([][]byte, []bool) {
	t.Helper()
	conn := &gateConn{release: make(chan struct{}), closed: make(chan int, 1)}
	s := New(opts, conn, "test", stomp.V12, Handshake{Transport: "ws"}, nil)
	if err := s.Receive([]byte("CONNECT\naccept-version:1.2\n\n\x00")); err != nil {
		t.Fatal(err)
	}
	sub := &subscription{id: "s1", display: "/topic/room.r1", room: "r1", header: subscriptionHeader("s1", stomp.V12)}
	s.subsMu.Lock()
	s.subs[sub.id] = sub
	s.subsMu.Unlock()
	for i, b := range bodies {
		s.deliverRoom(sub, rooms.Message{Post: rooms.Post{ID: "m" + strconv.Itoa(i)}, Offset: int64(i)}, []byte(b))
	}
	s.fail(nil, Close{Code: CloseNormal, Message: "bye"})
	close(conn.release)
	if code := <-conn.closed; code != CloseNormal {
		t.Fatalf("close %d", code)
	}
	<-s.Done()
	return conn.writes, conn.texts
}

// TestWriterTextMessages: a message whose frames are all valid UTF-8 is
// written as text; a message holding a frame that is not (a binary body,
// a cut rune), alone or joined with UTF-8 ones, is written as binary,
// whole; with BinaryFrames every message is binary.
func TestWriterTextMessages(t *testing.T) {
	for _, tc := range []struct {
		name   string
		binary bool
		bodies []string
	}{
		{"utf8", false, []string{`{"m":"héllo 日本"}`, `{"m":"b"}`}},
		{"one binary body", false, []string{`{"m":"a"}`, "\xff\xfe\x00\x01", `{"m":"c"}`}},
		{"cut rune", false, []string{"\xe6\x97"}},
		{"binary_frames", true, []string{`{"m":"a"}`, `{"m":"b"}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := newObserved(t, nil)
			opts.BinaryFrames = tc.binary
			writes, texts := writeRoomBodies(t, opts, tc.bodies...)
			var all []byte
			for i, w := range writes {
				all = append(all, w...)
				if want := !tc.binary && utf8.Valid(w); texts[i] != want {
					t.Fatalf("write %d %q: text %v, want %v", i, w, texts[i], want)
				}
			}
			for _, b := range append(tc.bodies, "CONNECTED", "ERROR\nmessage:bye") {
				if !bytes.Contains(all, []byte(b)) {
					t.Fatalf("%q not written: %q", b, writes)
				}
			}
		})
	}
}
