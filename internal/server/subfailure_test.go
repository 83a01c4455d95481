package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// expectSubscriptionError reads c's frames until the /user/queue/errors
// MESSAGE (on subscription errs) about subscription id, and checks its
// code and destination. A RECEIPT for the failed SUBSCRIBE (receipt id
// failed), an ERROR or a closed socket fails the test; MESSAGEs on other
// subscriptions are skipped.
func expectSubscriptionError(t testing.TB, c *stomptest.Client, errs, failed, id, dest, code string, within time.Duration) subscribeRefusal {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		f, err := c.Read(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for %s about subscription %s: %v", code, id, err)
		}
		switch {
		case f.Command == stomp.RECEIPT && f.Header("receipt-id") == failed:
			t.Fatalf("RECEIPT %s for a SUBSCRIBE that failed", failed)
		case f.Command == stomp.ERROR:
			t.Fatalf("ERROR %q %q: the session was closed", f.Header("message"), f.Body)
		case f.Command == stomp.MESSAGE && f.Header("subscription") == errs:
			var e subscribeRefusal
			if err := json.Unmarshal(f.Body, &e); err != nil {
				t.Fatalf("error body %q: %v", f.Body, err)
			}
			if e.Code != code || e.Subscription != id || e.Destination != dest {
				t.Fatalf("error %+v, want code %s for subscription %s to %s", e, code, id, dest)
			}
			return e
		}
	}
}

// stillOpen fails the test if c's socket has closed.
func stillOpen(t testing.TB, c *stomptest.Client) {
	t.Helper()
	select {
	case <-c.Closed():
		t.Fatalf("socket closed: %v", c.CloseErr())
	default:
	}
}

// TestRoomNotReadyFailsOnlyThatSubscription subscribes to a room while
// RabbitMQ is stopped, so that the room's feed cannot learn where its log
// ends within its sync timeout (10 s). Only that SUBSCRIBE fails: the
// client gets room_unavailable on /user/queue/errors naming the
// destination and subscription id, no RECEIPT, and keeps its session;
// once the broker is back the same SUBSCRIBE (same id) works.
func TestRoomNotReadyFailsOnlyThatSubscription(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	r := start(t, cfg)
	room := createRoom(t, r, unique(t))
	// a room with a stream: the feed of one without (no message yet) is
	// synced on its empty log with no broker at all
	if err := r.srv.store.Open(context.Background(), room); err != nil {
		t.Fatal(err)
	}
	dest := "/topic/room." + room
	c := connect(t, r, "patient")
	if err := c.Subscribe("errs", "/user/queue/errors"); err != nil {
		t.Fatal(err)
	}

	restart := stopBroker(t, r)
	began := time.Now()
	if err := c.Send(stomp.New(stomp.SUBSCRIBE, "id", "room", "destination", dest, "receipt", "r1")); err != nil {
		t.Fatal(err)
	}
	e := expectSubscriptionError(t, c, "errs", "r1", "room", dest, "room_unavailable", 30*time.Second)
	t.Logf("after %v: %s", time.Since(began).Round(time.Millisecond), e.Message)
	stillOpen(t, c)

	restart()
	// the feed catches up with the broker within its sync timeout
	if err := c.Send(stomp.New(stomp.SUBSCRIBE, "id", "room", "destination", dest, "receipt", "r2")); err != nil {
		t.Fatal(err)
	}
	if f, err := c.Expect(stomp.RECEIPT, 30*time.Second); err != nil || f.Header("receipt-id") != "r2" {
		t.Fatalf("second SUBSCRIBE: %v %v", f, err)
	}
	chatRoundTrip(t, c, "room", room, "after the broker's return")
}

// limitedUser creates a broker user (password = name) that may use vhost
// except queues named denied-*, and deletes it at cleanup.
func limitedUser(t testing.TB, n *rabbittest.Node, vhost string) string {
	t.Helper()
	user := "limited-" + strings.ToLower(unique(t))
	if out, err := n.Ctl("add_user", user, user); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { _, _ = n.Ctl("delete_user", user) })
	// configure, write, read: everything but queues named denied-*
	if out, err := n.Ctl("set_permissions", "-p", vhost, user, "^(?!denied-).*", ".*", "^(?!denied-).*"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return user
}

// TestBrokerRefusedSubscribeEndsOnlyThatSubscription lets a client
// SUBSCRIBE to a queue the policy allows but the replica's broker user
// may not read: RabbitMQ refuses it (access_refused), which would close
// the upstream connection every client of the replica shares, but the
// relay asked on a probe connection first. The client gets
// subscribe_refused on /user/queue/errors naming the destination and
// subscription id within seconds, no RECEIPT, and keeps its session and
// its room subscription; a bystander keeps receiving; the shared
// connection was never lost. The same SUBSCRIBE again is refused at once
// without reaching the broker.
func TestBrokerRefusedSubscribeEndsOnlyThatSubscription(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	n := rabbit
	cfg.Broker.VHost = freshVHost(t)
	user := limitedUser(t, n, cfg.Broker.VHost)
	cfg.Broker.Login, cfg.Broker.Passcode = user, user
	cfg.Broker.Connections = 1
	denied := "/queue/denied-" + strings.ToLower(unique(t))
	cfg.Policy.ClientSubscribe = append(cfg.Policy.ClientSubscribe, denied)
	r := start(t, cfg)
	room := createRoom(t, r, unique(t))
	bystander := connect(t, r, "bystander")
	if err := bystander.Subscribe("b", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	c := connect(t, r, "victim")
	for _, s := range [][2]string{{"errs", "/user/queue/errors"}, {"room", "/topic/room." + room}} {
		if err := c.Subscribe(s[0], s[1]); err != nil {
			t.Fatal(err)
		}
	}

	began := time.Now()
	if err := c.Send(stomp.New(stomp.SUBSCRIBE, "id", "q", "destination", denied, "receipt", "rq")); err != nil {
		t.Fatal(err)
	}
	e := expectSubscriptionError(t, c, "errs", "rq", "q", denied, "subscribe_refused", 10*time.Second)
	t.Logf("refused after %v: %s", time.Since(began).Round(time.Millisecond), e.Message)
	if !strings.Contains(e.Message, "access_refused") || strings.Contains(e.Message, user) {
		t.Fatalf("message %q: want the broker's error name and not the broker user", e.Message)
	}
	stillOpen(t, c)
	chatRoundTrip(t, c, "room", room, "still subscribed")
	if _, err := bystander.Expect(stomp.MESSAGE, 10*time.Second); err != nil {
		t.Fatalf("bystander: %v", err)
	}
	assertStillReceives(t, r, bystander, "b", room, "login", "sender")
	// the victim, in the room too, gets that message as well
	if m, err := c.Expect(stomp.MESSAGE, 10*time.Second); err != nil || !strings.Contains(string(m.Body), "still here") {
		t.Fatalf("victim: %v", err)
	}

	if got := r.srv.Relay().Reconnects(); got != 0 {
		t.Fatalf("the refusal cost the shared connection: %d reconnects", got)
	}
	probes := r.srv.Relay().Probes()
	if err := c.Send(stomp.New(stomp.SUBSCRIBE, "id", "q", "destination", denied, "receipt", "rq2")); err != nil {
		t.Fatal(err)
	}
	expectSubscriptionError(t, c, "errs", "rq2", "q", denied, "subscribe_refused", 5*time.Second)
	chatRoundTrip(t, c, "room", room, "and still")
	if got, p := r.srv.Relay().Reconnects(), r.srv.Relay().Probes(); got != 0 || p != probes {
		t.Fatalf("the repeated SUBSCRIBE reached the broker: %d reconnects, %d probes (was %d)", got, p, probes)
	}
}
