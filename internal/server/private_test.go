package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// rest sends a JSON request to r's API as user (HTTP Basic; "" for none)
// and returns the status and the decoded answer.
func rest(t testing.TB, r *replica, method, path, user string, body any) (int, map[string]any) {
	t.Helper()
	auth := ""
	if user != "" {
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"))
	}
	return restAs(t, r, method, path, auth, body)
}

// restAs sends a JSON request to r's API with the Authorization header
// auth ("" for none) and returns the status and the decoded answer.
func restAs(t testing.TB, r *replica, method, path, auth string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, r.HTTP()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw := new(bytes.Buffer)
	_, _ = raw.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusNoContent && json.Unmarshal(raw.Bytes(), &out) != nil {
		t.Fatalf("%s %s: answer %q is not a JSON object", method, path, raw)
	}
	return resp.StatusCode, out
}

// errorsQueue connects user to r with a /user/queue/errors subscription.
func errorsQueue(t testing.TB, r *replica, user string) *stomptest.Client {
	t.Helper()
	c := connect(t, r, user)
	if err := c.Subscribe("errors", "/user/queue/errors"); err != nil {
		t.Fatal(err)
	}
	return c
}

// expectUserError reads the next frame of c and checks it is a
// /user/queue/errors message with code and text containing want.
func expectUserError(t testing.TB, c *stomptest.Client, code, want string) {
	t.Helper()
	f, err := c.Expect(stomp.MESSAGE, 5*time.Second)
	if err != nil {
		t.Fatalf("waiting for a %s error: %v", code, err)
	}
	var e struct{ Code, Message string }
	if f.Header("destination") != "/user/queue/errors" || json.Unmarshal(f.Body, &e) != nil || e.Code != code || !strings.Contains(e.Message, want) {
		t.Fatalf("got %s on %s: %s; want %s error containing %q", f.Command, f.Header("destination"), f.Body, code, want)
	}
}

// TestPrivateRooms: a private room made through REST by its owner admits
// its owner and members only. Non-members are refused on SUBSCRIBE
// (history and live, through aliases too), SEND, history and presence,
// over STOMP and REST, while members go on unaffected; changing the
// members through REST takes effect on live subscriptions. With RabbitMQ
// the room is made on one replica and used on another.
func TestPrivateRooms(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		a := start(t, cfg)
		b := a
		if cfg.Broker.Mode == config.BrokerRabbitMQ {
			b = start(t, cfg)
		}
		announcements := connect(t, b, "watcher")
		if err := announcements.Subscribe("rooms", "/topic/rooms"); err != nil {
			t.Fatal(err)
		}
		name := unique(t)
		status, room := rest(t, a, "POST", "/api/rooms", "ann", map[string]any{"name": name, "private": true, "members": []string{"bob"}})
		if status != http.StatusCreated || room["private"] != true || room["createdBy"] != "ann" {
			t.Fatalf("create private room: %d %v", status, room)
		}
		id := room["id"].(string)
		public := createRoom(t, a, name+"-open")
		waitRoom(t, b, id)
		waitRoom(t, b, public)
		// only the public room was announced on /topic/rooms
		f, err := announcements.Expect(stomp.MESSAGE, 5*time.Second)
		if err != nil || !strings.Contains(string(f.Body), public) || strings.Contains(string(f.Body), id) {
			t.Fatalf("first announcement %v %q, want the public room %s", err, f.Body, public)
		}

		// the member follows the room on the other replica
		bob := errorsQueue(t, b, "bob")
		if err := bob.Subscribe("room", "/topic/room."+id); err != nil {
			t.Fatalf("member subscribe: %v", err)
		}
		ann := errorsQueue(t, a, "ann")
		sendNumbered(t, ann, id, "m", 1, 3)
		expectTexts(t, readRoom(t, bob, "room", 3), "m", 1, 3)

		// SUBSCRIBE by a non-member: live, with history, through the
		// seed alias: ERROR forbidden and close, nothing delivered
		for _, kv := range [][]string{
			{"/topic/room." + id},
			{"/topic/room." + id, "x-history", "10"},
			{"/sub/chat/room/" + id, "x-resume-after", "0"},
		} {
			mallory := connect(t, b, "mallory")
			f := stomp.New(stomp.SUBSCRIBE, append([]string{"id", "s", "destination", kv[0], "receipt", "r"}, kv[1:]...)...)
			if err := mallory.Send(f); err != nil {
				t.Fatal(err)
			}
			expectError(t, mallory, "forbidden")
		}

		// SEND by a non-member: refused on /user/queue/errors, never
		// delivered, the session goes on
		mallory := errorsQueue(t, b, "mallory")
		bad := stomp.New(stomp.SEND, "destination", "/app/chat.send")
		bad.Body = []byte(fmt.Sprintf(`{"roomId":%q,"message":"intruder"}`, id))
		if err := mallory.Send(bad); err != nil {
			t.Fatal(err)
		}
		expectUserError(t, mallory, "forbidden", "private")
		sendNumbered(t, ann, id, "m", 4, 1)
		expectTexts(t, readRoom(t, bob, "room", 1), "m", 4, 4) // not "intruder"

		// presence and the room list over STOMP
		if err := mallory.Subscribe("who", "/app/rooms/"+id+"/members"); err != nil {
			t.Fatal(err)
		}
		expectUserError(t, mallory, "forbidden", "private")
		if err := bob.Subscribe("who", "/app/rooms/"+id+"/members"); err != nil {
			t.Fatal(err)
		}
		f, err = bob.Expect(stomp.MESSAGE, 5*time.Second)
		if err != nil || f.Header("subscription") != "who" || !strings.Contains(string(f.Body), `"roomId":"`+id+`"`) {
			t.Fatalf("member's presence answer: %v %q", err, f.Body)
		}
		for user, c := range map[string]*stomptest.Client{"mallory": mallory, "bob": bob} {
			ids := stompRoomIDs(t, c, "list-"+user)
			if got := contains(ids, id); got != (user == "bob") {
				t.Fatalf("%s's room list %v: private room listed = %v", user, ids, got)
			}
		}

		// REST: anonymous 401, non-member 403, member 200
		for _, path := range []string{"", "/messages", "/members", "/access"} {
			for user, want := range map[string]int{"": 401, "mallory": 403, "bob": 200, "ann": 200} {
				if got, body := rest(t, b, "GET", "/api/rooms/"+id+path, user, nil); got != want {
					t.Errorf("GET %s as %q: %d %v, want %d", path, user, got, body, want)
				}
			}
		}
		_, hist := rest(t, b, "GET", "/api/rooms/"+id+"/messages", "bob", nil)
		if msgs, _ := hist["messages"].([]any); len(msgs) != 4 {
			t.Fatalf("member's history: %v", hist)
		}
		for user, want := range map[string]bool{"mallory": false, "bob": true} {
			if got := contains(restRoomIDs(t, b, user), id); got != want {
				t.Errorf("REST list as %s lists the private room: %v", user, got)
			}
		}
		if status, _ := rest(t, b, "PUT", "/api/rooms/"+id+"/access", "bob", map[string]any{"members": []string{"bob", "mallory"}}); status != http.StatusForbidden {
			t.Fatalf("a member changed the members: %d", status)
		}

		// the owner replaces bob by carol: bob's live subscription ends
		// at the next message, carol gets in
		status, access := rest(t, a, "PUT", "/api/rooms/"+id+"/access", "ann", map[string]any{"members": []string{"carol"}})
		if status != http.StatusOK || fmt.Sprint(access["members"]) != "[carol]" {
			t.Fatalf("owner sets members: %d %v", status, access)
		}
		if err := rabbittest.WaitFor(5*time.Second, func() (bool, error) { r, _ := b.srv.store.Get(id); return !r.Allows("bob"), nil }); err != nil {
			t.Fatalf("new members never reached replica B: %v", err)
		}
		sendNumbered(t, ann, id, "m", 5, 1)
		expectUserError(t, bob, "forbidden", "no longer a member")
		carol := connect(t, b, "carol")
		if err := carol.Subscribe("room", "/topic/room."+id, "x-history", "2"); err != nil {
			t.Fatalf("new member subscribe: %v", err)
		}
		expectTexts(t, readRoom(t, carol, "room", 2), "m", 4, 5)
		// bob's session goes on in the public room
		if err := bob.Subscribe("pub", "/topic/room."+public); err != nil {
			t.Fatal(err)
		}
		sendNumbered(t, ann, public, "p", 1, 1)
		expectTexts(t, readRoom(t, bob, "pub", 1), "p", 1, 1)
	})
}
