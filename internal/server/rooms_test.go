package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
)

// TestRoomsSurviveRestarts: a room created through replica A is listed by
// replica B within 1 s; after both replicas and then RabbitMQ restart, the
// room and its last 100 messages are still there.
func TestRoomsSurviveRestarts(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	a, b := start(t, cfg), start(t, cfg)
	room := createRoom(t, a, unique(t))
	err := rabbittest.WaitFor(time.Second, func() (bool, error) {
		_, ok := b.srv.store.Get(room)
		return ok, nil
	})
	if err != nil {
		t.Fatalf("room not on replica B within 1 s: %v", err)
	}
	sender := connect(t, a, "keeper")
	sendNumbered(t, sender, room, "m", 1, 120)
	_ = sender.Close()
	a.stop()
	b.stop()
	// a full restart of the node (process and all), on its data directory
	if err := rabbit.Restart(); err != nil {
		t.Fatal(err)
	}
	c, d := start(t, cfg), start(t, cfg)
	for _, r := range []*replica{c, d} {
		if _, ok := r.srv.store.Get(room); !ok {
			t.Fatalf("room %s lost after the restarts (replica %s)", room, r.addr)
		}
		got := history(t, r, room, 100)
		// newest first: m-120 .. m-21
		for i, m := range got {
			if want := fmt.Sprintf("m-%d", 120-i); m.Message != want {
				t.Fatalf("history[%d] = %q, want %q", i, m.Message, want)
			}
		}
		if len(got) != 100 {
			t.Fatalf("history has %d messages, want 100", len(got))
		}
	}
}

// TestHistoryLastN: x-history: 20 on a room with 50 messages delivers
// messages 31-50, then live ones.
func TestHistoryLastN(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		r := start(t, cfg)
		room := createRoom(t, r, unique(t))
		sender := connect(t, r, "writer")
		sendNumbered(t, sender, room, "h", 1, 50)
		// the room has its 50 messages once the server has stored the last
		// (the embedded broker receipts a SEND before routing it)
		if err := rabbittest.WaitFor(5*time.Second, func() (bool, error) {
			h := history(t, r, room, 1)
			return len(h) == 1 && h[0].Message == "h-50", nil
		}); err != nil {
			t.Fatalf("h-50 never reached the room's history: %v", err)
		}
		c := connect(t, r, "reader")
		if err := c.Subscribe("s", "/topic/room."+room, "x-history", "20"); err != nil {
			t.Fatal(err)
		}
		expectTexts(t, readRoom(t, c, "s", 20), "h", 31, 50)
		sendNumbered(t, sender, room, "h", 51, 1)
		expectTexts(t, readRoom(t, c, "s", 1), "h", 51, 51)
	})
}

// TestResumeAfterOnAnotherReplica: a client that disconnects mid-stream and
// resubscribes on another replica with x-resume-after gets exactly what it
// missed, then live messages.
func TestResumeAfterOnAnotherReplica(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	a, b := start(t, cfg), start(t, cfg)
	room := createRoom(t, a, unique(t))
	waitRoom(t, b, room)
	first := connect(t, a, "roamer")
	if err := first.Subscribe("s", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	sender := connect(t, b, "talker")
	sendNumbered(t, sender, room, "r", 1, 30)
	got := readRoom(t, first, "s", 30)
	expectTexts(t, got, "r", 1, 30)
	last := got[len(got)-1].Offset
	_ = first.Close()
	sendNumbered(t, sender, room, "r", 31, 40) // missed while away
	second := connect(t, b, "roamer")
	if err := second.Subscribe("s", "/topic/room."+room, "x-resume-after", fmt.Sprint(last)); err != nil {
		t.Fatal(err)
	}
	expectTexts(t, readRoom(t, second, "s", 40), "r", 31, 70)
	sendNumbered(t, sender, room, "r", 71, 5)
	expectTexts(t, readRoom(t, second, "s", 5), "r", 71, 75)
}

// TestRoomSurvivesBrokerOutage: subscribers on a replica that loses and
// regains RabbitMQ in the middle of the sends miss nothing and get nothing
// twice.
func TestRoomSurvivesBrokerOutage(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	a, b := start(t, cfg), start(t, cfg)
	room := createRoom(t, a, unique(t))
	waitRoom(t, b, room)
	sub := connect(t, a, "steady")
	if err := sub.Subscribe("s", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	sender := connect(t, b, "talker")
	sendNumbered(t, sender, room, "o", 1, 25)
	if err := rabbit.StopApp(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = rabbit.StartApp()
		}
	})
	// these wait in replica B's outbox; the last one's receipt comes
	// after the broker's return
	for i := 26; i <= 50; i++ {
		f := stomp.New(stomp.SEND, "destination", "/app/chat.send")
		f.Body = []byte(fmt.Sprintf(`{"roomId":%q,"message":"o-%d"}`, room, i))
		if err := sender.Send(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := rabbit.StartApp(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	sendNumbered(t, sender, room, "o", 51, 10)
	expectTexts(t, readRoom(t, sub, "s", 60), "o", 1, 60)
	select {
	case <-sub.Closed():
		t.Fatalf("subscriber socket closed: %v", sub.CloseErr())
	default:
	}
}

// TestRoomsOverSTOMP: SUBSCRIBE /app/rooms answers once with the rooms,
// /topic/rooms announces creations, and chat.send refuses unknown rooms on
// /user/queue/errors without closing the connection.
func TestRoomsOverSTOMP(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		r := start(t, cfg)
		existing := createRoom(t, r, unique(t)+"-old")
		c := connect(t, r, "lister")
		if err := c.Subscribe("errs", "/user/queue/errors"); err != nil {
			t.Fatal(err)
		}
		if ids := stompRoomIDs(t, c, "list"); !contains(ids, existing) {
			t.Fatalf("room list %v lacks %s", ids, existing)
		}
		if err := c.Send(stomp.New(stomp.SUBSCRIBE, "id", "one", "destination", "/app/rooms", "limit", "1")); err != nil {
			t.Fatal(err)
		}
		m, err := c.Expect(stomp.MESSAGE, 5*time.Second)
		if err != nil || m.Header("subscription") != "one" || !strings.Contains(string(m.Body), `"online":`) || !strings.Contains(string(m.Body), `"next":`) {
			t.Fatalf("room list page: %v %v", m, err)
		}
		// subscribed only now, so that the list pages above cannot meet
		// the announcement of the room created before them, which is
		// published on its own time
		if err := c.Subscribe("ann", "/topic/rooms"); err != nil {
			t.Fatal(err)
		}
		created := createRoom(t, r, unique(t)+"-new")
		m, err = c.Expect(stomp.MESSAGE, 5*time.Second)
		if err == nil && strings.Contains(string(m.Body), existing) {
			// existing's own announcement, late: it comes before created's
			m, err = c.Expect(stomp.MESSAGE, 5*time.Second)
		}
		if err != nil || m.Header("subscription") != "ann" || !strings.Contains(string(m.Body), `"event":"created"`) || !strings.Contains(string(m.Body), created) {
			t.Fatalf("announcement: %v %v", m, err)
		}
		send := stomp.New(stomp.SEND, "destination", "/app/chat.send")
		send.Body = []byte(`{"roomId":"nosuchroom","message":"hello?"}`)
		if err := c.Send(send); err != nil {
			t.Fatal(err)
		}
		m, err = c.Expect(stomp.MESSAGE, 5*time.Second)
		if err != nil || m.Header("subscription") != "errs" || !strings.Contains(string(m.Body), "not_found") {
			t.Fatalf("unknown room: %v %v", m, err)
		}
		if err := c.Subscribe("room", "/topic/room."+created); err != nil {
			t.Fatalf("connection lost after the error: %v", err)
		}
	})
}
