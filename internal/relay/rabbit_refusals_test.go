package relay

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
)

// Every refusal RabbitMQ can make costs only the client that asked
// (probe.go): these tests make the broker refuse one client's frame, of
// each kind, while a bystander on the same (only) upstream connection
// receives a steady stream of topic messages published by another relay.
// The bystander must miss none, the relay must not reconnect, the asking
// client gets an ERROR naming the broker's reason, and the same frame again
// is refused at once.

// permVHost creates a vhost and a user for the test. The user may
// configure queues named ok-* (and RabbitMQ's stomp-subscription-*),
// write to amq.topic, the default exchange and ok-*, read amq.topic and
// ok-*; on amq.topic it may publish and subscribe to routing keys by-*
// and ok-* only. It returns the vhost and the user (password = name).
func permVHost(t *testing.T, n *rabbittest.Node) (vhost, user string) {
	t.Helper()
	vhost, user, ctl := vhostUser(t, n, "perms-")
	ctl("set_permissions", "-p", vhost, user,
		`^(stomp-subscription-.*|ok-.*)$`,                         // configure
		`^(amq\.topic|amq\.default|stomp-subscription-.*|ok-.*)$`, // write
		`^(amq\.topic|stomp-subscription-.*|ok-.*)$`)              // read
	ctl("set_topic_permissions", "-p", vhost, user, "amq.topic", `^(by|ok)-.*`, `^(by|ok)-.*`)
	return vhost, user
}

// streamSink counts the numbered messages of a steady stream and records
// everything else on an inner recSink.
type streamSink struct {
	*recSink
	mu   sync.Mutex
	seen map[int]bool
}

func (s *streamSink) Deliver(f *stomp.Frame) {
	if f.Command == stomp.MESSAGE {
		if n, err := strconv.Atoi(strings.TrimPrefix(string(f.Body), "seq-")); err == nil && strings.HasPrefix(string(f.Body), "seq-") {
			s.mu.Lock()
			s.seen[n] = true
			s.mu.Unlock()
			return
		}
	}
	s.recSink.Deliver(f)
}

// steadyStream publishes seq-0, seq-1, ... to topic through pub every
// 10 ms until stop is closed, and returns the numbers the broker
// receipted, once stopped.
func steadyStream(t *testing.T, pub *Relay, topic string, stop <-chan struct{}) func() []int {
	var mu sync.Mutex
	var accepted []int
	done := make(chan struct{})
	go func() {
		// owns the publisher's sequence; ends when stop is closed
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			n := i
			_ = pub.Publish(topic, nil, []byte("seq-"+strconv.Itoa(n)), func(err error) {
				if err == nil {
					mu.Lock()
					accepted = append(accepted, n)
					mu.Unlock()
				}
			})
		}
	}()
	return func() []int {
		<-done
		time.Sleep(200 * time.Millisecond) // the last receipts
		mu.Lock()
		defer mu.Unlock()
		return append([]int(nil), accepted...)
	}
}

// refusalCase is one frame RabbitMQ refuses.
type refusalCase struct {
	name string
	// setup prepares the broker (vhost, relay logged in as user) and
	// returns the destination and headers of the refused frame.
	setup func(t *testing.T, n *rabbittest.Node, vhost, user string) (dest string, h stomp.Headers)
	send  bool   // a SEND; otherwise a SUBSCRIBE
	want  string // the broker's reason, in the ERROR
}

func refusalCases() []refusalCase {
	plain := func(dest string) func(*testing.T, *rabbittest.Node, string, string) (string, stomp.Headers) {
		return func(*testing.T, *rabbittest.Node, string, string) (string, stomp.Headers) { return dest, nil }
	}
	return []refusalCase{
		{name: "SubscribeMissingExchange", setup: plain("/exchange/ok-missing-" + unique()), want: "not_found"},
		{name: "SubscribeMissingAmqQueue", setup: plain("/amq/queue/ok-missing-" + unique()), want: "not_found"},
		{name: "SubscribeQueueOtherArgs", want: "precondition_failed",
			setup: func(t *testing.T, n *rabbittest.Node, vhost, user string) (string, stomp.Headers) {
				// a queue declared (by another relay) with x-max-length
				q := "/queue/ok-args-" + unique()
				other, _ := startRabbit(t, n, func(c *Config) { c.VHost, c.Login, c.Passcode = vhost, user, user })
				s := newSink("declarer")
				oc := other.Attach(s)
				if err := oc.Subscribe("q", q, stomp.Headers{{Key: "x-max-length", Value: "10"}, {Key: "receipt", Value: "r"}}); err != nil {
					t.Fatal(err)
				}
				s.receipt(t, "r")
				return q, nil
			}},
		{name: "SubscribeQueueDenied", setup: plain("/queue/denied-" + unique()), want: "access_refused"},
		{name: "SubscribeTopicDenied", setup: plain("/topic/secret-" + unique()), want: "access_refused"},
		{name: "SubscribeExchangeDenied", setup: plain("/exchange/amq.fanout"), want: "access_refused"},
		{name: "SubscribeInvalidHeader", want: "Processing error",
			setup: func(*testing.T, *rabbittest.Node, string, string) (string, stomp.Headers) {
				return "/queue/ok-bad-" + unique(), stomp.Headers{{Key: "x-max-length", Value: "many"}}
			}},
		{name: "SendMissingExchange", send: true, setup: plain("/exchange/ok-missing-" + unique() + "/key"), want: "not_found"},
		{name: "SendExchangeDenied", send: true, setup: plain("/exchange/amq.fanout/key"), want: "access_refused"},
		{name: "SendTopicDenied", send: true, setup: plain("/topic/secret-" + unique()), want: "access_refused"},
		{name: "SendQueueDenied", send: true, setup: plain("/queue/denied-" + unique()), want: "access_refused"},
		{name: "SendInvalidHeader", send: true, want: "precondition_failed",
			setup: func(*testing.T, *rabbittest.Node, string, string) (string, stomp.Headers) {
				return "/topic/ok-" + unique(), stomp.Headers{{Key: "expiration", Value: "soon"}}
			}},
		{name: "SendInvalidPriority", send: true, want: "Processing error",
			setup: func(*testing.T, *rabbittest.Node, string, string) (string, stomp.Headers) {
				return "/topic/ok-" + unique(), stomp.Headers{{Key: "priority", Value: "high"}}
			}},
		{name: "SendForeignUserID", send: true, want: "precondition_failed",
			setup: func(*testing.T, *rabbittest.Node, string, string) (string, stomp.Headers) {
				return "/topic/ok-" + unique(), stomp.Headers{{Key: "user-id", Value: "someone-else"}}
			}},
	}
}

// TestRabbitRefusalCostsOnlyItsClient runs every refusalCase, and every
// SEND case again with the SEND first made inside a transaction (the
// broker refuses it at COMMIT).
func TestRabbitRefusalCostsOnlyItsClient(t *testing.T) {
	n := rabbittest.Require(t, node)
	for _, tc := range refusalCases() {
		t.Run(tc.name, func(t *testing.T) { runRefusal(t, n, tc, false) })
		if tc.send {
			t.Run(tc.name+"InTransaction", func(t *testing.T) { runRefusal(t, n, tc, true) })
		}
	}
}

func runRefusal(t *testing.T, n *rabbittest.Node, tc refusalCase, inTx bool) {
	vhost, user := permVHost(t, n)
	login := func(c *Config) { c.VHost, c.Login, c.Passcode = vhost, user, user }
	r, pd := startRabbit(t, n, func(c *Config) {
		login(c)
		c.Connections = 1 // every client on the one connection
	})
	pub, _ := startRabbit(t, n, login)
	dest, h := tc.setup(t, n, vhost, user)

	// the bystander: a steady stream on the shared connection
	topic := "/topic/by-" + unique()
	by := &streamSink{recSink: newSink("bystander"), seen: map[int]bool{}}
	bc := r.Attach(by)
	if err := bc.Subscribe("t", topic, stomp.Headers{{Key: "receipt", Value: "rt"}}); err != nil {
		t.Fatal(err)
	}
	by.receipt(t, "rt")
	// the one shared connection (probe connections come and go, and the
	// management API lists them a little late)
	const conns = 1
	waitCond(t, 15*time.Second, "the relay's one connection on the broker", func() bool {
		now, err := relayConnections(n, pd)
		return err == nil && now == conns
	})
	stop := make(chan struct{})
	accepted := steadyStream(t, pub, topic, stop)
	time.Sleep(100 * time.Millisecond)

	victim := newSink("victim")
	vc := r.Attach(victim)
	ask := func(round int) (time.Duration, string) {
		t.Helper()
		began := time.Now()
		if tc.send && inTx {
			tx := "tx" + strconv.Itoa(round)
			if err := vc.Begin(tx, ""); err != nil {
				t.Fatal(err)
			}
			err := vc.Send(dest, append(h.Clone(), stomp.Header{Key: "transaction", Value: tx},
				stomp.Header{Key: "receipt", Value: "s" + strconv.Itoa(round)}), []byte("refused"))
			if err == nil {
				// held until COMMIT, which the broker refuses
				err = vc.Commit(tx, "c"+strconv.Itoa(round))
			}
			var refused *RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("transaction with a SEND to %s: %v, want a refusal", dest, err)
			}
			return time.Since(began), err.Error()
		}
		if tc.send {
			err := vc.Send(dest, append(h.Clone(), stomp.Header{Key: "receipt", Value: "s" + strconv.Itoa(round)}), []byte("refused"))
			if err == nil {
				select {
				case f := <-victim.ch:
					t.Fatalf("SEND %s: got %s %v %q, want an error", dest, f.Command, f.Headers, f.Body)
				case <-time.After(5 * time.Second):
					t.Fatalf("SEND %s: accepted, nothing said within 5s", dest)
				}
			}
			return time.Since(began), err.Error()
		}
		id := "d" + strconv.Itoa(round)
		if err := vc.Subscribe(id, dest, append(h.Clone(), stomp.Header{Key: "receipt", Value: "r" + id})); err != nil {
			t.Fatalf("SUBSCRIBE %s: %v", dest, err)
		}
		f := victim.waitSubError(t, 10*time.Second, id)
		if f.Header("receipt-id") != "r"+id {
			t.Fatalf("refusal %v %q, want receipt-id r%s", f.Headers, f.Body, id)
		}
		return time.Since(began), f.Header("message") + ": " + string(f.Body)
	}
	took, said := ask(1)
	t.Logf("first refusal after %v: %s", took.Round(time.Millisecond), said)
	if !strings.Contains(said, tc.want) {
		t.Errorf("refusal says %q, want %s", said, tc.want)
	}
	took, said = ask(2)
	t.Logf("second refusal after %v: %s", took.Round(time.Millisecond), said)
	if !strings.Contains(said, tc.want) || took > time.Second {
		t.Errorf("second refusal after %v says %q, want %s at once", took, said, tc.want)
	}

	if tc.send {
		// refused lately: refused at once, in a transaction too
		if err := vc.Begin("tx", ""); err != nil {
			t.Fatal(err)
		}
		err := vc.Send(dest, append(h.Clone(), stomp.Header{Key: "transaction", Value: "tx"}), []byte("in tx"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SEND in a transaction: %v, want %s", err, tc.want)
		}
		if err := vc.Abort("tx", ""); err != nil {
			t.Fatal(err)
		}
	}

	time.Sleep(300 * time.Millisecond)
	close(stop)
	want := accepted()
	if err := pub.Publish(topic, nil, []byte("end"), nil); err != nil {
		t.Fatal(err)
	}
	by.message(t, 10*time.Second, "end")
	by.mu.Lock()
	var missed []int
	for _, k := range want {
		if !by.seen[k] {
			missed = append(missed, k)
		}
	}
	by.mu.Unlock()
	t.Logf("bystander received %d of %d stream messages", len(want)-len(missed), len(want))
	if len(missed) > 0 {
		t.Errorf("bystander missed %d messages: %v", len(missed), missed)
	}
	if got := r.Reconnects(); got != 0 {
		t.Errorf("the refusal cost the shared connection: %d reconnects", got)
	}
	waitCond(t, 15*time.Second, "the relay's connections on the broker as before", func() bool {
		now, err := relayConnections(n, pd)
		return err == nil && now == conns
	})
	by.noErrors(t)
}

// TestRabbitServerPublishRefused: the server's own publishes (presence,
// rooms) to a topic the relay's broker user may not publish to are
// refused on one probe, each publish told through onAccepted, and never
// cost the shared connection; publishes of a new kind that queue behind
// its probe arrive in order.
func TestRabbitServerPublishRefused(t *testing.T) {
	n := rabbittest.Require(t, node)
	vhost, user := permVHost(t, n)
	r, _ := startRabbit(t, n, func(c *Config) {
		c.VHost, c.Login, c.Passcode = vhost, user, user
		c.Connections = 1
	})
	sub := newSink("subscriber")
	sc := r.Attach(sub)
	ordered := "/topic/ok-" + unique()
	if err := sc.Subscribe("o", ordered, stomp.Headers{{Key: "receipt", Value: "ro"}}); err != nil {
		t.Fatal(err)
	}
	sub.receipt(t, "ro")

	probes := r.Probes()
	denied := "/topic/secret-" + unique()
	errs := make(chan error, 20)
	for i := 0; i < 10; i++ {
		if err := r.Publish(denied, nil, []byte("x"), func(err error) { errs <- err }); err != nil {
			t.Logf("publish %d refused at once: %v", i, err)
		}
		// a new kind, in order behind its probe
		if err := r.Publish(ordered, nil, []byte("m"+strconv.Itoa(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		select {
		case err := <-errs:
			if err == nil || !strings.Contains(err.Error(), "access_refused") {
				t.Fatalf("publish %d: %v, want access_refused", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("publish %d: no answer", i)
		}
	}
	for i := 0; i < 10; i++ {
		if f := sub.next(t, 10*time.Second); f.Command != stomp.MESSAGE || string(f.Body) != "m"+strconv.Itoa(i) {
			t.Fatalf("got %s %q, want MESSAGE m%d (in order)", f.Command, f.Body, i)
		}
	}
	if got := r.Probes() - probes; got != 2 {
		t.Errorf("%d probes, want 2 (one per kind)", got)
	}
	if got := r.Reconnects(); got != 0 {
		t.Errorf("%d reconnects, want none", got)
	}
	sub.noErrors(t)
}

// TestRabbitQueueProbeLosesNothing: the probe of a queue SUBSCRIBE may
// take a message, and gives it back when it hangs up: the subscriber
// that follows gets every message of the queue.
func TestRabbitQueueProbeLosesNothing(t *testing.T) {
	n := rabbittest.Require(t, node)
	vhost, user := permVHost(t, n)
	login := func(c *Config) { c.VHost, c.Login, c.Passcode = vhost, user, user }
	pub, _ := startRabbit(t, n, login)
	queue := "/queue/ok-" + unique()
	for i := 0; i < 5; i++ {
		done := make(chan error, 1)
		if err := pub.Publish(queue, nil, []byte("m"+strconv.Itoa(i)), func(err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	r, _ := startRabbit(t, n, login) // a relay that has not probed it yet
	s := newSink("consumer")
	c := r.Attach(s)
	probes := r.Probes()
	if err := c.Subscribe("q", queue, stomp.Headers{{Key: "ack", Value: "client-individual"}}); err != nil {
		t.Fatal(err)
	}
	if r.Probes() != probes+1 {
		t.Fatalf("%d probes, want 1", r.Probes()-probes)
	}
	got := map[string]bool{}
	redelivered := 0
	for len(got) < 5 {
		f := s.next(t, 10*time.Second)
		if f.Command != stomp.MESSAGE {
			t.Fatalf("got %s %v", f.Command, f.Headers)
		}
		got[string(f.Body)] = true
		if f.Header("redelivered") == "true" {
			redelivered++
		}
		if err := c.Ack(stomp.Headers{{Key: "id", Value: f.Header("ack")}}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("all 5 messages arrived; %d marked redelivered", redelivered)
	s.quiet(t, 300*time.Millisecond)
}

// TestRabbitServerPublishesToRoomsShareOneProbe: the server's publishes
// to many rooms (/topic/room.<id>) are one kind for probes, so the first
// message of each of 20 rooms costs one probe in all, not one per room;
// refused ones are one kind too (refused at once after the first probe),
// and the shared connection stays up.
func TestRabbitServerPublishesToRoomsShareOneProbe(t *testing.T) {
	n := rabbittest.Require(t, node)
	vhost, user := permVHost(t, n)
	r, _ := startRabbit(t, n, func(c *Config) {
		c.VHost, c.Login, c.Passcode = vhost, user, user
		c.Connections = 1
	})
	rooms := "ok-" + unique()
	probes := r.Probes()
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		if err := r.Publish("/topic/"+rooms+".room"+strconv.Itoa(i), nil, []byte("m"), func(err error) { errs <- err }); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 20; i++ {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatalf("publish %d: %v", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("publish %d: no receipt", i)
		}
	}
	if got := r.Probes() - probes; got != 1 {
		t.Errorf("%d probes for 20 rooms' first messages, want 1", got)
	}
	probes = r.Probes()
	denied := "secret-" + unique()
	for i := 0; i < 5; i++ {
		if err := r.Publish("/topic/"+denied+".room"+strconv.Itoa(i), nil, []byte("x"), func(err error) { errs <- err }); err != nil {
			t.Logf("publish %d refused at once: %v", i, err)
		}
	}
	for i := 0; i < 5; i++ {
		select {
		case err := <-errs:
			if err == nil || !strings.Contains(err.Error(), "access_refused") {
				t.Fatalf("denied publish %d: %v, want access_refused", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("denied publish %d: no answer", i)
		}
	}
	if got := r.Probes() - probes; got != 1 {
		t.Errorf("%d probes for 5 refused rooms, want 1", got)
	}
	if got := r.Reconnects(); got != 0 {
		t.Errorf("%d reconnects, want none", got)
	}
}
