package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// moderateOver SENDs body to /app/rooms/{room}/{route} (moderate or
// moderators) with a receipt and waits for the RECEIPT: the action is in
// effect and announced.
func moderateOver(t testing.TB, c *stomptest.Client, room, route, body string) {
	t.Helper()
	if early := reviseOver(t, c, room, route, body); len(early) != 0 {
		t.Fatalf("%s %s: got room messages %+v, want its RECEIPT first", route, body, early)
	}
}

// refusedOver SENDs body to /app/rooms/{room}/{route} and expects the
// refusal code with text containing want on /user/queue/errors.
func refusedOver(t testing.TB, c *stomptest.Client, room, route, body, code, want string) {
	t.Helper()
	f := stomp.New(stomp.SEND, "destination", "/app/rooms/"+room+"/"+route)
	f.Body = []byte(body)
	if err := c.Send(f); err != nil {
		t.Fatal(err)
	}
	expectUserError(t, c, code, want)
}

// readSystem reads the next frame of c and checks it is the SYSTEM
// announcement of event about target on subscription sub.
func readSystem(t testing.TB, c *stomptest.Client, sub, event, target string) rooms.Message {
	t.Helper()
	m := readRoom(t, c, sub, 1)[0]
	if m.Type != rooms.System || m.Event != event || m.Target != target || m.Message == "" {
		t.Fatalf("got %+v, want the SYSTEM announcement of %s %s", m, event, target)
	}
	return m
}

// sendTalk SENDs one chat message with a receipt and waits for it.
func sendTalk(t testing.TB, c *stomptest.Client, room, text string) {
	t.Helper()
	f := stomp.New(stomp.SEND, "destination", "/app/chat.send", "receipt", "talk")
	f.Body = []byte(`{"roomId":"` + room + `","message":"` + text + `"}`)
	if err := c.Send(f); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(stomp.RECEIPT, 15*time.Second); err != nil {
		t.Fatalf("send %q: %v", text, err)
	}
}

// restKey sends a JSON request to r's API with the API key.
func restKey(t testing.TB, r *replica, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return restAs(t, r, method, path, "Bearer "+testAPIKey, body)
}

// TestModeration: a room's owner names moderators; the owner, a
// moderator and the API key kick, ban and mute users, over STOMP and
// REST. Each action takes effect on the target's live session on the
// other replica (RabbitMQ) within a second and is announced in the room's
// history; a banned user is refused subscriptions, sends and history
// until unbanned (also by a replica started afterwards), a muted one may
// read but not send. Whoever may not act, and every bad request, is
// refused with a clear error, and the room goes on for everyone else.
func TestModeration(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		cfg.HTTP.APIKey = testAPIKey
		a := start(t, cfg)
		b := a
		if cfg.Broker.Mode == config.BrokerRabbitMQ {
			b = start(t, cfg)
		}
		status, made := rest(t, a, "POST", "/api/rooms", "ann", map[string]any{"name": unique(t)})
		if status != http.StatusCreated {
			t.Fatalf("create room: %d %v", status, made)
		}
		room := made["id"].(string)
		waitRoom(t, b, room)
		ann, carol, dave := errorsQueue(t, a, "ann"), errorsQueue(t, a, "carol"), errorsQueue(t, a, "dave")
		bob, erin := errorsQueue(t, b, "bob"), errorsQueue(t, b, "erin")
		for _, c := range []*stomptest.Client{bob, erin} {
			if err := c.Subscribe("room", "/topic/room."+room); err != nil {
				t.Fatal(err)
			}
		}
		if err := bob.Subscribe("typing", "/topic/room."+room+".typing"); err != nil {
			t.Fatal(err)
		}

		// roles: only the owner names moderators; they show in the room
		refusedOver(t, dave, room, "moderators", `{"moderators":["dave"]}`, "forbidden", "only the owner")
		moderateOver(t, ann, room, "moderators", `{"moderators":["carol","frank"]}`)
		for _, c := range []*stomptest.Client{bob, erin} {
			readSystem(t, c, "room", "moderators", "")
		}
		refusedOver(t, carol, room, "moderators", `{"moderators":["carol","dave"]}`, "forbidden", "only the owner")
		if _, got := rest(t, b, "GET", "/api/rooms/"+room, "", nil); !sameList(got["moderators"], "carol", "frank") {
			t.Fatalf("room %v, want moderators carol and frank", got)
		}

		// who may act on whom: nobody without a role, nobody on the
		// owner, a moderator not on a moderator, nobody on themselves
		refusedOver(t, dave, room, "moderate", `{"action":"kick","user":"bob"}`, "forbidden", "only the owner and the moderators")
		refusedOver(t, carol, room, "moderate", `{"action":"ban","user":"ann"}`, "forbidden", "owner")
		refusedOver(t, carol, room, "moderate", `{"action":"mute","user":"frank"}`, "forbidden", "moderator")
		refusedOver(t, carol, room, "moderate", `{"action":"kick","user":"carol"}`, "bad_request", "yourself")
		// bad requests
		for _, bad := range []struct{ room, body, code, want string }{
			{room, `{"action":"smite","user":"bob"}`, "bad_request", "action must be"},
			{room, `{"action":"kick","user":"bad name"}`, "bad_request", "not a valid user name"},
			{room, `{"action":"kick","user":"bob","why":"x"}`, "bad_request", "unknown field"},
			{room, `[1]`, "bad_request", "body must be"},
			{room, strings.Repeat("x", 2000), "bad_request", "at most"},
			{"nosuchroom", `{"action":"kick","user":"bob"}`, "not_found", "does not exist"},
		} {
			refusedOver(t, carol, bad.room, "moderate", bad.body, bad.code, bad.want)
		}

		// kick: carol on one replica kicks bob on the other; bob sees the
		// announcement, then his subscription ends, within a second; he
		// may subscribe again
		sent := time.Now()
		moderateOver(t, carol, room, "moderate", `{"action":"kick","user":"bob"}`)
		kick := readSystem(t, bob, "room", "kick", "bob")
		expectUserError(t, bob, "forbidden", "room "+room)
		if took := time.Since(sent); took > time.Second {
			t.Errorf("bob's subscription ended %v after the kick, want within 1 s", took)
		}
		t.Logf("kick took effect on bob's session %v after it was sent", time.Since(sent))
		if kick.Sender != "carol" {
			t.Fatalf("kick announced by %q, want carol", kick.Sender)
		}
		readSystem(t, erin, "room", "kick", "bob")
		if err := bob.Subscribe("room2", "/topic/room."+room, "x-history", "5"); err != nil {
			t.Fatalf("a kicked user subscribes again: %v", err)
		}
		// the replay shows the kick (history, not news: the subscription
		// stays), then ann's next message comes on room2 only
		for _, m := range readRoom(t, bob, "room2", 2) {
			if m.Type != rooms.System {
				t.Fatalf("replay %+v, want the two announcements", m)
			}
		}
		// his typing subscription ended with the room's: ann's typing
		// event, which reaches a subscriber before her next message,
		// does not come
		sendTyping(t, ann, room, "", "typing")
		sendTalk(t, ann, room, "after-kick")
		if m := readRoom(t, bob, "room2", 1)[0]; m.Message != "after-kick" {
			t.Fatalf("bob got %+v, want after-kick", m)
		}
		readRoom(t, erin, "room", 1)

		// ban: carol bans bob; his live subscription ends, and he may
		// neither subscribe, nor send, nor read the history
		sent = time.Now()
		moderateOver(t, carol, room, "moderate", `{"action":"ban","user":"bob"}`)
		readSystem(t, bob, "room2", "ban", "bob")
		expectUserError(t, bob, "forbidden", "banned you")
		if took := time.Since(sent); took > time.Second {
			t.Errorf("bob's subscription ended %v after the ban, want within 1 s", took)
		}
		readSystem(t, erin, "room", "ban", "bob")
		sendOver(t, bob, room, "banned talk")
		expectUserError(t, bob, "forbidden", "banned")
		if st, got := rest(t, b, "GET", "/api/rooms/"+room+"/messages", "bob", nil); st != http.StatusForbidden || !strings.Contains(got["error"].(string), "banned") {
			t.Fatalf("banned bob reads the history: %d %v", st, got)
		}
		sub := stomp.New(stomp.SUBSCRIBE, "id", "again", "destination", "/topic/room."+room, "receipt", "r")
		if err := bob.Send(sub); err != nil {
			t.Fatal(err)
		}
		expectError(t, bob, "banned")
		if cfg.Broker.Mode == config.BrokerRabbitMQ {
			// a replica started after the ban knows it from the registry
			c := start(t, cfg)
			waitRoom(t, c, room)
			late := connect(t, c, "bob")
			if err := late.Send(sub); err != nil {
				t.Fatal(err)
			}
			expectError(t, late, "banned")
		}

		// the others are unaffected: erin reads and sends
		sendOver(t, erin, room, "erin-after-ban")
		if m := readRoom(t, erin, "room", 1)[0]; m.Message != "erin-after-ban" {
			t.Fatalf("erin got %+v", m)
		}

		// the API key lifts the ban over REST (on the other replica);
		// bob subscribes and reads again
		st, view := restKey(t, b, "POST", "/api/rooms/"+room+"/moderation", map[string]string{"action": "unban", "user": "bob"})
		if st != http.StatusOK || !sameList(view["banned"]) {
			t.Fatalf("unban: %d %v", st, view)
		}
		readSystem(t, erin, "room", "unban", "bob")
		bob = errorsQueue(t, b, "bob")
		if err := bob.Subscribe("room", "/topic/room."+room); err != nil {
			t.Fatalf("unbanned bob subscribes: %v", err)
		}

		// mute, by the owner over REST: erin still reads, may not send
		// or type; carol lifts it over STOMP
		st, view = rest(t, a, "POST", "/api/rooms/"+room+"/moderation", "ann", map[string]string{"action": "mute", "user": "erin"})
		if st != http.StatusOK || !sameList(view["muted"], "erin") {
			t.Fatalf("mute: %d %v", st, view)
		}
		readSystem(t, erin, "room", "mute", "erin")
		readSystem(t, bob, "room", "mute", "erin")
		sendOver(t, erin, room, "muted talk")
		expectUserError(t, erin, "forbidden", "muted")
		refusedOver(t, erin, room, "typing", "", "forbidden", "muted")
		sendTalk(t, ann, room, "to-muted")
		for _, c := range []*stomptest.Client{erin, bob} {
			if m := readRoom(t, c, "room", 1)[0]; m.Message != "to-muted" {
				t.Fatalf("got %+v, want to-muted", m)
			}
		}
		moderateOver(t, carol, room, "moderate", `{"action":"unmute","user":"erin"}`)
		readSystem(t, erin, "room", "unmute", "erin")
		readSystem(t, bob, "room", "unmute", "erin")
		sendOver(t, erin, room, "unmuted")
		readRoom(t, erin, "room", 1)
		readRoom(t, bob, "room", 1)

		// the owner may act on a moderator: banning frank takes his role
		st, view = rest(t, a, "POST", "/api/rooms/"+room+"/moderation", "ann", map[string]string{"action": "ban", "user": "frank"})
		if st != http.StatusOK || !sameList(view["moderators"], "carol") || !sameList(view["banned"], "frank") {
			t.Fatalf("owner bans a moderator: %d %v", st, view)
		}
		readSystem(t, erin, "room", "ban", "frank")

		// REST refusals: no credentials, no role, a bad body, and the
		// moderation view is the owner's, moderators' and key's alone
		for _, bad := range []struct {
			user   string
			body   any
			status int
			want   string
		}{
			{"", map[string]string{"action": "kick", "user": "erin"}, http.StatusUnauthorized, "sign in"},
			{"dave", map[string]string{"action": "kick", "user": "erin"}, http.StatusForbidden, "only the owner and the moderators"},
			{"carol", map[string]string{"action": "kick"}, http.StatusBadRequest, "not a valid user name"},
			{"carol", map[string]string{"action": "smite", "user": "erin"}, http.StatusBadRequest, "action must be"},
		} {
			st, got := rest(t, a, "POST", "/api/rooms/"+room+"/moderation", bad.user, bad.body)
			if st != bad.status || !strings.Contains(got["error"].(string), bad.want) {
				t.Fatalf("POST moderation as %q %v: %d %v, want %d %q", bad.user, bad.body, st, got, bad.status, bad.want)
			}
		}
		if st, got := rest(t, a, "GET", "/api/rooms/"+room+"/moderation", "dave", nil); st != http.StatusForbidden {
			t.Fatalf("dave reads the moderation: %d %v", st, got)
		}
		if st, got := rest(t, b, "GET", "/api/rooms/"+room+"/moderation", "carol", nil); st != http.StatusOK || !sameList(got["banned"], "frank") {
			t.Fatalf("carol reads the moderation: %d %v", st, got)
		}
		if st, got := rest(t, a, "PUT", "/api/rooms/"+room+"/moderators", "carol", map[string]any{"moderators": []string{}}); st != http.StatusForbidden {
			t.Fatalf("a moderator replaces the moderators: %d %v", st, got)
		}

		// the history holds every announcement, in order, with its event
		var events []string
		for _, m := range history(t, a, room, 100) {
			if m.Type == rooms.System {
				events = append([]string{m.Event + ":" + m.Target}, events...)
			}
		}
		want := []string{"moderators:", "kick:bob", "ban:bob", "unban:bob", "mute:erin", "unmute:erin", "ban:frank"}
		if strings.Join(events, " ") != strings.Join(want, " ") {
			t.Fatalf("history announcements %v, want %v", events, want)
		}
	})
}

// sendOver SENDs one chat message without a receipt.
func sendOver(t testing.TB, c *stomptest.Client, room, text string) {
	t.Helper()
	f := stomp.New(stomp.SEND, "destination", "/app/chat.send")
	f.Body = []byte(`{"roomId":"` + room + `","message":"` + text + `"}`)
	if err := c.Send(f); err != nil {
		t.Fatal(err)
	}
}

// sameList reports whether v, a decoded JSON list, holds exactly want in
// order (an absent list is empty).
func sameList(v any, want ...string) bool {
	raw, _ := json.Marshal(v)
	var got []string
	_ = json.Unmarshal(raw, &got)
	return strings.Join(got, ",") == strings.Join(want, ",")
}
