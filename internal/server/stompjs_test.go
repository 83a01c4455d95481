package server

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/jsclient"
)

// roomMessage is the JSON the chat handler publishes to a room topic.
type roomMessage struct {
	ID, RoomID, Type, Sender, Message, SentAt string
}

func decodeRoomMessage(t testing.TB, e jsclient.Event) roomMessage {
	t.Helper()
	var m roomMessage
	if err := json.Unmarshal([]byte(e.Body), &m); err != nil {
		t.Fatalf("room message %q: %v", e.Body, err)
	}
	return m
}

// jsClient starts a real @stomp/stompjs client connected to r as login.
func jsClient(t *testing.T, r *replica, login string) *jsclient.Client {
	t.Helper()
	c := jsclient.NewT(t)
	c.Timeout = 10 * time.Second
	if _, err := c.Connect(r.URL(), login, "", nil); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStompJSAcrossReplicas: a stompjs client on replica A subscribed to a
// room receives what a stompjs client on replica B sent with
// /app/chat.send, stamped with B's login whatever B wrote as sender.
func TestStompJSAcrossReplicas(t *testing.T) {
	a := start(t, testConfig(t, config.BrokerRabbitMQ))
	b := start(t, testConfig(t, config.BrokerRabbitMQ))
	room := createRoom(t, a, "one")
	waitRoom(t, b, room)
	alice := jsClient(t, a, "alice")
	if err := alice.Subscribe("s1", "/topic/room."+room, map[string]string{"receipt": "r-s1"}); err != nil {
		t.Fatal(err)
	}
	bob := jsClient(t, b, "bob")
	body := fmt.Sprintf(`{"roomId":%q,"type":"TALK","sender":"mallory","message":"hi from B"}`, room)
	if err := bob.Send("/app/chat.send", body, map[string]string{"receipt": "r-send"}); err != nil {
		t.Fatal(err)
	}
	e, err := alice.WaitMessage(10*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := decodeRoomMessage(t, e)
	if m.Sender != "bob" || m.Message != "hi from B" || m.RoomID != room || m.Type != "TALK" || m.ID == "" || m.SentAt == "" {
		t.Fatalf("alice got %+v", m)
	}
	if e.Destination != "/topic/room."+room || e.Subscription != "s1" {
		t.Fatalf("destination %q subscription %q", e.Destination, e.Subscription)
	}
}

// TestSeedClientsUnchanged drives the seed articles' client code paths:
// /sub/chat/room/{id}, /pub/chat/message and /queue/chat-rooms/{id} with
// two subscribers, across two replicas. Every subscriber gets every
// message (the /queue alias is the room's broadcast topic, not a
// competing-consumer queue).
func TestSeedClientsUnchanged(t *testing.T) {
	a := start(t, testConfig(t, config.BrokerRabbitMQ))
	b := start(t, testConfig(t, config.BrokerRabbitMQ))
	room := createRoom(t, b, "seven")
	waitRoom(t, a, room)
	type sub struct {
		c    *jsclient.Client
		dest string
	}
	subs := []sub{
		{jsClient(t, a, "sub-a"), "/sub/chat/room/" + room},
		{jsClient(t, b, "sub-b"), "/sub/chat/room/" + room},
		{jsClient(t, a, "queue-a"), "/queue/chat-rooms/" + room},
		{jsClient(t, b, "queue-b"), "/queue/chat-rooms/" + room},
	}
	for i, s := range subs {
		if err := s.c.Subscribe("sub-0", s.dest, map[string]string{"receipt": fmt.Sprint("r", i)}); err != nil {
			t.Fatal(err)
		}
	}
	senders := []*jsclient.Client{jsClient(t, b, "seed-b"), jsClient(t, a, "seed-a")}
	bodies := []string{
		`{"type":"ENTER","roomId":"` + room + `","sender":"x","message":""}`,
		`{"type":"TALK","roomId":"` + room + `","sender":"x","message":"hello"}`,
	}
	for i, s := range senders {
		if err := s.Send("/pub/chat/message", bodies[i], map[string]string{"receipt": "seed"}); err != nil {
			t.Fatal(err)
		}
		for _, sb := range subs {
			e, err := sb.c.WaitMessage(10*time.Second, nil)
			if err != nil {
				t.Fatalf("%s: %v", sb.dest, err)
			}
			m := decodeRoomMessage(t, e)
			wantType := []string{"ENTER", "TALK"}[i]
			wantSender := []string{"seed-b", "seed-a"}[i]
			if m.Type != wantType || m.Sender != wantSender || m.RoomID != room {
				t.Fatalf("%s got %+v, want %s from %s", sb.dest, m, wantType, wantSender)
			}
			if e.Destination != sb.dest {
				t.Errorf("%s: MESSAGE destination %q, want what the client subscribed to", sb.dest, e.Destination)
			}
		}
	}
}
