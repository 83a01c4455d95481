package conformance

import (
	"fmt"
	"strings"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
)

// durableRow (issue 14 item 7): a durable topic subscription keeps what
// is published while its subscriber is away, and UNSUBSCRIBE with
// durable:true deletes it, so that nothing published after is kept.
func durableRow(e *env) string {
	id := e.prefix + "-dur"
	sub := func(c interface {
		Subscribe(string, string, ...string) error
	}) string {
		if err := c.Subscribe(id, e.topic("d"), "durable", "true", "auto-delete", "false"); err != nil {
			return e.norm("subscribe: " + err.Error())
		}
		return ""
	}
	c := e.dial()
	if err := sub(c); err != "" {
		return err
	}
	_ = c.Close()
	p := e.dial()
	e.frame(p, stomp.SEND, "while away", "destination", e.topic("d"), "receipt", "r1")
	if got := e.next(p, "receipt-id"); got != "RECEIPT receipt-id=r1" {
		return "SEND: " + got
	}
	c2 := e.dial()
	if err := sub(c2); err != "" {
		return err
	}
	kept := e.next(c2)
	e.frame(c2, stomp.UNSUBSCRIBE, "", "id", id, "durable", "true", "receipt", "u")
	gone := e.next(c2, "receipt-id")
	_ = c2.Close()
	e.frame(p, stomp.SEND, "after unsubscribe", "destination", e.topic("d"), "receipt", "r2")
	if got := e.next(p, "receipt-id"); got != "RECEIPT receipt-id=r2" {
		return "SEND: " + got
	}
	c3 := e.dial()
	if err := sub(c3); err != "" {
		return err
	}
	e.frame(p, stomp.SEND, "last", "destination", e.topic("d"))
	first := e.next(c3)
	// leave nothing behind
	e.frame(c3, stomp.UNSUBSCRIBE, "", "id", id, "durable", "true", "receipt", "u3")
	e.next(c3, "receipt-id")
	return kept + "; " + gone + "; then " + first + "; " + durableLeft(e)
}

// durableLeft waits for the broker to hold no durable subscription queue
// (RabbitMQ's stomp-subscription-*, chatrelay's chatrelay.durable.*) and
// says how many were left.
func durableLeft(e *env) string {
	n := rabbittest.Require(e.t, rabbit)
	var left []string
	err := rabbittest.WaitFor(10*time.Second, func() (bool, error) {
		qs, err := n.Queues()
		left = left[:0]
		for _, q := range qs {
			if q.Durable && (strings.HasPrefix(q.Name, "stomp-subscription-") || strings.HasPrefix(q.Name, "chatrelay.durable.")) {
				left = append(left, fmt.Sprintf("%s (%d consumers)", q.Name, q.Consumers))
			}
		}
		return len(left) == 0, err
	})
	if len(left) > 0 {
		e.t.Logf("%s: durable subscription queues left: %v", e.tg.name, left)
	}
	if err != nil && len(left) == 0 {
		return "queues: " + err.Error()
	}
	return fmt.Sprintf("durable subscription queues left: %d", len(left))
}
