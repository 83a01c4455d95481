package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/roomlimit"
	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// connectAnonymous dials r and connects without a login, as the Spring
// tutorials' Stomp.over(sock).connect({}, ...) does.
func connectAnonymous(t testing.TB, r *replica) (*stomptest.Client, string) {
	t.Helper()
	c := dial(t, r)
	f, err := c.Connect()
	if err != nil {
		t.Fatal(err)
	}
	return c, f.Header("user-name")
}

// seedSend sends a tutorial chat message to /pub/chat/message; with
// receipt (for a client not subscribed to the room) it waits for the
// RECEIPT.
func seedSend(t testing.TB, c *stomptest.Client, receipt bool, typ, room, sender, text string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"type": typ, "roomId": room, "sender": sender, "message": text})
	f := stomp.New(stomp.SEND, "destination", "/pub/chat/message", "content-type", "application/json")
	if receipt {
		f.Headers = f.Headers.Set("receipt", "seed")
	}
	f.Body = body
	if err := c.Send(f); err != nil {
		t.Fatal(err)
	}
	if !receipt {
		return
	}
	if _, err := c.Expect(stomp.RECEIPT, 20*time.Second); err != nil {
		t.Fatalf("%s from %s: %v", typ, sender, err)
	}
}

// nextRoomMessage reads the next room message on subscription sub of c.
func nextRoomMessage(t testing.TB, c *stomptest.Client, sub string) rooms.Message {
	t.Helper()
	return readRoom(t, c, sub, 1)[0]
}

// TestTutorialClientPresence: a session without a login is listed under
// the name its ENTER gives, the room gets that one ENTER (with the Korean
// text) and never one for its generated name, its TALKs carry the name,
// and its LEAVE comes when it disconnects. A signed-in session's own ENTER
// adds nothing to the server's.
func TestTutorialClientPresence(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	cfg.Rooms.Presence.Messages = true
	cfg.Rooms.Presence.LeaveGrace = 100 * time.Millisecond
	r := start(t, cfg)
	room := createRoom(t, r, unique(t))
	watcher := connect(t, r, "watcher")
	if err := watcher.Subscribe("w", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	if m := nextRoomMessage(t, watcher, "w"); m.Type != rooms.Enter || m.Sender != "watcher" || m.Message != "watcher님이 입장하셨습니다." {
		t.Fatalf("the watcher's own ENTER: %+v", m)
	}

	anon, generated := connectAnonymous(t, r)
	if !strings.HasPrefix(generated, "anon-") {
		t.Fatalf("user-name %q", generated)
	}
	if err := anon.Subscribe("s", "/sub/chat/room/"+room); err != nil {
		t.Fatal(err)
	}
	// listed, unannounced, under the generated name until its ENTER
	if err := rabbittest.WaitFor(2*time.Second, func() (bool, error) { return contains(members(t, r, room), generated), nil }); err != nil {
		t.Fatalf("%s not listed: %v", generated, members(t, r, room))
	}
	seedSend(t, anon, false, "ENTER", room, "철수", "")
	if m := nextRoomMessage(t, watcher, "w"); m.Type != rooms.Enter || m.Sender != "철수" || m.Message != "철수님이 입장하셨습니다." {
		t.Fatalf("after the client's ENTER the room got %+v, want the one ENTER of 철수", m)
	}
	if err := rabbittest.WaitFor(2*time.Second, func() (bool, error) {
		ms := members(t, r, room)
		return contains(ms, "철수") && !contains(ms, generated), nil
	}); err != nil {
		t.Fatalf("members %v, want 철수 instead of %s", members(t, r, room), generated)
	}
	seedSend(t, anon, false, "TALK", room, "철수", "안녕하세요")
	if m := nextRoomMessage(t, watcher, "w"); m.Type != rooms.Talk || m.Sender != "철수" || m.Message != "안녕하세요" {
		t.Fatalf("after the TALK the room got %+v, want the TALK (and no second ENTER)", m)
	}
	if ms := readRoom(t, anon, "s", 2); ms[0].Type != rooms.Enter || ms[0].Sender != "철수" || ms[1].Type != rooms.Talk || ms[1].Sender != "철수" {
		t.Fatalf("the sender's own subscription got %v, want its ENTER and TALK", summary(ms))
	}

	// a signed-in tutorial client: the server announced it at SUBSCRIBE;
	// its own ENTER adds nothing, and the body's sender is ignored
	bob := connect(t, r, "bob")
	if err := bob.Subscribe("s", "/sub/chat/room/"+room); err != nil {
		t.Fatal(err)
	}
	if m := nextRoomMessage(t, watcher, "w"); m.Type != rooms.Enter || m.Sender != "bob" {
		t.Fatalf("bob's SUBSCRIBE: %+v", m)
	}
	seedSend(t, bob, false, "ENTER", room, "mallory", "")
	seedSend(t, bob, false, "TALK", room, "mallory", "hi")
	if m := nextRoomMessage(t, watcher, "w"); m.Type != rooms.Talk || m.Sender != "bob" {
		t.Fatalf("after bob's ENTER and TALK: %+v, want bob's TALK only", m)
	}

	if err := anon.Send(stomp.New(stomp.DISCONNECT, "receipt", "bye")); err != nil {
		t.Fatal(err)
	}
	if m := nextRoomMessage(t, watcher, "w"); m.Type != rooms.Leave || m.Sender != "철수" || m.Message != "철수님이 퇴장하셨습니다." {
		t.Fatalf("after the DISCONNECT: %+v, want the LEAVE of 철수", m)
	}
}

// TestTutorialSystemLanguage: rooms.system_language en writes English
// presence texts.
func TestTutorialSystemLanguage(t *testing.T) {
	cfg := testConfig(t, config.BrokerEmbedded)
	cfg.Rooms.Presence.Messages = true
	cfg.Rooms.SystemLanguage = "en"
	r := start(t, cfg)
	room := createRoom(t, r, unique(t))
	anon, _ := connectAnonymous(t, r)
	if err := anon.Subscribe("s", "/sub/chat/room/"+room); err != nil {
		t.Fatal(err)
	}
	seedSend(t, anon, false, "ENTER", room, "kim", "")
	if m := nextRoomMessage(t, anon, "s"); m.Type != rooms.Enter || m.Message != "kim entered the room." {
		t.Fatalf("got %+v", m)
	}
	// a text the client wrote is kept
	seedSend(t, anon, false, "LEAVE", room, "kim", "bye now")
	if m := nextRoomMessage(t, anon, "s"); m.Type != rooms.Leave || m.Message != "bye now" || m.Sender != "kim" {
		t.Fatalf("got %+v", m)
	}
}

// queueError is a /user/queue/errors message.
type queueError struct {
	Code, Message, Receipt string
}

// TestTutorialRoomsByIDFlood: with the default limits, a client without a
// login that names unknown room ids on tutorial paths creates rooms (and
// their streams) up to rooms.create.address_burst, then is refused with
// the limiter's code and key; its session survives the SEND refusals, a
// refused SUBSCRIBE gets ERROR "room not created", the canonical
// /topic/room.{id} never creates, and the server keeps serving.
func TestTutorialRoomsByIDFlood(t *testing.T) {
	cfg := defaultRabbitConfig(t)
	r := start(t, cfg)
	prefix := strings.ToLower(strings.ReplaceAll(unique(t), ".", "-"))
	c, _ := connectAnonymous(t, r)
	if err := c.Subscribe("errs", "/user/queue/errors"); err != nil {
		t.Fatal(err)
	}
	first := prefix + "-0"
	if err := c.Subscribe("s", "/sub/chat/room/"+first); err != nil {
		t.Fatalf("SUBSCRIBE to an unknown id: %v", err)
	}
	if _, ok := r.srv.store.Get(first); !ok {
		t.Fatalf("SUBSCRIBE did not create room %s", first)
	}
	const flood = 30
	for i := 1; i <= flood; i++ {
		body, _ := json.Marshal(map[string]string{"type": "TALK", "roomId": fmt.Sprintf("%s-%d", prefix, i), "sender": "flood", "message": "x"})
		f := stomp.New(stomp.SEND, "destination", "/pub/chat/message", "receipt", fmt.Sprint("f", i))
		f.Body = body
		if err := c.Send(f); err != nil {
			t.Fatal(err)
		}
	}
	// a handler's refusal comes on /user/queue/errors, before the SEND's
	// RECEIPT
	receipted, refused := 0, map[string]int{}
	for receipted < flood {
		f, err := c.Read(30 * time.Second)
		if err != nil {
			t.Fatalf("after %d receipts and refusals %v: %v", receipted, refused, err)
		}
		switch {
		case f.Command == stomp.RECEIPT:
			receipted++
		case f.Command == stomp.MESSAGE && f.Header("subscription") == "errs":
			var e queueError
			if err := json.Unmarshal(f.Body, &e); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(e.Message, "was not created") {
				t.Fatalf("refusal %+v does not say the room was not created", e)
			}
			key := "?"
			for _, k := range []string{roomlimit.KeyAddressRate, roomlimit.KeyAddressQuota, roomlimit.KeyMaxRooms} {
				if strings.Contains(e.Message, k) {
					key = k
				}
			}
			refused[e.Code+" "+key]++
		default:
			t.Fatalf("unexpected %s %q %s", f.Command, f.Header("message"), f.Body)
		}
	}
	burst := cfg.Rooms.Create.AddressBurst
	if created := flood - sum(refused); created != burst-1 || refused[roomlimit.CodeRate+" "+roomlimit.KeyAddressRate] != flood-(burst-1) {
		t.Fatalf("%d created, refusals %v; want %d created (address_burst %d, one by the SUBSCRIBE) and the rest rate_limited", created, refused, burst-1, burst)
	}
	waitRooms(t, r, burst)
	// the session goes on: its room still works
	seedSend(t, c, false, "TALK", first, "flood", "still here")
	if m := nextRoomMessage(t, c, "s"); m.Message != "still here" || m.Sender != "flood" {
		t.Fatalf("got %+v", m)
	}
	// a refused SUBSCRIBE ends its session with a clear ERROR
	if err := c.Send(stomp.New(stomp.SUBSCRIBE, "id", "more", "destination", "/sub/chat/room/"+prefix+"-more", "receipt", "more")); err != nil {
		t.Fatal(err)
	}
	f, err := c.Read(10 * time.Second)
	if err != nil || f.Command != stomp.ERROR || f.Header("message") != "room not created" || !strings.Contains(string(f.Body), roomlimit.KeyAddressRate) {
		t.Fatalf("refused SUBSCRIBE: %v %v", f, err)
	}
	// the canonical destination never creates
	c2, _ := connectAnonymous(t, r)
	if err := c2.Send(stomp.New(stomp.SUBSCRIBE, "id", "t", "destination", "/topic/room."+prefix+"-canonical")); err != nil {
		t.Fatal(err)
	}
	expectError(t, c2, "room not found")
	// the server keeps serving: another client, the REST aliases
	c3, _ := connectAnonymous(t, r)
	if err := c3.Subscribe("s", "/sub/chat/room/"+first); err != nil {
		t.Fatal(err)
	}
	seedSend(t, c3, false, "TALK", first, "later", "ok")
	if m := nextRoomMessage(t, c3, "s"); m.Message != "ok" {
		t.Fatalf("got %+v", m)
	}
	resp, err := http.Get(r.HTTP() + "/chat/rooms")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []struct{ RoomID, Name string }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || resp.StatusCode != http.StatusOK || len(list) != burst {
		t.Fatalf("GET /chat/rooms: %d %v %+v, want the %d rooms", resp.StatusCode, err, list, burst)
	}
	waitRooms(t, r, burst)
}

// sum adds the counts.
func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestTutorialCreateRoomsOff: with tutorial.create_rooms off (the default
// in static and jwt mode) an unknown id on a tutorial path is refused as
// before.
func TestTutorialCreateRoomsOff(t *testing.T) {
	cfg := testConfig(t, config.BrokerEmbedded)
	cfg.Tutorial.CreateRooms = config.SwitchOff
	r := start(t, cfg)
	c, _ := connectAnonymous(t, r)
	if err := c.Send(stomp.New(stomp.SUBSCRIBE, "id", "s", "destination", "/sub/chat/room/"+strings.ReplaceAll(unique(t), ".", "-"))); err != nil {
		t.Fatal(err)
	}
	expectError(t, c, "room not found")
	if n := len(r.srv.store.List()); n != 0 {
		t.Fatalf("%d rooms", n)
	}
}

// TestTutorialSameIDOnTwoReplicas: clients on two replicas naming the same
// unknown room id at once get one room: both subscriptions work, a message
// sent through either reaches both, and the room's stream survives the
// creation that lost.
func TestTutorialSameIDOnTwoReplicas(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	a, b := start(t, cfg), start(t, cfg)
	id := strings.ReplaceAll(unique(t), ".", "-")
	ca, _ := connectAnonymous(t, a)
	cb, _ := connectAnonymous(t, b)
	errs := make(chan error, 2)
	for _, c := range []*stomptest.Client{ca, cb} {
		// each goroutine owns one client's SUBSCRIBE and its RECEIPT
		go func(c *stomptest.Client) { errs <- c.Subscribe("s", "/sub/chat/room/"+id) }(c)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	waitRoom(t, a, id)
	waitRoom(t, b, id)
	if n := len(filterRooms(a.srv.store.List(), id)); n != 1 {
		t.Fatalf("%d rooms with id %s", n, id)
	}
	seedSend(t, ca, false, "TALK", id, "a", "from A")
	seedSend(t, cb, false, "TALK", id, "b", "from B")
	for name, c := range map[string]*stomptest.Client{"A": ca, "B": cb} {
		ms := readRoom(t, c, "s", 2)
		got := map[string]bool{ms[0].Message: true, ms[1].Message: true}
		if !got["from A"] || !got["from B"] {
			t.Fatalf("replica %s's client got %v", name, summary(ms))
		}
	}
	if h := history(t, a, id, 10); len(h) != 2 {
		t.Fatalf("history %v", summary(h))
	}
}

// filterRooms returns the rooms with id.
func filterRooms(all []rooms.Room, id string) []rooms.Room {
	var out []rooms.Room
	for _, r := range all {
		if r.ID == id {
			out = append(out, r)
		}
	}
	return out
}
