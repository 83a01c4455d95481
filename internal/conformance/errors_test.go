package conformance

import (
	"chatrelay/internal/stomp"
)

// errorRows: refusals, in RabbitMQ's words or, where chatrelay differs on
// purpose, in its own.
var errorRows = []row{
	errorRow("subscribe-without-destination", "ERROR message=Missing destination", stomp.SUBSCRIBE, "id", "s"),
	errorRow("send-without-destination", "ERROR message=Missing destination", stomp.SEND),
	{
		name: "subscribe-without-id",
		run: func(e *env) string {
			c := e.dial()
			e.frame(c, stomp.SUBSCRIBE, "", "destination", e.topic("a"), "receipt", "sub")
			return e.next(c, "receipt-id")
		},
		want:    "RECEIPT receipt-id=sub",
		differs: both("ERROR message=Missing header receipt-id=sub"),
	},
	errorRow("unsubscribe-without-id", "ERROR message=Missing destination or id", stomp.UNSUBSCRIBE),
	errorRow("ack-without-id", "ERROR message=Missing header", stomp.ACK),
	errorRow("begin-without-transaction", "ERROR message=Missing transaction", stomp.BEGIN),
	errorRow("commit-unknown-transaction", "ERROR message=Bad transaction", stomp.COMMIT, "transaction", "nope"),
	errorRow("unknown-destination-type", "ERROR message=Unknown destination", stomp.SEND, "destination", "/nowhere/x"),
	errorRow("invalid-queue-destination", "ERROR message=Invalid destination", stomp.SEND, "destination", "/queue/"),
	errorRow("unknown-command", "ERROR message=Bad command", "FOO"),
	errorRow("nack-without-id", "ERROR message=Missing header", stomp.NACK),
	{
		name: "duplicate-subscription-id",
		run: func(e *env) string {
			c := e.dial()
			if err := c.Subscribe("s", e.topic("a")); err != nil {
				return "subscribe: " + err.Error()
			}
			e.frame(c, stomp.SUBSCRIBE, "", "id", "s", "destination", e.topic("b"))
			// RabbitMQ closes the socket without a word
			return e.nextOrClosed(c)
		},
		want:    "closed",
		differs: both("ERROR message=duplicate subscription id"),
	},
	{
		name: "begin-twice",
		run: func(e *env) string {
			c := e.dial()
			e.frame(c, stomp.BEGIN, "", "transaction", "t")
			e.frame(c, stomp.BEGIN, "", "transaction", "t", "receipt", "again")
			return e.next(c, "receipt-id")
		},
		want:    "RECEIPT receipt-id=again",
		differs: both("ERROR message=duplicate transaction receipt-id=again"),
	},
	{
		name: "frame-before-connect",
		want: "ERROR message=Illegal command",
		run: func(e *env) string {
			c := e.raw()
			e.frame(c, stomp.SEND, "x", "destination", e.topic("a"))
			return e.next(c)
		},
	},
	{
		name: "unsupported-version",
		run: func(e *env) string {
			c := e.raw()
			e.frame(c, stomp.CONNECT, "", "accept-version", "2.0", "login", user, "passcode", user)
			return e.next(c, "version")
		},
		want: "ERROR message=Version mismatch version=1.0,1.1,1.2",
	},
	{
		name: "bad-heart-beat",
		run: func(e *env) string {
			c := e.raw()
			e.frame(c, stomp.CONNECT, "", "accept-version", "1.2", "heart-beat", "x,y", "login", user, "passcode", user)
			return e.next(c, "heart-beat")
		},
		want:    "ERROR message=Processing error",
		differs: both("ERROR message=invalid heart-beat header"),
	},
	{
		name: "bad-ack-mode",
		run: func(e *env) string {
			c := e.dial()
			e.frame(c, stomp.SUBSCRIBE, "", "id", "s", "destination", e.topic("a"), "ack", "sometimes")
			return e.next(c)
		},
		want:    "ERROR message=Processing error",
		differs: both("ERROR message=destination refused: /topic/P-a"),
	},
	{
		name: "connect-twice",
		run: func(e *env) string {
			c := e.dial()
			e.frame(c, stomp.CONNECT, "", "accept-version", "1.2", "login", user, "passcode", user)
			// RabbitMQ's adapter crashes and closes the socket
			return e.nextOrClosed(c)
		},
		want:    "closed",
		differs: both("ERROR message=already connected"),
	},
}

// errorRow is a row that sends one bad frame after CONNECT and observes
// the ERROR; want is RabbitMQ's (see row.want).
func errorRow(name, want, command string, kv ...string) row {
	return row{
		name: name,
		want: want,
		run: func(e *env) string {
			c := e.dial()
			e.frame(c, command, "", kv...)
			return e.next(c)
		},
	}
}
