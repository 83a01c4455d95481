package server

import (
	"net"
	"net/http"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
)

// TestReplicaWithDeadFirstAMQPAddress: a replica whose first listed AMQP
// node is down (a closed port), and which dials it first, starts and
// serves rooms: one created over REST is seen by another replica, a
// subscriber with history gets what is sent, and the owner deletes it
// (stream and all).
func TestReplicaWithDeadFirstAMQPAddress(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	cfg.Broker.AMQPAddresses = []string{dead, rabbit.AMQPAddr()}
	amqpStart = func(int) int { return 0 } // the dead node first
	t.Cleanup(func() { amqpStart = nil })
	a := start(t, cfg)
	amqpStart = nil
	b := start(t, testConfig(t, config.BrokerRabbitMQ))

	status, body, err := createAs(a, unique(t), basicAuth("ann", ""))
	if status != http.StatusCreated || err != nil {
		t.Fatalf("create: %d %v %v", status, body, err)
	}
	room := body["id"].(string)
	waitRoom(t, b, room)
	sender := connect(t, b, "bob")
	sendNumbered(t, sender, room, "d", 1, 3)
	// x-history needs the room's feed synced on a marker published over
	// AMQP, through the live node
	sub := connect(t, a, "carol")
	if err := sub.Subscribe("s", "/topic/room."+room, "x-history", "2"); err != nil {
		t.Fatal(err)
	}
	expectTexts(t, readRoom(t, sub, "s", 2), "d", 2, 3)
	sendNumbered(t, sender, room, "d", 4, 1)
	expectTexts(t, readRoom(t, sub, "s", 1), "d", 4, 4)

	if got := deleteAs(t, a, room, basicAuth("ann", "")); got != http.StatusNoContent {
		t.Fatalf("delete: %d", got)
	}
	if err := rabbittest.WaitFor(10*time.Second, func() (bool, error) {
		queues, err := rabbit.Queues()
		if _, ok := rabbittest.RoomStream(queues, "/", room); ok {
			return false, err
		}
		return err == nil, err
	}); err != nil {
		t.Fatalf("the room's stream outlived it: %v", err)
	}
	waitGone(t, b, room)
}

// waitGone waits until replica r no longer knows room id.
func waitGone(t testing.TB, r *replica, id string) {
	t.Helper()
	if err := rabbittest.WaitFor(5*time.Second, func() (bool, error) {
		_, ok := r.srv.store.Get(id)
		return !ok, nil
	}); err != nil {
		t.Fatalf("room %s still on replica %s: %v", id, r.addr, err)
	}
}
