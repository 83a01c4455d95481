package rabbitstore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/relay"
	"chatrelay/internal/rooms"
)

// BenchmarkRegistryReplay measures how fast a starting replica replays
// the registry: a stream of CHATRELAY_BENCH_REPLAY_ROOMS created rooms
// (default 20,000), half with three posted messages, as scenario (d)
// leaves it; each iteration is one New, ready once the replay is synced.
// It reports events applied per second.
func BenchmarkRegistryReplay(b *testing.B) {
	n := rabbittest.Require(b, node)
	roomsN := 20000
	if v, err := strconv.Atoi(os.Getenv("CHATRELAY_BENCH_REPLAY_ROOMS")); err == nil && v > 0 {
		roomsN = v
	}
	stream := "bench.registry." + newNonce()[:8]
	events := fillRegistry(b, n, stream, roomsN)
	b.Cleanup(func() {
		n.WithChannel(b, func(ch *amqp.Channel) error { _, err := ch.QueueDelete(stream, false, false, false); return err })
	})
	r := relay.New(relay.Config{Addresses: []string{n.STOMPAddr()}, Login: "guest", Passcode: "guest", Logger: testLogger(b)})
	r.Start()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.Close(ctx)
	})
	b.ResetTimer()
	for range b.N {
		began := time.Now()
		s, err := New(context.Background(), Options{Relay: r, AMQPURLs: []string{AMQPURL("127.0.0.1", n.AMQPPort, "guest", "guest", "/")},
			registryStream: stream, ReadyTimeout: 10 * time.Minute, Resident: true})
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(began)
		if got := s.reg.taken(); got < events {
			b.Fatalf("replayed %d events, want %d", got, events)
		}
		s.Close()
		b.ReportMetric(float64(events)/took.Seconds(), "events/s")
	}
}

// fillRegistry publishes the events of roomsN created rooms, every second
// one with three posted messages, into a new registry stream, and returns
// how many.
func fillRegistry(b testing.TB, n *rabbittest.Node, stream string, roomsN int) int {
	b.Helper()
	events := 0
	n.WithChannel(b, func(ch *amqp.Channel) error {
		if _, err := ch.QueueDeclare(stream, true, false, false, false, streamArgs("", 0, 0)); err != nil {
			return err
		}
		if err := ch.Confirm(false); err != nil {
			return err
		}
		confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 4096))
		pending := 0
		publish := func(ev event) error {
			body, _ := json.Marshal(ev)
			if err := ch.Publish("", stream, false, false, amqp.Publishing{Body: body, DeliveryMode: amqp.Persistent}); err != nil {
				return err
			}
			events++
			if pending++; pending == 2000 {
				for ; pending > 0; pending-- {
					if c := <-confirms; !c.Ack {
						return fmt.Errorf("publish nacked")
					}
				}
			}
			return nil
		}
		now := time.Now().UTC()
		for i := range roomsN {
			id := fmt.Sprintf("r%07d", i)
			if err := publish(event{Event: eventCreated, Room: rooms.Room{ID: id, Name: "room " + id, CreatedBy: "bench", CreatedAt: now},
				At: now, ID: newNonce(), Stream: "room." + id, Lazy: true}); err != nil {
				return err
			}
			if i%2 == 1 {
				continue
			}
			for j := range 3 {
				msg := fmt.Sprintf(`{"id":"%s-%d","roomId":%q,"type":"TALK","sender":"bench","message":"message %d","sentAt":%q}`,
					id, j, id, j, now.Format(time.RFC3339Nano))
				if err := publish(event{Event: eventPosted, Room: rooms.Room{ID: id}, At: now, ID: newNonce(),
					Message: fmt.Sprintf("%s-%d", id, j), Body: json.RawMessage(msg), Max: 100, MaxBytes: 64 << 10, From: "bench"}); err != nil {
					return err
				}
			}
		}
		for ; pending > 0; pending-- {
			<-confirms
		}
		return nil
	})
	return events
}
