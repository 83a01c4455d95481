package main

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Stream arguments as rabbitstore declares a room's stream with the
// default configuration (rooms.history: max_age 7D, max_bytes 100 MiB;
// x-initial-cluster-size unset on a single node), plus the room's name
// and id arguments.
const (
	roomMaxAge   = "7D"
	roomMaxBytes = int64(100 << 20)
	// partitions is the number of partition streams of candidate
	// "partition streams".
	partitions = 16
	// msgsPerRoom is how many messages the "with messages" candidates
	// publish to each room.
	msgsPerRoom = 5
	// roomHeader names the header carrying a message's room in a
	// partition stream.
	roomHeader = "x-room"
)

// body is a chat message of about the size rooms carry (123 bytes).
var body = []byte(`{"id":"01J9ZK3T8Q6W2M4N5P7R9S0V1X","user":"alice","text":"hello, is anyone here? see you at 5","at":"2026-12-06T22:30:00Z"}`)

// candidate is one way a room could map onto RabbitMQ objects.
type candidate struct {
	name string
	// objects is how many objects stand for n rooms.
	objects func(n int) int
	// setup runs once before the timed creations (not timed).
	setup func(ch *amqp.Channel) error
	// create creates object i; each call is one timed latency sample.
	create func(ch *amqp.Channel, i int) error
	// msgs is how many messages each room gets after the creations.
	msgs int
	// route is where room i's messages go (exchange, routing key).
	route func(i int) (exchange, key string)
}

// roomID is the id of room i.
func roomID(i int) string { return fmt.Sprintf("r%06d", i) }

// streamArgs are the arguments rabbitstore gives room i's stream.
func streamArgs(i int) amqp.Table {
	return amqp.Table{
		"x-queue-type":          "stream",
		"x-max-age":             roomMaxAge,
		"x-max-length-bytes":    roomMaxBytes,
		"x-chatrelay-room-name": "Room " + roomID(i),
		"x-chatrelay-room-id":   roomID(i),
	}
}

// one is the objects function of candidates with an object per room.
func one(n int) int { return n }

// toQueue routes room i's messages straight to its queue q(i).
func toQueue(q func(int) string) func(int) (string, string) {
	return func(i int) (string, string) { return "", q(i) }
}

// declareQueue returns a create function declaring durable queue q(i)
// with args(i).
func declareQueue(q func(int) string, args func(int) amqp.Table) func(*amqp.Channel, int) error {
	return func(ch *amqp.Channel, i int) error {
		_, err := ch.QueueDeclare(q(i), true, false, false, false, args(i))
		return err
	}
}

// candidates returns every candidate, in the order the tool runs them.
func candidates() []candidate {
	roomStream := func(i int) string { return "room.room-" + roomID(i) + "." + roomID(i) }
	roomQueue := func(i int) string { return "q." + roomID(i) }
	// as rabbitstore: declare the stream, bind it to amq.topic
	streamCreate := func(ch *amqp.Channel, i int) error {
		if _, err := ch.QueueDeclare(roomStream(i), true, false, false, false, streamArgs(i)); err != nil {
			return err
		}
		return ch.QueueBind(roomStream(i), "room."+roomID(i), "amq.topic", false, nil)
	}
	classic := func(version int) func(int) amqp.Table {
		return func(int) amqp.Table {
			if version == 0 {
				return nil
			}
			return amqp.Table{"x-queue-version": int64(version)}
		}
	}
	quorum := func(int) amqp.Table { return amqp.Table{"x-queue-type": "quorum"} }
	partition := func(p int) string { return fmt.Sprintf("part.%02d", p) }
	return []candidate{
		{name: "stream per room, idle (as rabbitstore)", objects: one, create: streamCreate},
		{name: "stream per room, 5 msgs", objects: one, create: streamCreate, msgs: msgsPerRoom, route: toQueue(roomStream)},
		{name: "classic v1 queue, empty", objects: one, create: declareQueue(roomQueue, classic(0))},
		{name: "classic v1 queue, 5 msgs", objects: one, create: declareQueue(roomQueue, classic(0)), msgs: msgsPerRoom, route: toQueue(roomQueue)},
		{name: "classic v2 queue, empty", objects: one, create: declareQueue(roomQueue, classic(2))},
		{name: "classic v2 queue, 5 msgs", objects: one, create: declareQueue(roomQueue, classic(2)), msgs: msgsPerRoom, route: toQueue(roomQueue)},
		{name: "quorum queue, idle", objects: one, create: declareQueue(roomQueue, quorum)},
		{
			name: "binding per room to one queue", objects: one,
			setup: func(ch *amqp.Channel) error {
				if err := ch.ExchangeDeclare("rooms", "topic", true, false, false, false, nil); err != nil {
					return err
				}
				_, err := ch.QueueDeclare("replica-1", true, false, false, false, amqp.Table{"x-queue-version": int64(2)})
				return err
			},
			create: func(ch *amqp.Channel, i int) error {
				return ch.QueueBind("replica-1", "room."+roomID(i), "rooms", false, nil)
			},
		},
		{
			name: "topic exchange per room", objects: one,
			create: func(ch *amqp.Channel, i int) error {
				return ch.ExchangeDeclare("room."+roomID(i), "topic", true, false, false, false, nil)
			},
		},
		{
			name:    "16 partition streams, 5 msgs per room",
			objects: func(int) int { return partitions },
			create: func(ch *amqp.Channel, p int) error {
				_, err := ch.QueueDeclare(partition(p), true, false, false, false, amqp.Table{
					"x-queue-type": "stream", "x-max-age": roomMaxAge,
				})
				return err
			},
			msgs: msgsPerRoom,
			route: func(i int) (string, string) {
				return "", partition(roomOf(roomID(i), partitions))
			},
		},
	}
}

// run creates c's objects for n rooms on conn and publishes its
// messages; it returns the result without snapshots. It stops creating
// objects after limit (the result says so).
func (c candidate) run(conn *amqp.Connection, n int, limit time.Duration) (Result, error) {
	r := Result{Candidate: c.name, Rooms: n}
	ch, err := conn.Channel()
	if err != nil {
		return r, err
	}
	defer ch.Close()
	if c.setup != nil {
		if err := c.setup(ch); err != nil {
			return r, fmt.Errorf("setup: %w", err)
		}
	}
	start := time.Now()
	objects := c.objects(n)
	r.Latencies = make([]time.Duration, 0, objects)
	for i := 0; i < objects; i++ {
		if time.Since(start) > limit {
			r.Err = fmt.Sprintf("time limit %v after %d objects", limit, i)
			break
		}
		t := time.Now()
		if err := c.create(ch, i); err != nil {
			r.Err = fmt.Sprintf("object %d: %v", i, err)
			if objects == n {
				r.Rooms = r.Objects
			}
			r.Took = time.Since(start)
			return r, nil
		}
		r.Latencies = append(r.Latencies, time.Since(t))
		r.Objects++
	}
	if r.Objects < objects && objects == n {
		r.Rooms = r.Objects // the rooms that were created
	}
	if c.msgs > 0 {
		sent, err := publish(conn, r.Rooms, c.msgs, c.route, roomID)
		r.Messages = sent
		if err != nil {
			r.Err = "publish: " + err.Error()
		}
	}
	r.Took = time.Since(start)
	return r, nil
}

// publish sends msgs messages to each of n rooms (route says where room
// i's go, room its roomHeader), persistent and confirmed, waiting for
// the confirms of every batch of 1,000; it returns how many were
// confirmed.
func publish(conn *amqp.Connection, n, msgs int, route func(int) (string, string), room func(int) string) (int, error) {
	ch, err := conn.Channel()
	if err != nil {
		return 0, err
	}
	defer ch.Close()
	if err := ch.Confirm(false); err != nil {
		return 0, err
	}
	ctx := context.Background()
	var pending []*amqp.DeferredConfirmation
	sent := 0
	flush := func() error {
		for _, dc := range pending {
			ok, err := dc.WaitContext(ctx)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("message nacked")
			}
			sent++
		}
		pending = pending[:0]
		return nil
	}
	for k := 0; k < msgs; k++ {
		for i := 0; i < n; i++ {
			ex, key := route(i)
			dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, ex, key, false, false, amqp.Publishing{
				Headers:      amqp.Table{roomHeader: room(i)},
				DeliveryMode: amqp.Persistent,
				ContentType:  "application/json",
				Body:         body,
			})
			if err != nil {
				return sent, err
			}
			pending = append(pending, dc)
			if len(pending) == 1000 {
				if err := flush(); err != nil {
					return sent, err
				}
			}
		}
	}
	return sent, flush()
}
