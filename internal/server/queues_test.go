package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// queueSet returns the node's queues by name.
func queueSet(t testing.TB, n *rabbittest.Node) map[string]rabbittest.Queue {
	t.Helper()
	qs, err := n.Queues()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]rabbittest.Queue, len(qs))
	for _, q := range qs {
		out[q.Name] = q
	}
	return out
}

// newQueues returns the queues of now that are not in before.
func newQueues(before, now map[string]rabbittest.Queue) []rabbittest.Queue {
	var out []rabbittest.Queue
	for name, q := range now {
		if _, ok := before[name]; !ok {
			out = append(out, q)
		}
	}
	return out
}

// waitTopicQueue waits until the management API shows a queue bound to
// amq.topic with routing key key (so its view is at least that recent)
// and returns it.
func waitTopicQueue(t testing.TB, n *rabbittest.Node, key string) rabbittest.Queue {
	t.Helper()
	var name string
	err := rabbittest.WaitFor(15*time.Second, func() (bool, error) {
		bs, err := n.Bindings()
		for _, b := range bs {
			if b.Source == "amq.topic" && b.RoutingKey == key {
				name = b.Destination
			}
		}
		return name != "", err
	})
	if err != nil {
		t.Fatalf("no queue bound to %q: %v", key, err)
	}
	q, ok := queueSet(t, n)[name]
	if !ok {
		t.Fatalf("queue %q bound to %q is not listed", name, key)
	}
	return q
}

// chatRoundTrip sends text to room through c and waits until c receives
// it on subscription sub: the session and the room work.
func chatRoundTrip(t testing.TB, c *stomptest.Client, sub, room, text string) {
	t.Helper()
	if err := c.Send(chatSend(room, text)); err != nil {
		t.Fatalf("chatter: %v", err)
	}
	m, err := c.Expect(stomp.MESSAGE, 10*time.Second)
	if err != nil {
		t.Fatalf("chatter waiting for %q: %v", text, err)
	}
	var msg rooms.Message
	if err := json.Unmarshal(m.Body, &msg); err != nil || msg.Message != text || m.Header("subscription") != sub {
		t.Fatalf("chatter got %v %s (%v), want %q on %s", m.Headers, m.Body, err, text, sub)
	}
}

// expectRefusal reads the ERROR refusing dest by rule and waits for the
// close.
func expectRefusal(t testing.TB, c *stomptest.Client, dest, rule string) {
	t.Helper()
	f, err := c.Read(5 * time.Second)
	if err != nil {
		t.Fatalf("waiting for the refusal of %s: %v", dest, err)
	}
	text := f.Header("message") + " " + string(f.Body)
	if f.Command != stomp.ERROR || !strings.Contains(text, dest) || !strings.Contains(text, rule) {
		t.Fatalf("got %s %q %q, want ERROR naming %s and %s", f.Command, f.Header("message"), f.Body, dest, rule)
	}
	if _, err := c.WaitClosed(5 * time.Second); err != nil {
		t.Fatalf("after ERROR: %v", err)
	}
}

// amqpChannel opens an AMQP connection and channel to n for the test, the
// way another application in the same vhost would.
func amqpChannel(t testing.TB, n *rabbittest.Node) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial("amqp://guest:guest@" + n.AMQPAddr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// deleteQueueAtCleanup deletes queue name over AMQP when the test ends.
func deleteQueueAtCleanup(t testing.TB, n *rabbittest.Node, name string) {
	t.Cleanup(func() {
		conn, err := amqp.Dial("amqp://guest:guest@" + n.AMQPAddr() + "/")
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err == nil {
			_, err = ch.QueueDelete(name, false, false, false)
		}
		if err != nil {
			t.Errorf("cleanup: delete queue %s: %v", name, err)
		}
	})
}

// TestQueueChurnRefused is item 1 of issue 12 with the default config: an
// anonymous client churning SUBSCRIBE /queue/junk-N + UNSUBSCRIBE (and a
// few SENDs) gets a clear refusal for each, RabbitMQ gains no queue, and
// a chatter on the same replica keeps chatting throughout.
func TestQueueChurnRefused(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	cfg.Rooms.Archive.Resident = false // the room's stream is counted before the churn
	n := rabbit
	r := start(t, cfg)
	room := createRoom(t, r, unique(t))
	chatter := connect(t, r, "chatter")
	if err := chatter.Subscribe("room", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	// the room's stream comes with its first message: chat once before
	// the queues are counted
	chatRoundTrip(t, chatter, "room", room, "before churn")
	if _, err := n.RoomStreamName(cfg.Broker.VHost, room); err != nil { // listed
		t.Fatal(err)
	}
	before := queueSet(t, n)

	const attempts = 200
	junk := "junk-" + strings.ToLower(unique(t))
	begin := time.Now()
	deadline := begin.Add(30 * time.Second)
	done := 0
	for ; done < attempts && time.Now().Before(deadline); done++ {
		// a refusal ends the session: the attacker connects again
		c := dial(t, r)
		if _, err := c.Connect(); err != nil {
			t.Fatal(err)
		}
		dest := fmt.Sprintf("/queue/%s-%d", junk, done)
		raw, want := "SUBSCRIBE\nid:j\ndestination:"+dest+"\n\n\x00UNSUBSCRIBE\nid:j\n\n\x00", "policy.client_subscribe"
		if done%10 == 9 {
			raw, want = "SEND\ndestination:"+dest+"\n\njunk\x00", "policy.client_send"
		}
		if err := c.Raw([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		expectRefusal(t, c, dest, want)
		_ = c.Close()
		if done%20 == 0 {
			chatRoundTrip(t, chatter, "room", room, fmt.Sprintf("during churn %d", done))
		}
	}
	t.Logf("%d refused queue attempts in %v", done, time.Since(begin).Round(time.Millisecond))
	if done != attempts {
		t.Fatalf("only %d of %d attempts within 30 s", done, attempts)
	}

	// the management API is at least as recent as a subscription made
	// after the churn: anything the churn had declared would show
	probe := "probe-" + strings.ToLower(unique(t))
	if err := chatter.Subscribe("probe", "/topic/"+probe); err != nil {
		t.Fatal(err)
	}
	waitTopicQueue(t, n, probe)
	for _, q := range newQueues(before, queueSet(t, n)) {
		if strings.Contains(q.Name, junk) || q.Durable || !q.AutoDelete {
			t.Errorf("queue %s (durable %v, auto-delete %v) appeared during the churn", q.Name, q.Durable, q.AutoDelete)
		}
	}
	chatRoundTrip(t, chatter, "room", room, "after churn")
	if got := r.srv.Relay().Reconnects(); got != 0 {
		t.Fatalf("upstream reconnected %d times", got)
	}
}

// TestConfiguredQueueCompetingConsumers: a queue the operator names in
// client_subscribe and client_send is a competing-consumer queue: two
// workers each get part of the jobs, every job once, whether a client
// SENDs it or the server pushes it.
func TestConfiguredQueueCompetingConsumers(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	n := rabbit
	queue := "jobs." + strings.ToLower(unique(t))
	cfg.Policy.ClientSubscribe = append(cfg.Policy.ClientSubscribe, "/queue/"+queue)
	cfg.Policy.ClientSend = append(cfg.Policy.ClientSend, "/queue/"+queue)
	r := start(t, cfg)
	deleteQueueAtCleanup(t, n, queue)

	workers := []*stomptest.Client{connect(t, r, "worker1"), connect(t, r, "worker2")}
	for _, w := range workers {
		if err := w.Subscribe("w", "/queue/"+queue); err != nil {
			t.Fatal(err)
		}
	}
	err := rabbittest.WaitFor(15*time.Second, func() (bool, error) {
		q, ok := queueSet(t, n)[queue]
		return ok && q.Consumers == 2, nil
	})
	if err != nil {
		t.Fatalf("queue %s never had 2 consumers: %v", queue, err)
	}

	// each worker's reader goroutine owns its client's reads until the
	// test closes the client
	type job struct{ worker, body string }
	got := make(chan job, 64)
	for i, w := range workers {
		go func() {
			for {
				f, err := w.Read(time.Minute)
				if err != nil {
					return
				}
				if f.Command == stomp.MESSAGE && f.Header("subscription") == "w" {
					got <- job{fmt.Sprint("worker", i+1), string(f.Body)}
				}
			}
		}()
	}
	const jobs = 20
	producer := connect(t, r, "producer")
	for i := range jobs / 2 {
		f := stomp.New(stomp.SEND, "destination", "/queue/"+queue, "content-type", "text/plain")
		f.Body = fmt.Appendf(nil, "job-%d", i)
		if err := producer.Send(f); err != nil {
			t.Fatal(err)
		}
	}
	for i := jobs / 2; i < jobs; i++ {
		h := stomp.Headers{{Key: "content-type", Value: "text/plain"}}
		if err := r.srv.Relay().Publish("/queue/"+queue, h, fmt.Appendf(nil, "job-%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	perWorker := map[string]int{}
	seen := map[string]bool{}
	timeout := time.After(20 * time.Second)
	for len(seen) < jobs {
		select {
		case j := <-got:
			if seen[j.body] {
				t.Fatalf("%s delivered twice", j.body)
			}
			seen[j.body] = true
			perWorker[j.worker]++
		case <-timeout:
			t.Fatalf("only %d of %d jobs delivered: %v", len(seen), jobs, perWorker)
		}
	}
	t.Logf("jobs per worker: %v", perWorker)
	if perWorker["worker1"] == 0 || perWorker["worker2"] == 0 {
		t.Fatalf("jobs per worker %v: want both to get part", perWorker)
	}
	for _, w := range workers {
		_ = w.Close()
	}
}

// TestSubscriptionChurnLeavesNothing: churning SUBSCRIBE/UNSUBSCRIBE on
// topics and /user/queue/ names (as many as the default SUBSCRIBE burst
// allows) leaves no queue in RabbitMQ once the client is gone: the queue
// behind each subscription is auto-delete.
func TestSubscriptionChurnLeavesNothing(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	n := rabbit
	r := start(t, cfg)
	before := queueSet(t, n)
	prefix := "churn-" + strings.ToLower(unique(t))
	c := connect(t, r, "churner")

	// one of each kept while the broker is looked at
	if err := c.Subscribe("t", "/topic/"+prefix+".0"); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe("u", "/user/queue/"+prefix+"-0"); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{prefix + ".0", "user.churner." + prefix + "-0"} {
		q := waitTopicQueue(t, n, key)
		t.Logf("queue behind %s: %s (durable %v, auto-delete %v, exclusive %v)", key, q.Name, q.Durable, q.AutoDelete, q.Exclusive)
		if q.Durable || !(q.AutoDelete || q.Exclusive) {
			t.Errorf("queue %s behind %s outlives its subscribers", q.Name, key)
		}
	}
	// the rest of the default burst (40) in SUBSCRIBE/UNSUBSCRIBE pairs
	var raw strings.Builder
	for i := 1; i < 19; i++ {
		for _, dest := range []string{fmt.Sprintf("/topic/%s.%d", prefix, i), fmt.Sprintf("/user/queue/%s-%d", prefix, i)} {
			fmt.Fprintf(&raw, "SUBSCRIBE\nid:%s\ndestination:%s\n\n\x00UNSUBSCRIBE\nid:%s\n\n\x00", dest, dest, dest)
		}
	}
	raw.WriteString("UNSUBSCRIBE\nid:t\n\n\x00UNSUBSCRIBE\nid:u\nreceipt:done\n\n\x00")
	if err := c.Raw([]byte(raw.String())); err != nil {
		t.Fatal(err)
	}
	if f, err := c.Expect(stomp.RECEIPT, 10*time.Second); err != nil || f.Header("receipt-id") != "done" {
		t.Fatalf("churn: %v %v", f, err)
	}
	_ = c.Close()

	// what is left: queues bound to a churned key, and any new queue that
	// is durable (the replica's own subscriptions, which the management
	// API may list only now, are auto-delete and bound to other keys)
	leftovers := func() []string {
		var out []string
		bs, err := n.Bindings()
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			if strings.Contains(b.RoutingKey, prefix) {
				out = append(out, b.Destination+" bound to "+b.RoutingKey)
			}
		}
		for _, q := range newQueues(before, queueSet(t, n)) {
			if q.Durable || !q.AutoDelete {
				out = append(out, q.Name+" (durable or not auto-delete)")
			}
		}
		return out
	}
	err := rabbittest.WaitFor(15*time.Second, func() (bool, error) { return len(leftovers()) == 0, nil })
	if err != nil {
		t.Fatalf("left behind: %v: %v", leftovers(), err)
	}
}
