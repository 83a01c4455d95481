package relay

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/stomp"
)

// sinkWait bounds waiting for a frame handle delivered already.
const sinkWait = 5 * time.Second

// leakMarks are pieces of RabbitMQ's ids that no header a client sees
// may contain. ("T_", the start of its ids, may occur in a relay id by
// chance; "@@" never does: relay ids are base64url.)
var leakMarks = []string{"@@", "session-"}

// checkRelayIDs fails unless f's message-id is one of the relay's ids
// and, for a client-ack delivery, its ack header is the same value (none
// otherwise), no header value carries a broker id, and the relay's
// upstream receipt and transaction ids (which RabbitMQ copies from a SEND
// to its MESSAGEs) are gone.
func checkRelayIDs(t testing.TB, f *stomp.Frame, clientAck bool) {
	t.Helper()
	id := f.Header("message-id")
	if len(id) != msgIDLen || strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		t.Fatalf("message-id %q is not a relay id (headers %v)", id, f.Headers)
	}
	if ack, ok := f.Headers.Get("ack"); clientAck && ack != id || !clientAck && ok {
		t.Fatalf("ack header %q (present %v) with message-id %q, client ack %v", ack, ok, id, clientAck)
	}
	for _, kv := range f.Headers {
		if kv.Key == "receipt" || kv.Key == "transaction" {
			t.Fatalf("MESSAGE carries the relay's upstream %s header %q", kv.Key, kv.Value)
		}
		for _, m := range leakMarks {
			if strings.Contains(kv.Value, m) {
				t.Fatalf("header %s: %q shows %q", kv.Key, kv.Value, m)
			}
		}
	}
}

// forgeID changes the last character of a relay id: a guess next to a
// real one.
func forgeID(id string) string {
	if id == "" {
		return "x"
	}
	last := byte('A')
	if id[len(id)-1] == 'A' {
		last = 'B'
	}
	return id[:len(id)-1] + string(last)
}

// takeWritten returns and empties what the connection wrote upstream.
func takeWritten(c *upConn, s *upSocket) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := string(s.wbuf)
	s.wbuf = s.wbuf[:0]
	return out
}

func TestIDGenUniqueAndOpaque(t *testing.T) {
	g := idGen{block: newIDCipher(), conn: 1}
	h := idGen{block: g.block, conn: 2}
	other := idGen{block: newIDCipher(), conn: 1}
	seen := make(map[string]bool)
	for i := 0; i < 50000; i++ {
		for _, id := range []string{g.next(), h.next()} {
			if len(id) != msgIDLen || seen[id] {
				t.Fatalf("id %d %q: length %d, seen before %v", i, id, len(id), seen[id])
			}
			seen[id] = true
		}
	}
	// another relay (another key) issues other ids for the same counter
	if first := (&idGen{block: g.block, conn: 1}).next(); first == other.next() {
		t.Fatalf("two relays issued the same first id %q", first)
	}
}

// The copies of one shared topic message carry one relay id, the same
// for every subscriber and new for every message.
func TestSharedMessageIDs(t *testing.T) {
	r, c, s := manualConn(t)
	sinks := []*recSink{newSink("a"), newSink("b"), newSink("c")}
	for _, k := range sinks {
		if err := r.Attach(k).Subscribe("t-"+k.name, "/topic/ids", nil); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	up := c.shared["/topic/ids"].id
	c.mu.Unlock()
	var prev string
	for tag := 1; tag <= 3; tag++ {
		f := upstreamMessage(up, tag, false, []byte("hi"))
		// as RabbitMQ copies them from the relay's SEND
		f.Headers = append(f.Headers, stomp.Header{Key: "receipt", Value: "r7"}, stomp.Header{Key: "transaction", Value: "t3"})
		c.handle(s, f)
		var id string
		for _, k := range sinks {
			f := k.next(t, sinkWait)
			checkRelayIDs(t, f, false)
			if f.Header("subscription") != "t-"+k.name {
				t.Fatalf("%s: subscription %q", k.name, f.Header("subscription"))
			}
			if id == "" {
				id = f.Header("message-id")
			} else if f.Header("message-id") != id {
				t.Fatalf("message %d: %s got id %q, another subscriber %q", tag, k.name, f.Header("message-id"), id)
			}
		}
		if id == prev {
			t.Fatalf("messages %d and %d share id %q", tag-1, tag, id)
		}
		prev = id
	}
}

// A client-ack delivery's relay id acks and nacks the broker's delivery,
// by STOMP 1.2 id or 1.1 message-id; any other id (another client's, a
// guess, the broker's own, one already settled) is refused and nothing
// reaches the broker.
func TestClientAckIDsMapBack(t *testing.T) {
	r, c, s := manualConn(t)
	sa, sb := newSink("a"), newSink("b")
	a, b := r.Attach(sa), r.Attach(sb)
	for _, x := range []*Client{a, b} {
		if err := x.Subscribe("q", "/queue/ids", stomp.Headers{{Key: "ack", Value: "client-individual"}}); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	upA, upB := a.subs["q"].up.id, b.subs["q"].up.id
	c.mu.Unlock()
	takeWritten(c, s)
	deliver := func(up string, tag int, k *recSink) (*stomp.Frame, string) {
		in := upstreamMessage(up, tag, true, []byte("job"))
		in.Headers = append(in.Headers, stomp.Header{Key: "receipt", Value: "r9"})
		c.handle(s, in)
		f := k.next(t, sinkWait)
		checkRelayIDs(t, f, true)
		return f, "T_" + up + "@@session-Wd8kGrIjNhM_wZoUfMM8Hw@@" + string(rune('0'+tag))
	}
	fa1, upID1 := deliver(upA, 1, sa)
	fa2, upID2 := deliver(upA, 2, sa)
	fb, _ := deliver(upB, 3, sb)

	refused := func(cl *Client, h stomp.Headers) {
		t.Helper()
		for _, settle := range []func(stomp.Headers) error{cl.Ack, cl.Nack} {
			if err := settle(h); !errors.Is(err, ErrUnknownAck) {
				t.Fatalf("%v: %v, want ErrUnknownAck", h, err)
			}
		}
		if w := takeWritten(c, s); w != "" {
			t.Fatalf("%v reached the broker: %q", h, w)
		}
	}
	refused(a, stomp.Headers{{Key: "id", Value: fb.Header("ack")}})                                                   // b's
	refused(a, stomp.Headers{{Key: "message-id", Value: fb.Header("message-id")}, {Key: "subscription", Value: "q"}}) // b's, 1.1
	refused(a, stomp.Headers{{Key: "id", Value: forgeID(fa1.Header("ack"))}})                                         // a guess
	refused(a, stomp.Headers{{Key: "id", Value: upID1}})                                                              // the broker's own
	refused(a, stomp.Headers{{Key: "id", Value: "made-up"}})

	// STOMP 1.2: ACK id
	if err := a.Ack(stomp.Headers{{Key: "id", Value: fa1.Header("ack")}}); err != nil {
		t.Fatal(err)
	}
	if w := takeWritten(c, s); w != "ACK\nid:"+upID1+"\n\n\x00" {
		t.Fatalf("upstream %q, want the ACK of %s", w, upID1)
	}
	refused(a, stomp.Headers{{Key: "id", Value: fa1.Header("ack")}}) // reused
	// STOMP 1.1: NACK message-id + subscription
	if err := a.Nack(stomp.Headers{{Key: "message-id", Value: fa2.Header("message-id")}, {Key: "subscription", Value: "q"}}); err != nil {
		t.Fatal(err)
	}
	if w := takeWritten(c, s); w != "NACK\nid:"+upID2+"\n\n\x00" {
		t.Fatalf("upstream %q, want the NACK of %s", w, upID2)
	}
	refused(a, stomp.Headers{{Key: "message-id", Value: fa2.Header("message-id")}, {Key: "subscription", Value: "q"}})
	// STOMP 1.1 naming another subscription (or none the client has):
	// RabbitMQ resolves the ACK by message-id alone, and so does the relay
	fa3, upID3 := deliver(upA, 4, sa)
	if err := a.Ack(stomp.Headers{{Key: "message-id", Value: fa3.Header("message-id")}, {Key: "subscription", Value: "not-q"}}); err != nil {
		t.Fatalf("1.1 ACK with another subscription id: %v", err)
	}
	if w := takeWritten(c, s); w != "ACK\nid:"+upID3+"\n\n\x00" {
		t.Fatalf("upstream %q, want the ACK of %s", w, upID3)
	}
	// nothing unsettled is left in a's table
	c.mu.Lock()
	left := len(a.subs["q"].up.acks.byID) + len(a.subs["q"].up.acks.order)
	c.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d entries left after every delivery was settled", left)
	}
	sa.noErrors(t)
	sb.noErrors(t)
}

// The ack table holds only what is unsettled: UNSUBSCRIBE and Close
// empty it (giving the deliveries back), and a guess after that is still
// refused.
func TestClientAckTableBounded(t *testing.T) {
	r, c, s := manualConn(t)
	k := newSink("a")
	a := r.Attach(k)
	if err := a.Subscribe("q", "/queue/ids", stomp.Headers{{Key: "ack", Value: "client"}}); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	sub := a.subs["q"].up
	c.mu.Unlock()
	var last *stomp.Frame
	for tag := 1; tag <= 500; tag++ {
		c.handle(s, upstreamMessage(sub.id, tag, true, []byte("x")))
		last = k.next(t, sinkWait)
	}
	c.mu.Lock()
	held := len(sub.acks.byID)
	c.mu.Unlock()
	if held != 500 {
		t.Fatalf("%d entries for 500 unsettled deliveries", held)
	}
	// a cumulative ACK settles all 500, one upstream ACK each
	takeWritten(c, s)
	if err := a.Ack(stomp.Headers{{Key: "id", Value: last.Header("ack")}}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(takeWritten(c, s), "ACK\n"); n != 500 {
		t.Fatalf("%d upstream ACKs, want 500", n)
	}
	for tag := 501; tag <= 510; tag++ {
		c.handle(s, upstreamMessage(sub.id, tag, true, []byte("x")))
		last = k.next(t, sinkWait)
	}
	if err := a.Unsubscribe("q", ""); err != nil {
		t.Fatal(err)
	}
	w := takeWritten(c, s)
	if n := strings.Count(w, "NACK\n"); n != 10 || !bytes.Contains([]byte(w), []byte("UNSUBSCRIBE\n")) {
		t.Fatalf("UNSUBSCRIBE with 10 unsettled wrote %q", w)
	}
	c.mu.Lock()
	held = len(sub.acks.byID) + len(sub.acks.order)
	c.mu.Unlock()
	if held != 0 {
		t.Fatalf("%d entries kept after UNSUBSCRIBE", held)
	}
	if err := a.Ack(stomp.Headers{{Key: "id", Value: last.Header("ack")}}); !errors.Is(err, ErrUnknownAck) {
		t.Fatalf("ACK after UNSUBSCRIBE: %v, want ErrUnknownAck", err)
	}
	if w := takeWritten(c, s); w != "" {
		t.Fatalf("ACK after UNSUBSCRIBE reached the broker: %q", w)
	}
}

// A 1:1 auto-ack subscription (a queue) shows a relay id and no ack
// header.
func TestAutoAckQueueIDs(t *testing.T) {
	r, c, s := manualConn(t)
	k := newSink("a")
	if err := r.Attach(k).Subscribe("q", "/queue/ids", nil); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	var up string
	for id := range c.subs {
		up = id
	}
	c.mu.Unlock()
	c.handle(s, upstreamMessage(up, 1, false, []byte("x")))
	checkRelayIDs(t, k.next(t, sinkWait), false)
}

// clientHeaders keeps application headers, an application's own "id"
// among them, and drops what names the broker's delivery or the relay's
// upstream frames.
func TestClientHeaders(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []string
		ack  bool
		want string
	}{
		{"go-stomp", []string{"destination", "/queue/q", "message-id", "7", "id", "7", "subscription", "s1", "x-app", "v"},
			true, "destination:/queue/q message-id:N subscription:s1 x-app:v redelivered:false ack:N"},
		{"go-stomp given back", []string{"destination", "/queue/q", "message-id", "7", "redelivered", "true"},
			false, "destination:/queue/q message-id:N redelivered:true"},
		{"RabbitMQ", []string{"subscription", "s1", "message-id", "T_s1@@session-x@@1", "redelivered", "false", "ack", "T_s1@@session-x@@1", "receipt", "r5", "transaction", "t2", "id", "app-id"},
			false, "subscription:s1 message-id:N redelivered:false id:app-id"},
		{"no message-id", []string{"destination", "/topic/t"}, false, "destination:/topic/t message-id:N redelivered:false"},
	} {
		var got []string
		for _, kv := range clientHeaders(stomp.New(stomp.MESSAGE, c.in...).Headers, "N", c.ack) {
			got = append(got, kv.Key+":"+kv.Value)
		}
		if s := strings.Join(got, " "); s != c.want {
			t.Errorf("%s: %s, want %s", c.name, s, c.want)
		}
	}
}
