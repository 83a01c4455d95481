package server

import (
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/jsclient"
	"chatrelay/internal/stomp"
)

// eventFrame turns a stompjs message or error event back into a frame for
// leakCheck.
func eventFrame(command string, e jsclient.Event) *stomp.Frame {
	f := &stomp.Frame{Command: command, Body: []byte(e.Body)}
	for k, v := range e.Headers {
		f.Headers = append(f.Headers, stomp.Header{Key: k, Value: v})
	}
	return f
}

// TestStompJSClientAckIDs: @stomp/stompjs on a client-ack queue the
// operator configured, as STOMP 1.2 (acks by the ack header) and 1.1 (by
// message-id and subscription): the MESSAGEs show only relay ids, ACK
// and NACK through them settle the broker's deliveries (management API:
// nothing unacked), and a forged id closes only the stompjs session that
// sent it while the replica keeps its broker connections.
func TestStompJSClientAckIDs(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	name := "jsjobs-" + unique(t)
	queue := "/queue/" + name
	cfg.Policy.ClientSubscribe = []string{"/topic/**", "/user/queue/**", "/app/**", queue}
	cfg.Policy.ClientSend = []string{"/app/**", queue}
	before := connectionNames(t, rabbit)
	r := start(t, cfg)
	conns := replicaConnections(t, rabbit, before, cfg.Broker.Connections)
	lc := newLeakCheck()
	lc.marks = append(lc.marks, conns...)

	producer := jsClient(t, r, "producer")
	send := func(body string) {
		t.Helper()
		if err := producer.Send(queue, body, map[string]string{"receipt": "sent-" + body}); err != nil {
			t.Fatal(err)
		}
	}
	for _, version := range []string{"1.2", "1.1"} {
		t.Run(version, func(t *testing.T) {
			c := jsclient.NewT(t)
			c.Timeout = 10 * time.Second
			connected, err := c.ConnectWith(jsclient.ConnectOptions{URL: r.URL(), Login: "worker", Versions: []string{version}})
			if err != nil {
				t.Fatal(err)
			}
			if connected["version"] != version {
				t.Fatalf("CONNECTED %v", connected)
			}
			lc.check(t, eventFrame(stomp.CONNECTED, jsclient.Event{Headers: connected}))
			if err := c.Subscribe("w", queue, map[string]string{"ack": "client-individual", "receipt": "sub"}); err != nil {
				t.Fatal(err)
			}
			for _, tag := range consumerTags(t, rabbit, name, 1) {
				lc.exact = append(lc.exact, tag, strings.TrimPrefix(tag, "T_"))
			}
			// the id stompjs acks with: ack in 1.2, message-id in 1.1
			idOf := func(e jsclient.Event) string {
				if version == "1.2" {
					return e.Headers["ack"]
				}
				return e.Headers["message-id"]
			}
			receive := func(body string) jsclient.Event {
				t.Helper()
				e, err := c.WaitMessage(10*time.Second, func(e jsclient.Event) bool { return e.Body == body })
				if err != nil {
					t.Fatal(err)
				}
				lc.checkMessage(t, eventFrame(stomp.MESSAGE, e), queue, true)
				return e
			}

			send("a-" + version)
			e := receive("a-" + version)
			if err := c.Ack(idOf(e), "w", map[string]string{"receipt": "ack-a"}); err != nil {
				t.Fatal(err)
			}
			waitQueue(t, rabbit, name, 0, 0)

			send("b-" + version)
			e = receive("b-" + version)
			if err := c.Nack(idOf(e), "w", map[string]string{"receipt": "nack-b"}); err != nil {
				t.Fatal(err)
			}
			again := receive("b-" + version)
			if again.Headers["redelivered"] != "true" || idOf(again) == idOf(e) {
				t.Fatalf("after NACK: %v (first delivery %v)", again.Headers, e.Headers)
			}
			if err := c.Ack(idOf(again), "w", map[string]string{"receipt": "ack-b"}); err != nil {
				t.Fatal(err)
			}
			waitQueue(t, rabbit, name, 0, 0)

			// a forged id, while this client holds c unacknowledged
			send("c-" + version)
			held := receive("c-" + version)
			waitQueue(t, rabbit, name, 0, 1)
			mallory := jsclient.NewT(t)
			mallory.Timeout = 10 * time.Second
			if _, err := mallory.ConnectWith(jsclient.ConnectOptions{URL: r.URL(), Login: "mallory", Versions: []string{version}}); err != nil {
				t.Fatal(err)
			}
			if err := mallory.Subscribe("w", queue, map[string]string{"ack": "client-individual", "receipt": "sub"}); err != nil {
				t.Fatal(err)
			}
			if err := mallory.Ack(idOf(held), "w", nil); err != nil {
				t.Fatal(err)
			}
			ev, err := mallory.WaitEvent(10*time.Second, func(e jsclient.Event) bool { return e.Event == "error" })
			if err != nil || ev.Headers["message"] != "invalid ACK" {
				t.Fatalf("forged ACK: %+v %v", ev, err)
			}
			lc.check(t, eventFrame(stomp.ERROR, ev))
			if _, err := mallory.WaitEvent(10*time.Second, func(e jsclient.Event) bool { return e.Event == "closed" }); err != nil {
				t.Fatal(err)
			}
			waitQueue(t, rabbit, name, 0, 1) // still this client's
			if err := c.Ack(idOf(held), "w", map[string]string{"receipt": "ack-c"}); err != nil {
				t.Fatal(err)
			}
			waitQueue(t, rabbit, name, 0, 0)
			if err := c.Unsubscribe("w", map[string]string{"receipt": "unsub"}); err != nil {
				t.Fatal(err)
			}
		})
	}
	if n := r.srv.Relay().Reconnects(); n != 0 {
		t.Fatalf("the relay reconnected %d times", n)
	}
	now := connectionNames(t, rabbit)
	for _, c := range conns {
		if !now[c] {
			t.Fatalf("the replica's broker connection %s is gone", c)
		}
	}
}
