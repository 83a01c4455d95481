package server

import (
	"errors"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"chatrelay/internal/config"
)

// TestSmallRoomHasNoStream: with the default rooms.archive.resident, a
// room's first messages, sent through one replica with receipts, reach a
// subscriber on another replica live, in order, at offsets 0, 1, 2, ...;
// x-history there gives the newest of them; and RabbitMQ holds no stream
// for the room (a passive declaration of its stream is refused).
func TestSmallRoomHasNoStream(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	if !cfg.Rooms.Archive.Resident {
		t.Fatal("rooms.archive.resident is off by default")
	}
	a, b := start(t, cfg), start(t, cfg)
	room := createRoom(t, a, unique(t))
	waitRoom(t, b, room)
	live := connect(t, b, "bob")
	if err := live.Subscribe("s", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	sender := connect(t, a, "ann")
	sendNumbered(t, sender, room, "dm", 1, 5)
	got := readRoom(t, live, "s", 5)
	expectTexts(t, got, "dm", 1, 5)
	for i, m := range got {
		if m.Offset != int64(i) {
			t.Fatalf("message %d at offset %d, want %d", i+1, m.Offset, i)
		}
	}
	late := connect(t, b, "carol")
	if err := late.Subscribe("h", "/topic/room."+room, "x-history", "3"); err != nil {
		t.Fatal(err)
	}
	expectTexts(t, readRoom(t, late, "h", 3), "dm", 3, 5)

	r, ok := b.srv.store.Get(room)
	if !ok || r.Stream == "" {
		t.Fatalf("room %s: %+v, %v", room, r, ok)
	}
	rabbit.WithChannel(t, func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclarePassive(r.Stream, true, false, false, false, nil)
		var ae *amqp.Error
		if !errors.As(err, &ae) || ae.Code != amqp.NotFound {
			t.Errorf("stream %s of a room of 5 messages: passive declare gave %v, want NOT_FOUND", r.Stream, err)
		}
		return nil
	})
}
