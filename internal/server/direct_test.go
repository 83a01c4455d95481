package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/chat"
	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// sendDM SENDs a private message with a receipt and waits for it: the
// message is stored.
func sendDM(t testing.TB, c *stomptest.Client, to, text string) {
	t.Helper()
	f := stomp.New(stomp.SEND, "destination", "/app/chat.dm", "receipt", "dm")
	f.Body = []byte(`{"to":"` + to + `","message":"` + text + `"}`)
	if err := c.Send(f); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Expect(stomp.RECEIPT, 15*time.Second); err != nil || r.Header("receipt-id") != "dm" {
		t.Fatalf("private message %q to %s: %v", text, to, err)
	}
}

// TestDirectConversations: a private message to a user who is offline is kept
// in the two users' direct room; the recipient, back on the other
// replica, finds the conversation in their room list and reads its
// history, and later messages come live on /user/queue/messages (naming
// the room) and on the room's topic. Nobody else reads it, nobody
// changes or moderates it, its id cannot be taken by another room, and
// new conversations are bounded per user.
func TestDirectConversations(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		cfg.HTTP.APIKey = testAPIKey
		cfg.Rooms.Direct.UserPerMinute, cfg.Rooms.Direct.UserBurst = 0.01, 2
		a := start(t, cfg)
		b := a
		if cfg.Broker.Mode == config.BrokerRabbitMQ {
			b = start(t, cfg)
		}
		room := rooms.DirectID("ann", "bob")

		// ann writes to bob, who is not connected
		ann := errorsQueue(t, a, "ann")
		sendDM(t, ann, "bob", "while you were away")
		sendDM(t, ann, "bob", "and again")

		// bob comes back on the other replica: the conversation is in his
		// room list, with its history
		waitRoom(t, b, room)
		bob := errorsQueue(t, b, "bob")
		if ids := restRoomIDs(t, b, "bob"); !contains(ids, room) {
			t.Fatalf("bob's rooms %v lack the conversation %s", ids, room)
		}
		st, got := rest(t, b, "GET", "/api/rooms/"+room, "bob", nil)
		if st != http.StatusOK || got["direct"] != true || got["createdBy"] != "ann" || !sameList(got["members"], "bob") {
			t.Fatalf("the conversation as bob sees it: %d %v", st, got)
		}
		if err := bob.Subscribe("dm", "/topic/room."+room, "x-history", "10"); err != nil {
			t.Fatal(err)
		}
		for i, m := range readRoom(t, bob, "dm", 2) {
			if want := []string{"while you were away", "and again"}[i]; m.Message != want || m.Sender != "ann" || m.Type != rooms.Talk {
				t.Fatalf("bob's history %d: %+v, want ann's %q", i, m, want)
			}
		}

		// live: bob answers; ann (subscribed to her private messages)
		// gets it naming the room, bob his own echo and the room message
		if err := ann.Subscribe("pm", "/user/queue/messages"); err != nil {
			t.Fatal(err)
		}
		f := stomp.New(stomp.SEND, "destination", "/app/chat.dm", "receipt", "answer")
		f.Body = []byte(`{"to":"ann","message":"I am back"}`)
		if err := bob.Send(f); err != nil {
			t.Fatal(err)
		}
		pm, err := ann.Expect(stomp.MESSAGE, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var dm chat.DirectMessage
		if json.Unmarshal(pm.Body, &dm) != nil || dm.From != "bob" || dm.To != "ann" || dm.RoomID != room || dm.Message != "I am back" {
			t.Fatalf("ann got %s, want bob's message naming room %s", pm.Body, room)
		}
		var roomMsg, receipt bool
		for !roomMsg || !receipt {
			fr, err := bob.Read(10 * time.Second)
			if err != nil {
				t.Fatalf("bob after answering: %v", err)
			}
			switch {
			case fr.Command == stomp.RECEIPT && fr.Header("receipt-id") == "answer":
				receipt = true
			case fr.Command == stomp.MESSAGE && fr.Header("subscription") == "dm" && strings.Contains(string(fr.Body), "I am back"):
				roomMsg = true
			default:
				t.Fatalf("bob got %s %s", fr.Command, fr.Body)
			}
		}
		for _, who := range []string{"ann", "bob"} {
			st, page := rest(t, a, "GET", "/api/rooms/"+room+"/messages?limit=10", who, nil)
			if msgs, _ := page["messages"].([]any); st != http.StatusOK || len(msgs) != 3 {
				t.Fatalf("%s reads the conversation: %d %v, want its 3 messages", who, st, page)
			}
		}

		// a third user reads nothing of it, over REST or STOMP
		if st, _ := rest(t, b, "GET", "/api/rooms/"+room+"/messages", "carol", nil); st != http.StatusForbidden {
			t.Fatalf("carol reads the conversation: %d", st)
		}
		if st, _ := rest(t, b, "GET", "/api/rooms/"+room+"/messages", "", nil); st != http.StatusUnauthorized {
			t.Fatalf("an anonymous client reads the conversation: %d", st)
		}
		if ids := restRoomIDs(t, b, "carol"); contains(ids, room) {
			t.Fatalf("carol's room list shows ann and bob's conversation")
		}
		carol := connect(t, b, "carol")
		sub := stomp.New(stomp.SUBSCRIBE, "id", "s", "destination", "/topic/room."+room, "x-history", "10", "receipt", "r")
		if err := carol.Send(sub); err != nil {
			t.Fatal(err)
		}
		expectError(t, carol, "forbidden")

		// nobody changes, moderates or deletes it
		if st, got := rest(t, a, "PUT", "/api/rooms/"+room+"/access", "ann", map[string]any{"members": []string{"bob", "carol"}}); st != http.StatusForbidden && st != http.StatusConflict {
			t.Fatalf("ann adds carol to the conversation: %d %v", st, got)
		}
		if st, got := rest(t, a, "DELETE", "/api/rooms/"+room, "ann", nil); st != http.StatusForbidden {
			t.Fatalf("ann deletes the conversation: %d %v", st, got)
		}
		refusedOver(t, ann, room, "moderate", `{"action":"ban","user":"bob"}`, "forbidden", "no moderation")
		if st, got := restKey(t, a, "PUT", "/api/rooms/"+room+"/moderators", map[string]any{"moderators": []string{"bob"}}); st != http.StatusForbidden {
			t.Fatalf("moderators for a conversation: %d %v", st, got)
		}

		// the API key may delete it; the next message starts it again,
		// on every replica (the id is the same)
		if st, got := restKey(t, a, "DELETE", "/api/rooms/"+room, nil); st != http.StatusNoContent {
			t.Fatalf("the API key deletes the conversation: %d %v", st, got)
		}
		if err := rabbittest.WaitFor(5*time.Second, func() (bool, error) { _, ok := b.srv.store.Get(room); return !ok, nil }); err != nil {
			t.Fatal("the other replica still knows the deleted conversation")
		}
		sendDM(t, errorsQueue(t, b, "carol"), "bob", "hi bob") // another conversation goes on
		f = stomp.New(stomp.SEND, "destination", "/app/chat.dm", "receipt", "again")
		f.Body = []byte(`{"to":"bob","message":"starting over"}`)
		if err := ann.Send(f); err != nil {
			t.Fatal(err)
		}
		for got := false; !got; {
			fr, err := ann.Read(15 * time.Second)
			if err != nil {
				t.Fatalf("ann starts over: %v", err)
			}
			got = fr.Command == stomp.RECEIPT && fr.Header("receipt-id") == "again"
			if fr.Command == stomp.ERROR || fr.Header("destination") == "/user/queue/errors" {
				t.Fatalf("ann starts over: %s %s", fr.Command, fr.Body)
			}
		}
		waitRoom(t, b, room)
		st, page := rest(t, b, "GET", "/api/rooms/"+room+"/messages?limit=10", "bob", nil)
		if msgs, _ := page["messages"].([]any); st != http.StatusOK || len(msgs) != 1 || !strings.Contains(fmt.Sprint(msgs[0]), "starting over") {
			t.Fatalf("the conversation started over, read on the other replica: %d %v", st, page)
		}

		// its id cannot be taken by another room first: the id of a
		// conversation that does not exist yet is no room to create
		other := rooms.DirectID("erin", "frank")
		erin := connect(t, a, "erin")
		sub = stomp.New(stomp.SUBSCRIBE, "id", "s", "destination", "/sub/chat/room/"+other, "receipt", "r")
		if err := erin.Send(sub); err != nil {
			t.Fatal(err)
		}
		expectError(t, erin, "room")
		if _, ok := a.srv.store.Get(other); ok {
			t.Fatalf("a tutorial SUBSCRIBE created room %s", other)
		}

		// new conversations are bounded per user (burst 2 here): dave
		// starts two, the third is refused, the first goes on
		dave := errorsQueue(t, a, "dave")
		sendDM(t, dave, "x1", "hi")
		sendDM(t, dave, "x2", "hi")
		f = stomp.New(stomp.SEND, "destination", "/app/chat.dm")
		f.Body = []byte(`{"to":"x3","message":"hi"}`)
		if err := dave.Send(f); err != nil {
			t.Fatal(err)
		}
		expectUserError(t, dave, "rate_limited", "rooms.direct.user_per_minute")
		sendDM(t, dave, "x1", "still here")
		// a user may write to themselves
		sendDM(t, errorsQueue(t, a, "gina"), "gina", "a note")
		if r, ok := a.srv.store.Get(rooms.DirectID("gina", "gina")); !ok || len(r.Members) != 0 || !r.Allows("gina") || r.Allows("ann") {
			t.Fatalf("gina's note to herself: %+v %v", r, ok)
		}
	})
}
