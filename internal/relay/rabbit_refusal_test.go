package relay

import (
	"strings"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
)

// restrictedVHost creates a vhost and a user of its own for the test
// that may use topics and queues named ok-* but no other queue, and
// returns them (the password is the user name).
func restrictedVHost(t *testing.T, n *rabbittest.Node) (vhost, user string) {
	t.Helper()
	vhost, user, ctl := vhostUser(t, n, "refusals-")
	// configure, write, read
	ctl("set_permissions", "-p", vhost, user, `^(stomp-subscription-.*|ok-.*)$`, ".*", `^(amq\.topic|stomp-subscription-.*|ok-.*)$`)
	return vhost, user
}

// vhostUser creates a vhost named after prefix and a user (password =
// name) without permissions, both deleted when the test ends, and
// returns them with ctl, which runs rabbitmqctl and fails the test on an
// error.
func vhostUser(t *testing.T, n *rabbittest.Node, prefix string) (vhost, user string, ctl func(args ...string)) {
	t.Helper()
	vhost, user = prefix+unique(), "relay-"+unique()
	ctl = func(args ...string) {
		t.Helper()
		if out, err := n.Ctl(args...); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	ctl("add_vhost", vhost)
	t.Cleanup(func() { _, _ = n.Ctl("delete_vhost", vhost) })
	ctl("add_user", user, user)
	t.Cleanup(func() { _, _ = n.Ctl("delete_user", user) })
	return vhost, user, ctl
}

// isSubError matches the ERROR that ends one subscription.
func isSubError(id string) func(*stomp.Frame) bool {
	return func(f *stomp.Frame) bool { return f.Command == stomp.ERROR && f.Header("subscription") == id }
}

// waitSubError skips frames until the ERROR ending subscription id; any
// other ERROR fails the test.
func (s *recSink) waitSubError(t testing.TB, d time.Duration, id string) *stomp.Frame {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case f := <-s.ch:
			if isSubError(id)(f) {
				return f
			}
			if f.Command == stomp.ERROR {
				t.Fatalf("%s: ERROR %v %q, want one for subscription %s", s.name, f.Headers, f.Body, id)
			}
		case <-deadline:
			t.Fatalf("%s: no ERROR for subscription %s within %v", s.name, id, d)
			return nil
		}
	}
}

// TestRabbitSubscribeRefused makes RabbitMQ refuse one client's
// SUBSCRIBE (its broker user may not touch the queue: access_refused,
// after which RabbitMQ closes the connection every client shares). The
// client is told within seconds, with an ERROR naming only that
// subscription and carrying the receipt it waited for; the relay drops
// the subscription instead of re-sending it after every reconnect. The
// other clients on the connection keep their topic and queue
// subscriptions, and so does the refused client. The same SUBSCRIBE again
// is refused at once from the relay's memory, without reaching the
// broker (no reconnect). Probes (probe.go), which keep the refusal off the
// shared connection, are off: this is what happens after a refusal the
// relay did not see coming (a subscription re-sent after a reconnect, a
// queue deleted since the probe).
func TestRabbitSubscribeRefused(t *testing.T) {
	n := rabbittest.Require(t, node)
	probeRabbit = false
	t.Cleanup(func() { probeRabbit = true })
	vhost, user := restrictedVHost(t, n)
	r, _ := startRabbit(t, n, func(c *Config) {
		c.Connections = 1 // every client on the one connection
		c.VHost, c.Login, c.Passcode = vhost, user, user
	})
	topic := "/topic/by-" + unique()
	queue := "/queue/ok-" + unique()
	by := newSink("bystander")
	bc := r.Attach(by)
	if err := bc.Subscribe("t", topic, stomp.Headers{{Key: "receipt", Value: "rt"}}); err != nil {
		t.Fatal(err)
	}
	if err := bc.Subscribe("q", queue, stomp.Headers{{Key: "ack", Value: "client-individual"}, {Key: "receipt", Value: "rq"}}); err != nil {
		t.Fatal(err)
	}
	by.collect(t, 10*time.Second, "subscription receipts", isReceipt("rt"), isReceipt("rq"))
	victim := newSink("victim")
	vc := r.Attach(victim)
	if err := vc.Subscribe("live", topic, stomp.Headers{{Key: "receipt", Value: "rl"}}); err != nil {
		t.Fatal(err)
	}
	victim.receipt(t, "rl")

	denied := "/queue/denied-" + unique()
	began := time.Now()
	if err := vc.Subscribe("d", denied, stomp.Headers{{Key: "receipt", Value: "rd"}}); err != nil {
		t.Fatal(err)
	}
	f := victim.waitSubError(t, 10*time.Second, "d")
	t.Logf("refusal reached the client after %v: %v %q", time.Since(began).Round(time.Millisecond), f.Headers, f.Body)
	if f.Header("receipt-id") != "rd" || !strings.Contains(f.Header("message"), "refused") || !strings.Contains(string(f.Body), "access_refused") {
		t.Fatalf("refusal %v %q, want receipt-id rd and access_refused", f.Headers, f.Body)
	}

	// RabbitMQ closed the shared connection; it comes back without the
	// refused subscription, and everything else works again
	waitCond(t, 10*time.Second, "a reconnect after the refusal", func() bool { return r.Reconnects() > 0 && r.Ready() })
	reconnects := r.Reconnects()
	var body string
	waitCond(t, 10*time.Second, "the topic delivering again", func() bool {
		body = "after-" + unique()
		if err := r.Publish(topic, nil, []byte(body), nil); err != nil {
			t.Fatal(err)
		}
		select {
		case f := <-victim.ch:
			if f.Command == stomp.ERROR {
				t.Fatalf("victim: %v %q", f.Headers, f.Body)
			}
			return f.Command == stomp.MESSAGE && string(f.Body) == body
		case <-time.After(200 * time.Millisecond):
			return false
		}
	})
	by.message(t, 10*time.Second, body)
	if err := bc.Send(queue, stomp.Headers{{Key: "receipt", Value: "sq"}}, []byte("queued")); err != nil {
		t.Fatal(err)
	}
	by.collect(t, 10*time.Second, "the queue's message", isReceipt("sq"), isMessage("queued"))

	// the same SUBSCRIBE (and id) again: refused from memory
	began = time.Now()
	if err := vc.Subscribe("d", denied, stomp.Headers{{Key: "receipt", Value: "rd2"}}); err != nil {
		t.Fatal(err)
	}
	f = victim.waitSubError(t, 5*time.Second, "d")
	if f.Header("receipt-id") != "rd2" {
		t.Fatalf("second refusal %v %q, want receipt-id rd2", f.Headers, f.Body)
	}
	t.Logf("second refusal after %v", time.Since(began).Round(time.Millisecond))
	if got := r.Reconnects(); got != reconnects {
		t.Fatalf("the repeated SUBSCRIBE reached the broker: %d reconnects, was %d", got, reconnects)
	}
	if err := r.Publish(topic, nil, []byte("last"), nil); err != nil {
		t.Fatal(err)
	}
	by.message(t, 10*time.Second, "last")
	victim.message(t, 10*time.Second, "last")
	by.noErrors(t)
	victim.noErrors(t)
}
