package server

import (
	"encoding/json"
	"net/http"
	"sort"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
	"chatrelay/internal/typing"
)

// sendTyping SENDs a typing signal (body "" for the default start) and
// waits for its RECEIPT.
func sendTyping(t testing.TB, c *stomptest.Client, room, body, receipt string) {
	t.Helper()
	f := stomp.New(stomp.SEND, "destination", "/app/rooms/"+room+"/typing", "receipt", receipt)
	f.Body = []byte(body)
	if err := c.Send(f); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Expect(stomp.RECEIPT, 5*time.Second); err != nil || r.Header("receipt-id") != receipt {
		t.Fatalf("typing signal %s: %v", receipt, err)
	}
}

// readTyping reads the next frame of c and checks it is a typing event
// on subscription sub.
func readTyping(t testing.TB, c *stomptest.Client, sub string, timeout time.Duration) typing.Event {
	t.Helper()
	f, err := c.Expect(stomp.MESSAGE, timeout)
	if err != nil {
		t.Fatalf("waiting for a typing event: %v", err)
	}
	var ev typing.Event
	if f.Header("subscription") != sub || json.Unmarshal(f.Body, &ev) != nil || ev.Type != typing.Type {
		t.Fatalf("got %q on subscription %q, want a typing event on %q", f.Body, f.Header("subscription"), sub)
	}
	return ev
}

// nextTyping reads frames of c until a typing event on sub that match
// accepts, skipping other typing events (on any of c's typing
// subscriptions), and returns it.
func nextTyping(t testing.TB, c *stomptest.Client, sub string, match func(typing.Event) bool) typing.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := c.Expect(stomp.MESSAGE, time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for a typing event on %s: %v", sub, err)
		}
		var ev typing.Event
		if json.Unmarshal(f.Body, &ev) != nil || ev.Type != typing.Type {
			t.Fatalf("got %q on subscription %q, want typing events only", f.Body, f.Header("subscription"))
		}
		if f.Header("subscription") == sub && match(ev) {
			return ev
		}
	}
}

// TestTyping: typing signals sent to one replica reach a member on the
// other (RabbitMQ) as events on /topic/room.<id>.typing, coalesced, never
// in the room's history or on its topic, ended by the server once the
// typist goes quiet; private rooms take and show them to members only;
// the limits refuse with rate_limited and leave everyone else working.
func TestTyping(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		cfg.Rooms.Typing.TTL = 1500 * time.Millisecond
		cfg.Rooms.Typing.Refresh = time.Second
		cfg.Rooms.Typing.MaxRoomsPerUser = 2
		// the per-user event budget is the unit tests'; here it would
		// drop the rounds' events
		cfg.Rooms.Typing.UserRate, cfg.Rooms.Typing.UserBurst = 1000, 1000
		a, b, room, bob := pairWithRoom(t, cfg)
		if err := bob.Subscribe("typing", "/topic/room."+room+".typing"); err != nil {
			t.Fatal(err)
		}
		ann := errorsQueue(t, a, "ann")

		// a start reaches bob on the other replica; five rounds, each a
		// new start (the previous one stopped), timed from the SEND
		var took []time.Duration
		for i := range 5 {
			sent := time.Now()
			sendTyping(t, ann, room, "", "start")
			ev := readTyping(t, bob, "typing", 5*time.Second)
			took = append(took, time.Since(sent))
			want := typing.Event{Type: typing.Type, RoomID: room, Sender: "ann", Typing: true, ExpiresInMs: 1500}
			if ev != want {
				t.Fatalf("round %d: event %+v, want %+v", i, ev, want)
			}
			sendTyping(t, ann, room, `{"typing":false}`, "stop")
			if ev := readTyping(t, bob, "typing", 5*time.Second); ev.Typing || ev.Sender != "ann" {
				t.Fatalf("round %d: event %+v, want ann's stop", i, ev)
			}
		}
		sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
		t.Logf("typing event latency across replicas: %v", took)
		if took[2] > 500*time.Millisecond {
			t.Errorf("median typing event latency %v, want within 500 ms (all: %v)", took[2], took)
		}

		// signals within the refresh interval are coalesced: a burst of
		// 20 makes one start per refresh interval it spans; ann then goes
		// quiet and the server ends it within the TTL (1.5 s) and a sweep
		burst := time.Now()
		for range 20 {
			sendTyping(t, ann, room, `{"typing":true}`, "burst")
		}
		quiet := time.Now()
		starts := 0
		for {
			ev := readTyping(t, bob, "typing", 5*time.Second)
			if !ev.Typing {
				break
			}
			starts++
		}
		ended := time.Since(quiet)
		if most := 1 + int(quiet.Sub(burst)/cfg.Rooms.Typing.Refresh); starts < 1 || starts > most {
			t.Fatalf("20 signals in %v made %d starts, want 1 to %d", quiet.Sub(burst), starts, most)
		}
		if ended < cfg.Rooms.Typing.TTL-100*time.Millisecond {
			t.Fatalf("the server ended ann's typing %v after her last signal, before the %v TTL", ended, cfg.Rooms.Typing.TTL)
		}
		t.Logf("20 signals in %v: %d start(s); the server's stop %v after the last signal (TTL %v)",
			quiet.Sub(burst), starts, ended, cfg.Rooms.Typing.TTL)

		// nothing of it in the room: the first room message bob gets is
		// the one sent now, and the history holds only it
		sendNumbered(t, ann, room, "after", 1, 1)
		expectTexts(t, readRoom(t, bob, "room", 1), "after", 1, 1)
		if h := history(t, b, room, 50); len(h) != 1 || h[0].Message != "after-1" {
			t.Fatalf("history %+v, want only after-1 (no typing event)", h)
		}

		// bad input: an unknown room, a bad body; each answered on
		// /user/queue/errors, the session goes on
		for _, bad := range []struct{ room, body, code, want string }{
			{"nosuchroom", "", "not_found", "does not exist"},
			{room, `{"typing":"yes"}`, "bad_request", "typing"},
			{room, `[1]`, "bad_request", "typing"},
		} {
			f := stomp.New(stomp.SEND, "destination", "/app/rooms/"+bad.room+"/typing")
			f.Body = []byte(bad.body)
			if err := ann.Send(f); err != nil {
				t.Fatal(err)
			}
			expectUserError(t, ann, bad.code, bad.want)
		}

		// a private room: a member's signal reaches another member; a
		// non-member may neither subscribe nor signal
		status, made := rest(t, a, "POST", "/api/rooms", "ann", map[string]any{"name": unique(t) + "-private", "private": true, "members": []string{"bob"}})
		if status != http.StatusCreated {
			t.Fatalf("create private room: %d %v", status, made)
		}
		priv := made["id"].(string)
		waitRoom(t, b, priv)
		if err := bob.Subscribe("ptyping", "/topic/room."+priv+".typing"); err != nil {
			t.Fatal(err)
		}
		sendTyping(t, ann, priv, "", "private")
		if ev := readTyping(t, bob, "ptyping", 5*time.Second); !ev.Typing || ev.RoomID != priv {
			t.Fatalf("private room: event %+v", ev)
		}
		mallory := connect(t, b, "mallory")
		sub := stomp.New(stomp.SUBSCRIBE, "id", "s", "destination", "/topic/room."+priv+".typing", "receipt", "r")
		if err := mallory.Send(sub); err != nil {
			t.Fatal(err)
		}
		expectError(t, mallory, "forbidden")
		mallory = errorsQueue(t, b, "mallory")
		if err := mallory.Send(stomp.New(stomp.SEND, "destination", "/app/rooms/"+priv+"/typing")); err != nil {
			t.Fatal(err)
		}
		expectUserError(t, mallory, "forbidden", "private")

		// the per-user bound on rooms typed in at once (2 here): ann
		// types in priv and room; a third room is refused, and bob still
		// gets events
		third := createRoom(t, a, unique(t)+"-third")
		sendTyping(t, ann, priv, "", "first")
		sendTyping(t, ann, room, "", "second")
		nextTyping(t, bob, "typing", func(ev typing.Event) bool { return ev.Sender == "ann" && ev.Typing })
		f := stomp.New(stomp.SEND, "destination", "/app/rooms/"+third+"/typing")
		if err := ann.Send(f); err != nil {
			t.Fatal(err)
		}
		expectUserError(t, ann, "rate_limited", "too many rooms")
		carol := errorsQueue(t, a, "carol")
		sendTyping(t, carol, room, "", "carol")
		nextTyping(t, bob, "typing", func(ev typing.Event) bool { return ev.Sender == "carol" && ev.Typing })
	})
}
