package relay

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
)

// ackSink records frames and acknowledges each MESSAGE through its client
// as it arrives, while its budget lasts (a negative budget never ends).
type ackSink struct {
	*recSink
	c      atomic.Pointer[Client]
	budget atomic.Int64
	mu     sync.Mutex
	errs   []error
}

func newAckSink(name string, budget int64) *ackSink {
	s := &ackSink{recSink: newSink(name)}
	s.budget.Store(budget)
	return s
}

func (s *ackSink) Deliver(f *stomp.Frame) {
	if c := s.c.Load(); c != nil && f.Command == stomp.MESSAGE && s.budget.Add(-1) != -1 {
		if err := c.Ack(stomp.Headers{{Key: "id", Value: f.Header("ack")}}); err != nil {
			s.mu.Lock()
			s.errs = append(s.errs, err)
			s.mu.Unlock()
		}
	}
	s.recSink.Deliver(f)
}

// ackErrors fails the test if an ACK was refused.
func (s *ackSink) ackErrors(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) > 0 {
		t.Fatalf("%s: ACK refused: %v", s.name, s.errs)
	}
}

// streamHeaders are the SUBSCRIBE headers of a stream subscription.
func streamHeaders(offset, ack string, prefetch int, receipt string) stomp.Headers {
	return stomp.Headers{{Key: "ack", Value: ack}, {Key: "prefetch-count", Value: strconv.Itoa(prefetch)},
		{Key: streamOffsetHeader, Value: offset}, {Key: "receipt", Value: receipt}}
}

// declareStream makes a stream as a stream-declaring SUBSCRIBE does, and
// unsubscribes again. It returns the stream's /amq/queue destination.
func declareStream(t *testing.T, r *Relay) (name, dest string) {
	t.Helper()
	name = "stream-" + unique()
	s := newSink("declare")
	c := r.Attach(s)
	defer c.Close()
	h := stomp.Headers{{Key: "x-queue-type", Value: "stream"}, {Key: "durable", Value: "true"}, {Key: "auto-delete", Value: "false"}}
	h = append(h, streamHeaders("first", "client", 50, "decl")...)
	if err := c.Subscribe("decl", "/queue/"+name, h); err != nil {
		t.Fatal(err)
	}
	s.receipt(t, "decl")
	if err := c.Unsubscribe("decl", "undecl"); err != nil {
		t.Fatal(err)
	}
	s.receipt(t, "undecl")
	s.noErrors(t)
	return name, "/amq/queue/" + name
}

// publishAll publishes bodies to dest and waits until the broker accepted
// every one.
func publishAll(t *testing.T, r *Relay, dest string, bodies ...string) {
	t.Helper()
	acc := make(chan error, len(bodies))
	for _, b := range bodies {
		if err := r.Publish(dest, nil, []byte(b), func(err error) { acc <- err }); err != nil {
			t.Fatal(err)
		}
	}
	for range bodies {
		if err := waitErr(t, acc, 10*time.Second); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
}

// bodies returns "<prefix>000" ... for n messages.
func bodies(prefix string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, from+i)
	}
	return out
}

// nextMessage waits for the next MESSAGE and returns it with its offset.
func (s *recSink) nextMessage(t testing.TB, d time.Duration) (*stomp.Frame, int64) {
	t.Helper()
	f := s.waitFor(t, d, "MESSAGE", func(f *stomp.Frame) bool { return f.Command == stomp.MESSAGE })
	off, err := strconv.ParseInt(f.Header(streamOffsetHeader), 10, 64)
	if err != nil {
		t.Fatalf("%s: MESSAGE %q without a stream offset: %v", s.name, f.Body, f.Headers)
	}
	return f, off
}

// expectInOrder reads len(want) MESSAGEs and checks their bodies and that
// their offsets increase; it returns the offsets.
func (s *recSink) expectInOrder(t testing.TB, want []string) []int64 {
	t.Helper()
	offs := make([]int64, len(want))
	for i, w := range want {
		f, off := s.nextMessage(t, 10*time.Second)
		if string(f.Body) != w || (i > 0 && off <= offs[i-1]) {
			t.Fatalf("%s: message %d is %q at offset %d, want %q after offset %v", s.name, i, f.Body, off, w, offs[:i])
		}
		offs[i] = off
	}
	return offs
}

// (a) Reading a stream from an offset: exactly the messages from there on,
// in order, with credit flowing as the client acknowledges.
func TestRabbitStreamFromOffset(t *testing.T) {
	n := rabbittest.Require(t, node)
	r, _ := startRabbit(t, n, nil)
	_, dest := declareStream(t, r)
	all := bodies("m", 0, 130)
	publishAll(t, r, dest, all...)

	sa := newAckSink("from-first", -1)
	a := r.Attach(sa)
	sa.c.Store(a)
	if err := a.Subscribe("a", dest, streamHeaders("first", "client", 10, "ra")); err != nil {
		t.Fatal(err)
	}
	sa.receipt(t, "ra")
	offs := sa.expectInOrder(t, all)

	sb := newAckSink("from-offset", -1)
	b := r.Attach(sb)
	sb.c.Store(b)
	from := "offset=" + strconv.FormatInt(offs[30], 10)
	if err := b.Subscribe("b", dest, streamHeaders(from, "client-individual", 10, "rb")); err != nil {
		t.Fatal(err)
	}
	sb.receipt(t, "rb")
	got := sb.expectInOrder(t, all[30:])
	for i, off := range got {
		if off != offs[30+i] {
			t.Fatalf("message %q at offset %d, was %d", all[30+i], off, offs[30+i])
		}
	}
	// nothing else came before live traffic
	publishAll(t, r, dest, "tail")
	for _, s := range []*ackSink{sa, sb} {
		if f, _ := s.nextMessage(t, 10*time.Second); string(f.Body) != "tail" {
			t.Fatalf("%s: %q after the last message, want tail", s.name, f.Body)
		}
		s.ackErrors(t)
		s.noErrors(t)
	}
}

// (b) A broker outage in the middle of reading a stream: every message
// arrives exactly once, in offset order.
func TestRabbitStreamOutage(t *testing.T) {
	n := rabbittest.Require(t, node)
	r, _ := startRabbit(t, n, nil)
	_, dest := declareStream(t, r)
	before := bodies("pre", 0, 200)
	publishAll(t, r, dest, before...)

	// acknowledges 25, then holds: the broker stops after the credit
	sub := newAckSink("reader", 25)
	c := r.Attach(sub)
	sub.c.Store(c)
	if err := c.Subscribe("s", dest, streamHeaders("first", "client", 10, "r")); err != nil {
		t.Fatal(err)
	}
	sub.receipt(t, "r")
	seen := map[string]int64{}
	var order []int64
	take := func() {
		t.Helper()
		f, off := sub.nextMessage(t, 30*time.Second)
		if prev, dup := seen[string(f.Body)]; dup {
			t.Fatalf("%q delivered twice, at offsets %d and %d", f.Body, prev, off)
		}
		if k := len(order); k > 0 && off <= order[k-1] {
			t.Fatalf("%q at offset %d after offset %d", f.Body, off, order[k-1])
		}
		seen[string(f.Body)] = off
		order = append(order, off)
	}
	for len(seen) < 25 {
		take()
	}
	t.Logf("%d of %d delivered when the broker stops", len(seen)+len(sub.ch), len(before))

	if err := n.StopApp(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = n.StartApp()
		}
	})
	waitCond(t, 30*time.Second, "Ready() false while the broker is down", func() bool { return !r.Ready() })
	ps := newSink("publisher")
	pub := r.Attach(ps)
	during := bodies("out", 0, 50)
	var receipts []func(*stomp.Frame) bool
	for i, b := range during {
		id := "p" + strconv.Itoa(i)
		if err := pub.Send(dest, stomp.Headers{{Key: "receipt", Value: id}}, []byte(b)); err != nil {
			t.Fatal(err)
		}
		receipts = append(receipts, isReceipt(id))
	}
	sub.budget.Store(-1) // acknowledge everything from now on
	if err := n.StartApp(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	ps.collect(t, 60*time.Second, "receipts of the SENDs queued in the outage", receipts...)
	for len(seen) < len(before)+len(during) {
		take()
	}
	for _, b := range append(before, during...) {
		if _, ok := seen[b]; !ok {
			t.Fatalf("%q never delivered", b)
		}
	}
	publishAll(t, r, dest, "tail")
	if f, _ := sub.nextMessage(t, 10*time.Second); string(f.Body) != "tail" {
		t.Fatalf("%q after the last message, want tail", f.Body)
	}
	if r.Reconnects() == 0 {
		t.Fatal("Reconnects() = 0 after the broker's restart")
	}
	sub.ackErrors(t)
	sub.noErrors(t)
	ps.noErrors(t)
}

// socketOf returns the current upstream socket of connection i.
func socketOf(r *Relay, i int) *upSocket {
	c := r.conns[i]
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sock
}

// (c) Ending stream subscriptions that hold unacknowledged deliveries
// keeps the shared connection (no NACK reaches RabbitMQ) and the stream.
func TestRabbitStreamReleaseKeepsConnection(t *testing.T) {
	n := rabbittest.Require(t, node)
	r, _ := startRabbit(t, n, func(c *Config) { c.Connections = 1 })
	name, dest := declareStream(t, r)
	msgs := bodies("m", 0, 20)
	publishAll(t, r, dest, msgs...)
	topic := "/topic/stream-release-" + unique()
	sl := newSink("listener")
	listener := r.Attach(sl)
	if err := listener.Subscribe("t", topic, stomp.Headers{{Key: "receipt", Value: "rt"}}); err != nil {
		t.Fatal(err)
	}
	sl.receipt(t, "rt")

	sa, sb := newSink("unsubscriber"), newSink("closer")
	a, b := r.Attach(sa), r.Attach(sb)
	for _, x := range []struct {
		c   *Client
		s   *recSink
		ack string
	}{{a, sa, "client"}, {b, sb, "client-individual"}} {
		if err := x.c.Subscribe("s", dest, streamHeaders("first", x.ack, 50, "r")); err != nil {
			t.Fatal(err)
		}
		x.s.receipt(t, "r")
		x.s.expectInOrder(t, msgs) // and acknowledges none
	}
	sess, reconnects := socketOf(r, 0), r.Reconnects()

	if err := a.Unsubscribe("s", "u"); err != nil {
		t.Fatal(err)
	}
	sa.receipt(t, "u")
	b.Close()
	// frames on one connection are handled in order: once this arrives,
	// the broker has seen what the UNSUBSCRIBE and the Close sent
	if err := r.Publish(topic, nil, []byte("still-here"), nil); err != nil {
		t.Fatal(err)
	}
	sl.message(t, 10*time.Second, "still-here")
	if socketOf(r, 0) != sess || r.Reconnects() != reconnects {
		t.Fatal("the upstream connection was replaced")
	}

	qs, err := n.Queues()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, q := range qs {
		found = found || (q.Name == name && q.Type == "stream")
	}
	if !found {
		t.Fatalf("stream %s is gone after UNSUBSCRIBE and Close", name)
	}
	// and it still holds every message
	sc := newAckSink("again", -1)
	again := r.Attach(sc)
	sc.c.Store(again)
	if err := again.Subscribe("s", dest, streamHeaders("first", "client", 10, "r")); err != nil {
		t.Fatal(err)
	}
	sc.receipt(t, "r")
	sc.expectInOrder(t, msgs)
	sc.ackErrors(t)
	for _, s := range []*recSink{sa, sb, sl, sc.recSink} {
		s.noErrors(t)
	}
}

// (d) A client NACK on a stream subscription is refused and never reaches
// RabbitMQ, which would close the connection.
func TestRabbitStreamNackRefused(t *testing.T) {
	n := rabbittest.Require(t, node)
	r, _ := startRabbit(t, n, func(c *Config) { c.Connections = 1 })
	_, dest := declareStream(t, r)
	publishAll(t, r, dest, "m0", "m1")
	s := newSink("nacker")
	c := r.Attach(s)
	if err := c.Subscribe("s", dest, streamHeaders("first", "client-individual", 10, "r")); err != nil {
		t.Fatal(err)
	}
	s.receipt(t, "r")
	first, _ := s.nextMessage(t, 10*time.Second)
	if string(first.Body) != "m0" {
		t.Fatalf("got %q, want m0", first.Body)
	}
	s.expectInOrder(t, []string{"m1"})
	m0 := first.Header("ack")
	sess := socketOf(r, 0)
	for _, h := range []stomp.Headers{
		{{Key: "id", Value: m0}},
		{{Key: "message-id", Value: m0}, {Key: "subscription", Value: "s"}},
	} {
		if err := c.Nack(h); !errors.Is(err, ErrStreamNack) {
			t.Fatalf("NACK %v: %v, want ErrStreamNack", h, err)
		}
	}
	// the message is still the client's to acknowledge
	if err := c.Ack(stomp.Headers{{Key: "id", Value: m0}, {Key: "receipt", Value: "ack"}}); err != nil {
		t.Fatal(err)
	}
	s.receipt(t, "ack")
	publishAll(t, r, dest, "m2")
	if m, _ := s.nextMessage(t, 10*time.Second); string(m.Body) != "m2" {
		t.Fatalf("got %q, want m2", m.Body)
	}
	if socketOf(r, 0) != sess || r.Reconnects() != 0 {
		t.Fatal("the upstream connection was replaced")
	}
	s.noErrors(t)
}

// TestRabbitStreamDeletedUnderConsumer: deleting a stream cancels its
// consumers ("Server cancelled subscription" ERROR, connection kept). The
// relay tells that subscription's client, forgets the subscription (no
// restore, no reconnect loop), and the connection carries on for others.
func TestRabbitStreamDeletedUnderConsumer(t *testing.T) {
	n := rabbittest.Require(t, node)
	r, _ := startRabbit(t, n, func(c *Config) { c.Connections = 1 })
	name, dest := declareStream(t, r)
	publishAll(t, r, dest, "m0")
	s := newSink("doomed")
	c := r.Attach(s)
	if err := c.Subscribe("s", dest, streamHeaders("first", "client", 10, "r")); err != nil {
		t.Fatal(err)
	}
	s.receipt(t, "r")
	s.expectInOrder(t, []string{"m0"})
	other := newSink("other")
	oc := r.Attach(other)
	topic := "/topic/" + unique()
	if err := oc.Subscribe("t", topic, stomp.Headers{{Key: "receipt", Value: "rt"}}); err != nil {
		t.Fatal(err)
	}
	other.receipt(t, "rt")
	sess := socketOf(r, 0)
	if out, err := n.Ctl("delete_queue", name); err != nil {
		t.Fatalf("delete_queue: %v %s", err, out)
	}
	select {
	case f := <-s.ch:
		if f.Command != stomp.ERROR || f.Header("subscription") != "s" {
			t.Fatalf("got %s %v, want an ERROR for subscription s", f.Command, f.Headers)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no ERROR after the stream was deleted")
	}
	publishAll(t, r, topic, "still here")
	other.waitFor(t, 10*time.Second, "MESSAGE", func(f *stomp.Frame) bool { return string(f.Body) == "still here" })
	if socketOf(r, 0) != sess || r.Reconnects() != 0 {
		t.Fatal("the upstream connection was replaced")
	}
}
