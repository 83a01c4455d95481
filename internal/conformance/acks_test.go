package conformance

import (
	"time"

	"chatrelay/internal/stomp"
)

// ackRows: acknowledgements, prefetch, and what a leaving client gives back.
var ackRows = []row{
	giveBackRow("given-back-on-leave-client", "client", false),
	giveBackRow("given-back-on-leave-client-individual", "client-individual", false),
	giveBackRow("given-back-on-leave-in-transaction", "client-individual", true),
	{
		name:   "given-back-on-unsubscribe",
		queues: []string{"q"},
		run: func(e *env) string {
			c := e.dial()
			if err := c.Subscribe("s", e.queue("q"), "ack", "client"); err != nil {
				return "subscribe: " + err.Error()
			}
			e.frame(c, stomp.SEND, "m1", "destination", e.queue("q"))
			if m := e.next(c); m != `MESSAGE body="m1"` {
				return m
			}
			e.frame(c, stomp.UNSUBSCRIBE, "", "id", "s", "receipt", "gone")
			if got := e.next(c, "receipt-id"); got != "RECEIPT receipt-id=gone" {
				return "UNSUBSCRIBE: " + got
			}
			d := e.dial()
			e.frame(d, stomp.SEND, "m2", "destination", e.queue("q"))
			if err := d.Subscribe("t", e.queue("q")); err != nil {
				return "subscribe again: " + err.Error()
			}
			return e.next(d, "redelivered")
		},
		// RabbitMQ keeps m1 unacknowledged on the channel until the
		// connection closes; chatrelay's upstream connection is shared
		// and stays, so the relay gives m1 back at UNSUBSCRIBE
		want:    `MESSAGE redelivered=false body="m2"`,
		differs: both(`MESSAGE redelivered=true body="m1"`),
	},
	{
		name:   "ack-1.1-by-message-id", // item 6
		queues: []string{"q"},
		run: func(e *env) string {
			c := e.dial("accept-version", "1.1")
			if err := c.Subscribe("s", e.queue("q"), "ack", "client"); err != nil {
				return "subscribe: " + err.Error()
			}
			e.frame(c, stomp.SEND, "m1", "destination", e.queue("q"))
			m, err := c.Read(10e9)
			if err != nil || m.Command != stomp.MESSAGE {
				return "no MESSAGE"
			}
			e.frame(c, stomp.ACK, "", "message-id", m.Header("message-id"), "subscription", "another", "receipt", "acked")
			acked := e.next(c, "receipt-id")
			e.frame(c, stomp.SEND, "m2", "destination", e.queue("q"))
			m2 := e.next(c)
			_ = c.Close()
			// acked: a new consumer gets nothing back from before m2
			d := e.dial()
			e.frame(d, stomp.SEND, "m3", "destination", e.queue("q"))
			if err := d.Subscribe("t", e.queue("q")); err != nil {
				return "subscribe again: " + err.Error()
			}
			return acked + "; " + m2 + "; then " + e.next(d, "redelivered")
		},
		want: `RECEIPT receipt-id=acked; MESSAGE body="m2"; then MESSAGE redelivered=true body="m2"`,
	},
	{
		name:   "nack-redelivers", // item 2's neighbour: NACK requeues
		queues: []string{"q"},
		run: func(e *env) string {
			c := e.dial()
			if err := c.Subscribe("s", e.queue("q"), "ack", "client-individual"); err != nil {
				return "subscribe: " + err.Error()
			}
			e.frame(c, stomp.SEND, "m1", "destination", e.queue("q"))
			m, err := c.Read(10e9)
			if err != nil || m.Command != stomp.MESSAGE {
				return "no MESSAGE"
			}
			e.frame(c, stomp.NACK, "", "id", m.Header("ack"))
			again := e.next(c, "redelivered")
			return e.describe(m, "redelivered") + "; " + again
		},
		want: `MESSAGE redelivered=false body="m1"; MESSAGE redelivered=true body="m1"`,
	},
	{
		name:   "prefetch-count",
		queues: []string{"q"},
		run: func(e *env) string {
			c := e.dial()
			if err := c.Subscribe("s", e.queue("q"), "ack", "client-individual", "prefetch-count", "1"); err != nil {
				return "subscribe: " + err.Error()
			}
			for _, m := range []string{"m1", "m2", "m3"} {
				e.frame(c, stomp.SEND, m, "destination", e.queue("q"))
			}
			first := e.next(c)
			// c holds m1 unacknowledged at its prefetch limit: the rest
			// go to the next consumer
			d := e.dial()
			if err := d.Subscribe("t", e.queue("q")); err != nil {
				return "subscribe again: " + err.Error()
			}
			return first + "; then " + e.next(d)
		},
		want: `MESSAGE body="m1"; then MESSAGE body="m2"`,
		// the embedded broker pushes everything to the first consumer
		differs: map[string]difference{relayEmb: {differ, `MESSAGE body="m1"; then no frame: no frame within 10s`}},
	},
	{
		name:   "nack-without-requeue",
		queues: []string{"q"},
		run: func(e *env) string {
			c := e.dial()
			if err := c.Subscribe("s", e.queue("q"), "ack", "client-individual"); err != nil {
				return "subscribe: " + err.Error()
			}
			e.frame(c, stomp.SEND, "m1", "destination", e.queue("q"))
			m, err := c.Read(10 * time.Second)
			if err != nil || m.Command != stomp.MESSAGE {
				return "no MESSAGE"
			}
			e.frame(c, stomp.NACK, "", "id", m.Header("ack"), "requeue", "false", "receipt", "n")
			nacked := e.next(c, "receipt-id")
			e.frame(c, stomp.SEND, "m2", "destination", e.queue("q"))
			return nacked + "; then " + e.next(c, "redelivered")
		},
		want: `RECEIPT receipt-id=n; then MESSAGE redelivered=false body="m2"`,
	},
}

// giveBackRow (issue 14 item 2): a client-ack subscriber receives two
// messages and leaves without acknowledging them, with
// inTx after acknowledging the first inside a transaction it never
// commits; another consumer must get both back at once, redelivered.
func giveBackRow(name, ack string, inTx bool) row {
	return row{
		name:   name,
		queues: []string{"q"},
		run: func(e *env) string {
			c := e.dial()
			if err := c.Subscribe("s", e.queue("q"), "ack", ack); err != nil {
				return "subscribe: " + err.Error()
			}
			e.frame(c, stomp.SEND, "m1", "destination", e.queue("q"))
			e.frame(c, stomp.SEND, "m2", "destination", e.queue("q"))
			var acks []string
			for range 2 {
				m, err := c.Read(10 * time.Second)
				if err != nil || m.Command != stomp.MESSAGE {
					return "no MESSAGE"
				}
				acks = append(acks, m.Header("ack"))
			}
			if inTx {
				e.frame(c, stomp.BEGIN, "", "transaction", "t")
				e.frame(c, stomp.ACK, "", "id", acks[0], "transaction", "t", "receipt", "acked")
				if got := e.next(c, "receipt-id"); got != "RECEIPT receipt-id=acked" {
					return "ACK: " + got
				}
			}
			_ = c.Close()
			d := e.dial()
			if err := d.Subscribe("t", e.queue("q")); err != nil {
				return "subscribe again: " + err.Error()
			}
			return e.collect(d, 2, "redelivered")
		},
		want: `MESSAGE redelivered=true body="m1"; MESSAGE redelivered=true body="m2"`,
	}
}
