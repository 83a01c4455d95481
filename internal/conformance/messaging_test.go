package conformance

import (
	"fmt"
	"time"

	"github.com/gorilla/websocket"

	"chatrelay/internal/stomp"
)

// messagingRows: subscribing, sending and receiving.
var messagingRows = []row{
	{
		name: "subscribe-then-send", // item 1
		run:  subscribeThenSend,
		want: fmt.Sprintf("%d/%d got their own message", orderingConns, orderingConns),
	},
	{
		name: "durable-topic-subscription", // item 7
		run:  durableRow,
		want: `MESSAGE body="while away"; RECEIPT receipt-id=u; then MESSAGE body="last"; durable subscription queues left: 0`,
		differs: map[string]difference{relayEmb: {differ,
			"subscribe: got ERROR (message \"destination refused: /topic/P-d\", body \"durable topic subscriptions need broker.mode rabbitmq: the embedded broker keeps nothing for a subscriber that is away\"), want RECEIPT"}},
	},
	{
		name: "send-receive",
		run: func(e *env) string {
			c := e.dial()
			if err := c.Subscribe("s", e.topic("a")); err != nil {
				return "subscribe: " + err.Error()
			}
			e.frame(c, stomp.SEND, "hello", "destination", e.topic("a"), "receipt", "r1", "content-type", "text/plain", "x-custom", "v")
			return e.collect(c, 2, "destination", "subscription", "receipt-id", "content-type", "x-custom", "redelivered")
		},
		want: `MESSAGE destination=/topic/P-a subscription=s content-type=text/plain x-custom=v redelivered=false body="hello"; RECEIPT receipt-id=r1`,
	},
	{
		name: "wildcard-destination", // item 3
		run: func(e *env) string {
			c := e.dial()
			e.frame(c, stomp.SUBSCRIBE, "", "id", "w", "destination", e.topic("w.*"), "receipt", "sub")
			first := e.next(c, "receipt-id")
			if first != "RECEIPT receipt-id=sub" {
				return first
			}
			e.frame(c, stomp.SEND, "x", "destination", e.topic("w.a"))
			return first + "; " + e.next(c, "destination", "subscription")
		},
		want:    `RECEIPT receipt-id=sub; MESSAGE destination=/topic/P-w.a subscription=w body="x"`,
		differs: map[string]difference{relayEmb: {differ, `ERROR message=destination refused: /topic/P-w.* receipt-id=sub`}},
	},
	{
		name:   "boolean-spellings", // item 5
		queues: []string{"q"},
		run: func(e *env) string {
			c := e.dial()
			e.frame(c, stomp.SUBSCRIBE, "", "id", "s", "destination", e.queue("q"), "durable", "True", "auto-delete", "False", "receipt", "sub")
			first := e.next(c, "receipt-id")
			e.frame(c, stomp.SEND, "p", "destination", e.queue("q"), "persistent", "True", "receipt", "sent")
			return first + "; " + e.collect(c, 2, "receipt-id", "subscription")
		},
		want: `RECEIPT receipt-id=sub; MESSAGE subscription=s body="p"; RECEIPT receipt-id=sent`,
	},
	{
		name: "nul-between-frames", // item 8
		run: func(e *env) string {
			c := e.dial()
			if err := c.Subscribe("s", e.topic("n")); err != nil {
				return "subscribe: " + err.Error()
			}
			send := "SEND\ndestination:" + e.topic("n") + "\n\n"
			if err := c.Raw([]byte(send + "m1\x00\x00\n" + send + "m2\x00\x00")); err != nil {
				return err.Error()
			}
			return e.next(c) + "; " + e.next(c)
		},
		want: `MESSAGE body="m1"; MESSAGE body="m2"`,
	},
	{
		name: "websocket-text-frames", // item 9
		run: func(e *env) string {
			c := e.dial()
			if err := c.Subscribe("s", e.topic("t")); err != nil {
				return "subscribe: " + err.Error()
			}
			e.frame(c, stomp.SEND, "héllo", "destination", e.topic("t"))
			f, err := c.Read(10 * time.Second)
			if err != nil {
				return err.Error()
			}
			kind := "binary"
			if c.MessageType(f) == websocket.TextMessage {
				kind = "text"
			}
			return e.describe(f) + " in a " + kind + " WebSocket message"
		},
		want: `MESSAGE body="héllo" in a text WebSocket message`,
	},
	{
		name: "transaction-receipts",
		run: func(e *env) string {
			c := e.dial()
			if err := c.Subscribe("s", e.topic("t")); err != nil {
				return "subscribe: " + err.Error()
			}
			e.frame(c, stomp.BEGIN, "", "transaction", "t")
			e.frame(c, stomp.SEND, "in tx", "destination", e.topic("t"), "transaction", "t", "receipt", "in")
			e.frame(c, stomp.SEND, "outside", "destination", e.topic("other"), "receipt", "out")
			first := e.next(c, "receipt-id")
			e.frame(c, stomp.COMMIT, "", "transaction", "t", "receipt", "c")
			return first + "; then " + e.collect(c, 3, "receipt-id")
		},
		// RabbitMQ receipts a transaction's SEND when it publishes it,
		// at COMMIT
		// (chatrelay keeps a transaction's SENDs until COMMIT, in both
		// modes)
		want: `RECEIPT receipt-id=out; then MESSAGE body="in tx"; RECEIPT receipt-id=c; RECEIPT receipt-id=in`,
	},
	{
		name: "transaction",
		run: func(e *env) string {
			c := e.dial()
			if err := c.Subscribe("s", e.topic("t")); err != nil {
				return "subscribe: " + err.Error()
			}
			e.frame(c, stomp.BEGIN, "", "transaction", "t1")
			e.frame(c, stomp.SEND, "aborted", "destination", e.topic("t"), "transaction", "t1")
			e.frame(c, stomp.ABORT, "", "transaction", "t1")
			e.frame(c, stomp.BEGIN, "", "transaction", "t2")
			e.frame(c, stomp.SEND, "committed", "destination", e.topic("t"), "transaction", "t2")
			e.frame(c, stomp.COMMIT, "", "transaction", "t2", "receipt", "c")
			return e.collect(c, 2, "receipt-id")
		},
		want: `MESSAGE body="committed"; RECEIPT receipt-id=c`,
	},
}
