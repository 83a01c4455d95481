package session

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/auth"
	"chatrelay/internal/destination"
	"chatrelay/internal/relay"
	"chatrelay/internal/rooms"
	"chatrelay/internal/router"
	"chatrelay/internal/stomp"
)

// endingRooms is a rooms.Store with one room whose feeds the test ends:
// it records every Follow and answers the next ones with refuse.
type endingRooms struct {
	rooms.Store // only Get and Follow are used

	mu      sync.Mutex
	follows []followCall
	refuse  []error // answers of the next Follows (nil: attach)
	called  chan struct{}
}

// followCall is one Follow the session made.
type followCall struct {
	start   rooms.Start
	deliver func(rooms.Message, []byte)
	stopped bool
}

func (e *endingRooms) Get(id string) (rooms.Room, bool) {
	return rooms.Room{ID: id, Name: id}, id == "r1"
}

func (e *endingRooms) Follow(_ context.Context, _ string, start rooms.Start, deliver func(rooms.Message, []byte)) (func(), error) {
	e.mu.Lock()
	defer func() { e.mu.Unlock(); e.called <- struct{}{} }()
	if len(e.refuse) > 0 {
		err := e.refuse[0]
		e.refuse = e.refuse[1:]
		if err != nil {
			e.follows = append(e.follows, followCall{start: start})
			return nil, err
		}
	}
	e.follows = append(e.follows, followCall{start: start, deliver: deliver})
	i := len(e.follows) - 1
	return func() { e.mu.Lock(); e.follows[i].stopped = true; e.mu.Unlock() }, nil
}

// last returns the latest Follow.
func (e *endingRooms) last() followCall {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.follows[len(e.follows)-1]
}

// frameConn is a Conn that hands every frame written to frames.
type frameConn struct {
	frames chan string
	closed chan int
	once   sync.Once
}

func (c *frameConn) WriteMessage(p []byte, _ bool) error {
	if len(strings.Trim(string(p), "\n")) > 0 {
		c.frames <- string(p)
	}
	return nil
}
func (c *frameConn) SetReadDeadline(time.Time) error { return nil }
func (c *frameConn) Close(code int, _ string) error {
	c.once.Do(func() { c.closed <- code })
	return nil
}

// expectFrame waits for the next frame and checks it starts with
// command and holds every part of want.
func (c *frameConn) expectFrame(t *testing.T, command string, want ...string) string {
	t.Helper()
	var f string
	select {
	case f = <-c.frames: // written before any close
	default:
		select {
		case f = <-c.frames:
		case code := <-c.closed:
			t.Fatalf("closed (%d) while waiting for %s", code, command)
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s within 5 s", command)
		}
	}
	if !strings.HasPrefix(f, command+"\n") {
		t.Fatalf("got %q, want %s", f, command)
	}
	for _, w := range want {
		if !strings.Contains(f, w) {
			t.Fatalf("frame %q lacks %q", f, w)
		}
	}
	return f
}

// roomSession returns a connected session of user ann subscribed
// (subscription "s") to room r1 of store, and its connection; with
// errors, it also subscribes to /user/queue/errors (subscription "e").
func roomSession(t *testing.T, store *endingRooms, errors bool) (*Session, *frameConn) {
	t.Helper()
	policy, err := destination.New(destination.Config{})
	if err != nil {
		t.Fatal(err)
	}
	r := relay.New(relay.Config{}) // never started: user queues stay local
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	opts := &Options{
		Broker: RelayBroker(r), Policy: policy, Router: router.New(), Auth: auth.None{}, Rooms: store,
		Limits:         stomp.Limits{MaxFrameBytes: 64 << 10},
		Logger:         slog.New(slog.DiscardHandler),
		SendQueueBytes: 1 << 20,
	}
	conn := &frameConn{frames: make(chan string, 100), closed: make(chan int, 1)}
	s := New(opts, conn, "test", stomp.V12, Handshake{Transport: "ws"}, nil)
	t.Cleanup(func() { s.Shutdown(); <-s.Done() })
	send := func(frame string) {
		t.Helper()
		if err := s.Receive([]byte(frame + "\x00")); err != nil {
			t.Fatal(err)
		}
	}
	send("CONNECT\naccept-version:1.2\nlogin:ann\n\n")
	conn.expectFrame(t, "CONNECTED")
	if errors {
		// no receipt: the relay, never started, would hold it
		send("SUBSCRIBE\nid:e\ndestination:/user/queue/errors\n\n")
	}
	send("SUBSCRIBE\nid:s\ndestination:/topic/room.r1\nreceipt:rs\n\n")
	<-store.called
	conn.expectFrame(t, "RECEIPT", "receipt-id:rs")
	return s, conn
}

// message is room r1's message at offset n.
func message(n int64) (rooms.Message, []byte) {
	m := rooms.Message{Post: rooms.Post{ID: "id-" + string(rune('a'+n)), RoomID: "r1", Type: rooms.Talk, Message: "m"}, Offset: n}
	return m, []byte(`{"id":"` + m.ID + `"}`)
}

// TestRoomFeedEndFollowsAgain: when the feed under a room subscription
// ends, the session follows the room again right after the offset the
// feed had reached (retrying while the store cannot), and the client
// goes on receiving on the same subscription with no ERROR and no close.
func TestRoomFeedEndFollowsAgain(t *testing.T) {
	store := &endingRooms{called: make(chan struct{}, 10)}
	_, conn := roomSession(t, store, false)
	first := store.last()
	first.deliver(message(3))
	conn.expectFrame(t, "MESSAGE", "subscription:s", `"id":"id-d"`)

	store.mu.Lock()
	store.refuse = []error{context.DeadlineExceeded, nil} // one failed try
	store.mu.Unlock()
	first.deliver(rooms.Message{Offset: 7}, nil) // the feed ended at 7
	<-store.called
	<-store.called
	again := store.last()
	if again.start.After != 7 || again.deliver == nil {
		t.Fatalf("followed again with %+v, want After 7", again.start)
	}
	again.deliver(message(8))
	conn.expectFrame(t, "MESSAGE", "subscription:s", `"id":"id-i"`)
	select {
	case f := <-conn.frames:
		t.Fatalf("unexpected frame %q", f)
	case code := <-conn.closed:
		t.Fatalf("session closed (%d)", code)
	default:
	}
}

// TestRoomFeedEndRoomGone: when the room is gone by the time the session
// follows it again, the subscription ends; a client with a
// /user/queue/errors subscription is told there and keeps its session,
// one without it gets an ERROR and the session closes.
func TestRoomFeedEndRoomGone(t *testing.T) {
	for _, withErrors := range []bool{true, false} {
		store := &endingRooms{called: make(chan struct{}, 10)}
		_, conn := roomSession(t, store, withErrors)
		store.mu.Lock()
		store.refuse = []error{rooms.ErrNotFound}
		store.mu.Unlock()
		store.last().deliver(rooms.Message{Offset: 2}, nil)
		<-store.called
		if withErrors {
			conn.expectFrame(t, "MESSAGE", "subscription:e", `"code":"subscription_ended"`, `"subscription":"s"`)
			select {
			case code := <-conn.closed:
				t.Fatalf("session closed (%d)", code)
			default:
			}
			continue
		}
		conn.expectFrame(t, "ERROR", "message:room subscription ended")
	}
}
