package conformance

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// refusalRows (issue 14 item 4): frames the broker refuses cost only the
// client that sent them. A bystander connected to the same server (with
// chatrelay: on the same upstream connection, there is one) receives a
// message sent after the refusal, and chatrelay's upstream connection
// was never closed.
var refusalRows = []row{
	refusalRow("subscribe-missing-exchange", func(e *env, c *stomptest.Client) {
		e.frame(c, stomp.SUBSCRIBE, "", "id", "s", "destination", "/exchange/"+e.prefix+"-missing", "receipt", "sub")
	}, "closed", map[string]difference{
		relayMQ: {differ, `subscribe_refused on /user/queue/errors for subscription s`},
		// the embedded broker has no exchanges: any name is a destination
		relayEmb: {differ, "RECEIPT receipt-id=sub"},
	}),
	refusalRow("send-missing-exchange", func(e *env, c *stomptest.Client) {
		e.frame(c, stomp.SEND, "x", "destination", "/exchange/"+e.prefix+"-missing/key", "receipt", "sent")
	}, "closed", map[string]difference{
		relayMQ:  {differ, "ERROR message=not_found receipt-id=sent"},
		relayEmb: {differ, "RECEIPT receipt-id=sent"},
	}),
	refusalRow("subscribe-forbidden-topic", func(e *env, c *stomptest.Client) {
		e.frame(c, stomp.SUBSCRIBE, "", "id", "s", "destination", e.topic("denied"), "receipt", "sub")
	}, "closed", map[string]difference{
		relayMQ:  {differ, `subscribe_refused on /user/queue/errors for subscription s`},
		relayEmb: {differ, "RECEIPT receipt-id=sub"}, // no permissions there
	}),
	refusalRow("send-forbidden-topic", func(e *env, c *stomptest.Client) {
		e.frame(c, stomp.SEND, "x", "destination", e.topic("denied"), "receipt", "sent")
	}, "closed", map[string]difference{
		relayMQ:  {differ, "ERROR message=access_refused receipt-id=sent"},
		relayEmb: {differ, "RECEIPT receipt-id=sent"},
	}),
	refusalRow("commit-send-forbidden-topic", func(e *env, c *stomptest.Client) {
		e.frame(c, stomp.BEGIN, "", "transaction", "t")
		e.frame(c, stomp.SEND, "x", "destination", e.topic("denied"), "transaction", "t")
		e.frame(c, stomp.COMMIT, "", "transaction", "t", "receipt", "c")
	}, "RECEIPT receipt-id=c; then closed", map[string]difference{
		relayMQ:  {differ, "ERROR message=access_refused receipt-id=c"},
		relayEmb: {differ, "RECEIPT receipt-id=c"},
	}),
	refusalRow("commit-send-missing-exchange", func(e *env, c *stomptest.Client) {
		e.frame(c, stomp.BEGIN, "", "transaction", "t")
		e.frame(c, stomp.SEND, "x", "destination", "/exchange/"+e.prefix+"-missing/key", "transaction", "t")
		e.frame(c, stomp.COMMIT, "", "transaction", "t", "receipt", "c")
	}, "RECEIPT receipt-id=c; then closed", map[string]difference{
		relayMQ:  {differ, "ERROR message=not_found receipt-id=c"},
		relayEmb: {differ, "RECEIPT receipt-id=c"},
	}),
	refusalRow("subscribe-invalid-argument", func(e *env, c *stomptest.Client) {
		e.frame(c, stomp.SUBSCRIBE, "", "id", "s", "destination", e.queue("q"), "x-max-length", "many", "receipt", "sub")
	}, "ERROR message=Processing error", both("ERROR message=destination refused: /queue/P-q receipt-id=sub")),
}

// refusalRow is a row whose frame (sent by do after CONNECT) the broker
// refuses.
func refusalRow(name string, do func(e *env, c *stomptest.Client), want string, differs map[string]difference) row {
	return row{
		name:   name,
		queues: []string{"q"},
		run: func(e *env) string {
			before := e.reconnects()
			by := e.dial()
			if err := by.Subscribe("b", e.topic("by")); err != nil {
				return "bystander: " + err.Error()
			}
			c := e.dial()
			if e.tg.name != webSTOMP {
				// where chatrelay reports a refused subscription
				if err := c.Subscribe("errors", "/user/queue/errors"); err != nil {
					return "errors queue: " + err.Error()
				}
			}
			do(e, c)
			refused := e.refusal(c)
			if strings.HasPrefix(name, "commit-") && strings.HasPrefix(refused, "RECEIPT") && e.tg.name != relayEmb {
				// RabbitMQ receipts the COMMIT before it publishes;
				// the refusal follows (the embedded broker refuses
				// nothing, so nothing follows there)
				refused += "; then " + e.refusal(c)
			}
			m := e.dial()
			e.frame(m, stomp.SEND, "after", "destination", e.topic("by"))
			return fmt.Sprintf("%s; bystander: %s; upstream reconnects: +%d", refused, e.next(by), e.reconnects()-before)
		},
		want:    want + `; bystander: MESSAGE body="after"; upstream reconnects: +0`,
		differs: withSuffix(differs, `; bystander: MESSAGE body="after"; upstream reconnects: +0`),
	}
}

// reconnects is the target's upstream reconnect count (0 for Web-STOMP).
func (e *env) reconnects() int {
	if e.tg.reconnects == nil {
		return 0
	}
	return e.tg.reconnects()
}

// withSuffix appends suffix to every difference's result.
func withSuffix(ds map[string]difference, suffix string) map[string]difference {
	out := make(map[string]difference, len(ds))
	for k, d := range ds {
		d.want += suffix
		out[k] = d
	}
	return out
}

// refusal describes how c learns of its refused frame: an ERROR, a
// closed socket, or a message on /user/queue/errors (chatrelay's way for
// one subscription), by its code and subscription.
func (e *env) refusal(c *stomptest.Client) string {
	f, err := c.Read(10 * time.Second)
	switch {
	case err != nil:
		select {
		case <-c.Closed():
			return "closed"
		default:
			return "no frame: " + err.Error()
		}
	case f.Command == stomp.MESSAGE && f.Header("subscription") == "errors":
		var m struct{ Code, Subscription string }
		if err := json.Unmarshal(f.Body, &m); err != nil {
			return fmt.Sprintf("errors message %q", f.Body)
		}
		return fmt.Sprintf("%s on /user/queue/errors for subscription %s", m.Code, m.Subscription)
	}
	return e.describe(f, "subscription", "receipt-id")
}
