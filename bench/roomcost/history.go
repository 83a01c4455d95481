package main

import (
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// historyResult is the cost of reading one room's last messages (its
// x-history) from a partition stream shared with other rooms, against
// reading them from the room's own stream.
type historyResult struct {
	Others, Want int
	// Partition is the time to read the whole partition stream from its
	// first offset, keeping the room's last Want messages (RabbitMQ
	// 3.10 cannot filter on the server, and without an index the
	// messages may be anywhere).
	Partition time.Duration
	// Own is the time to read the room's own stream of Want messages.
	Own time.Duration
	// Scanned is how many messages the partition read went through.
	Scanned int
	// Found is how many of the room's messages it kept (Want when right).
	Found int
}

// String renders h as the lines the tool prints.
func (h historyResult) String() string {
	rate := 0.0
	if h.Partition > 0 {
		rate = float64(h.Scanned) / h.Partition.Seconds()
	}
	return fmt.Sprintf("last %d msgs of one room: partition stream with %d msgs of other rooms: %v (scanned %d, kept %d, %.0f msgs/s); own stream: %v",
		h.Want, h.Others, h.Partition.Round(time.Millisecond), h.Scanned, h.Found, rate, h.Own.Round(time.Millisecond))
}

// measureHistory fills a partition stream with others messages of other
// rooms and want messages of room "target" spread evenly among them, and
// a stream of the target's want messages alone; then it times reading
// the target's messages from each.
func measureHistory(conn *amqp.Connection, others, want int) (historyResult, error) {
	h := historyResult{Others: others, Want: want}
	ch, err := conn.Channel()
	if err != nil {
		return h, err
	}
	defer ch.Close()
	args := amqp.Table{"x-queue-type": "stream", "x-max-age": roomMaxAge}
	for _, q := range []string{"hist.partition", "hist.own"} {
		if _, err := ch.QueueDeclare(q, true, false, false, false, args); err != nil {
			return h, err
		}
	}
	total := others + want
	every := total / want
	targetAt := func(i int) bool { return i%every == every-1 && i/every < want }
	// publish's routes are per room; here every message is a "room"
	// of its own position
	if _, err := publish(conn, total, 1, func(int) (string, string) { return "", "hist.partition" }, func(i int) string {
		if targetAt(i) {
			return "target"
		}
		return roomID(i % 5000)
	}); err != nil {
		return h, fmt.Errorf("fill partition: %w", err)
	}
	if _, err := publish(conn, want, 1, func(int) (string, string) { return "", "hist.own" }, func(int) string { return "target" }); err != nil {
		return h, fmt.Errorf("fill own stream: %w", err)
	}
	t := time.Now()
	h.Scanned, h.Found, err = readRoom(conn, "hist.partition", total, "target", want)
	if err != nil {
		return h, err
	}
	h.Partition = time.Since(t)
	t = time.Now()
	if _, _, err := readRoom(conn, "hist.own", want, "target", want); err != nil {
		return h, err
	}
	h.Own = time.Since(t)
	return h, nil
}

// readRoom consumes stream from its first offset until it has seen total
// messages, keeping the last keep messages of room; it returns how many
// it scanned and kept.
func readRoom(conn *amqp.Connection, stream string, total int, room string, keep int) (scanned, kept int, err error) {
	ch, err := conn.Channel()
	if err != nil {
		return 0, 0, err
	}
	defer ch.Close()
	if err := ch.Qos(1000, 0, false); err != nil {
		return 0, 0, err
	}
	deliveries, err := ch.Consume(stream, "", false, false, false, false, amqp.Table{"x-stream-offset": "first"})
	if err != nil {
		return 0, 0, err
	}
	last := make([][]byte, 0, keep) // the room's newest bodies, oldest first
	timeout := time.NewTimer(2 * time.Minute)
	defer timeout.Stop()
	for scanned < total {
		select {
		case d, ok := <-deliveries:
			if !ok {
				return scanned, len(last), fmt.Errorf("read %s: consumer closed after %d", stream, scanned)
			}
			scanned++
			if d.Headers[roomHeader] == room {
				if len(last) == keep {
					last = append(last[:0], last[1:]...)
				}
				last = append(last, d.Body)
			}
			if scanned%500 == 0 || scanned == total {
				if err := d.Ack(true); err != nil {
					return scanned, len(last), err
				}
			}
		case <-timeout.C:
			return scanned, len(last), fmt.Errorf("read %s: timed out after %d of %d", stream, scanned, total)
		}
	}
	return scanned, len(last), nil
}
