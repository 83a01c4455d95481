package server

import (
	"strconv"
	"strings"
	"testing"

	"chatrelay/internal/jsclient"
)

// ackID is the id stompjs acknowledges a STOMP 1.2 message by.
func ackID(t *testing.T, e jsclient.Event) string {
	t.Helper()
	id := e.Headers["ack"]
	if id == "" {
		t.Fatalf("message %q has no ack header: %v", e.Body, e.Headers)
	}
	return id
}

// queueName is the broker's name of a /queue destination.
func queueName(dest string) string { return strings.TrimPrefix(dest, "/queue/") }

// specAck acknowledges (or, with nack, rejects) e with a receipt.
func specAck(t *testing.T, c *jsclient.Client, nack bool, e jsclient.Event, sub string, headers map[string]string) {
	t.Helper()
	h := map[string]string{"receipt": "ack-" + strconv.FormatInt(specReceipts.Add(1), 10)}
	for k, v := range headers {
		h[k] = v
	}
	op := c.Ack
	if nack {
		op = c.Nack
	}
	if err := op(ackID(t, e), sub, h); err != nil {
		t.Fatal(err)
	}
}

// expectEmptyQueue proves nothing is left in dest, ready or unacked: a
// new consumer's first message is a marker sent after it subscribed
// (what stompjs's "Should not redeliver after ack" checks with a timer),
// and on RabbitMQ the management API counts no message.
func expectEmptyQueue(t *testing.T, tg specTarget, dest string) {
	t.Helper()
	if tg.queueStats {
		waitQueue(t, rabbit, queueName(dest), 0, 0)
	}
	c := tg.client(t)
	specSubscribe(t, c, "check", dest, map[string]string{"ack": "client-individual"})
	specSend(t, c, dest, "empty-marker", nil)
	specAck(t, c, false, nextMessage(t, c, "empty-marker"), "check", nil)
}

// TestStompJSSpecAck mirrors stompjs's ack specs on a queue, in ack modes
// client-individual and client: an ACK settles only what it names
// (client-individual) or everything up to it (client); a NACKed message
// comes again, marked redelivered; nothing acknowledged comes back.
func TestStompJSSpecAck(t *testing.T) {
	for _, mode := range []string{"client-individual", "client"} {
		t.Run(mode, func(t *testing.T) {
			forEachSpecTarget(t, 1, func(t *testing.T, tg specTarget) {
				q := tg.queues[0]
				a := tg.client(t)
				specSubscribe(t, a, "a", q, map[string]string{"ack": mode})
				specSend(t, a, q, "m1", nil)
				specSend(t, a, q, "m2", nil)
				m1, m2 := nextMessage(t, a, "m1"), nextMessage(t, a, "m2")
				if m1.Headers["redelivered"] == "true" {
					t.Fatalf("first delivery marked redelivered: %v", m1.Headers)
				}
				if mode == "client-individual" {
					// m2 settled alone; m1 is still held, and comes again
					specAck(t, a, false, m2, "a", nil)
					specAck(t, a, true, m1, "a", nil)
					again := nextMessage(t, a, "m1")
					if again.Headers["redelivered"] != "true" {
						t.Fatalf("after NACK: %v", again.Headers)
					}
					specAck(t, a, false, again, "a", nil)
				} else {
					// the ACK of m2 settles m1 too; m3 after it is NACKed
					specAck(t, a, false, m2, "a", nil)
					specSend(t, a, q, "m3", nil)
					m3 := nextMessage(t, a, "m3")
					specAck(t, a, true, m3, "a", nil)
					again := nextMessage(t, a, "m3")
					if again.Headers["redelivered"] != "true" {
						t.Fatalf("after NACK: %v", again.Headers)
					}
					specAck(t, a, false, again, "a", nil)
				}

				if err := a.Unsubscribe("a", map[string]string{"receipt": "unsub-a"}); err != nil {
					t.Fatal(err)
				}
				expectEmptyQueue(t, tg, q)
			})
		})
	}
}

// txSend sends body to dest inside transaction tx, without a receipt.
func txSend(t *testing.T, c *jsclient.Client, dest, body, tx string) {
	t.Helper()
	if err := c.Send(dest, body, map[string]string{"transaction": tx}); err != nil {
		t.Fatal(err)
	}
}

// TestStompJSSpecAckConnectionDrop mirrors stompjs's "Should deliver to
// other client if connection drops before ack": a message whose consumer
// left without settling it goes to the next consumer, redelivered.
func TestStompJSSpecAckConnectionDrop(t *testing.T) {
	for _, mode := range []string{"client-individual", "client"} {
		t.Run(mode, func(t *testing.T) {
			forEachSpecTarget(t, 1, func(t *testing.T, tg specTarget) {
				q := tg.queues[0]
				a := tg.client(t)
				specSubscribe(t, a, "a", q, map[string]string{"ack": mode})
				specSend(t, a, q, "held", nil)
				nextMessage(t, a, "held")
				if err := a.Close(); err != nil {
					t.Logf("close: %v", err)
				}
				b := tg.client(t)
				specSubscribe(t, b, "b", q, map[string]string{"ack": mode})
				held := nextMessage(t, b, "held")
				if held.Headers["redelivered"] != "true" {
					t.Fatalf("after its first consumer left: %v", held.Headers)
				}
				specAck(t, b, false, held, "b", nil)
				if err := b.Unsubscribe("b", map[string]string{"receipt": "unsub-b"}); err != nil {
					t.Fatal(err)
				}
				expectEmptyQueue(t, tg, q)
			})
		})
	}
}

// TestStompJSSpecTransaction mirrors stompjs's transaction specs on a
// topic: a SEND in a transaction waits for COMMIT (a marker sent outside
// the transaction overtakes it), a SEND in an aborted transaction never
// comes (a marker after the ABORT is the next message), and a SEND
// outside a transaction is not affected by its ABORT.
func TestStompJSSpecTransaction(t *testing.T) {
	forEachSpecTarget(t, 0, func(t *testing.T, tg specTarget) {
		c := tg.client(t)
		specSubscribe(t, c, "s1", tg.topic, nil)

		if err := c.Begin("tx-commit"); err != nil {
			t.Fatal(err)
		}
		// no receipt: RabbitMQ sends those of a transaction's frames at
		// its COMMIT
		txSend(t, c, tg.topic, "in-tx", "tx-commit")
		specSend(t, c, tg.topic, "not-in-tx", nil)
		nextMessage(t, c, "not-in-tx")
		if err := c.Commit("tx-commit"); err != nil {
			t.Fatal(err)
		}
		nextMessage(t, c, "in-tx")

		if err := c.Begin("tx-abort"); err != nil {
			t.Fatal(err)
		}
		txSend(t, c, tg.topic, "aborted", "tx-abort")
		if err := c.Abort("tx-abort"); err != nil {
			t.Fatal(err)
		}
		specSend(t, c, tg.topic, "after-abort", nil)
		nextMessage(t, c, "after-abort")

		if err := c.Begin("tx-outside"); err != nil {
			t.Fatal(err)
		}
		specSend(t, c, tg.topic, "outside", nil)
		if err := c.Abort("tx-outside"); err != nil {
			t.Fatal(err)
		}
		nextMessage(t, c, "outside")
		specSend(t, c, tg.topic, "last", nil)
		nextMessage(t, c, "last")
	})
}

// TestStompJSSpecTransactionAck: an ACK inside a transaction takes effect
// at COMMIT only. After an ABORT the message is still unsettled (a NACK
// brings it back, redelivered); after a COMMIT it is gone.
func TestStompJSSpecTransactionAck(t *testing.T) {
	forEachSpecTarget(t, 1, func(t *testing.T, tg specTarget) {
		q := tg.queues[0]
		c := tg.client(t)
		specSubscribe(t, c, "w", q, map[string]string{"ack": "client-individual"})
		specSend(t, c, q, "job", nil)
		job := nextMessage(t, c, "job")

		if err := c.Begin("tx-ack-abort"); err != nil {
			t.Fatal(err)
		}
		specAck(t, c, false, job, "w", map[string]string{"transaction": "tx-ack-abort"})
		if err := c.Abort("tx-ack-abort"); err != nil {
			t.Fatal(err)
		}
		specAck(t, c, true, job, "w", nil)
		again := nextMessage(t, c, "job")
		if again.Headers["redelivered"] != "true" {
			t.Fatalf("after ABORT and NACK: %v", again.Headers)
		}

		if err := c.Begin("tx-ack-commit"); err != nil {
			t.Fatal(err)
		}
		specAck(t, c, false, again, "w", map[string]string{"transaction": "tx-ack-commit"})
		if err := c.Commit("tx-ack-commit"); err != nil {
			t.Fatal(err)
		}
		// the commit is ordered before the UNSUBSCRIBE that would give
		// an unsettled message back
		if err := c.Unsubscribe("w", map[string]string{"receipt": "unsub-w"}); err != nil {
			t.Fatal(err)
		}
		expectEmptyQueue(t, tg, q)
	})
}
