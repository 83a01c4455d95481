package bench

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"chatrelay/internal/stomp"
	"chatrelay/internal/testkit"
)

// nulCounter is a crowd of loopback clients that count the frames they
// receive by their terminating NUL (a MESSAGE body here holds none)
// without decoding them, so that the clients cost as little as possible
// next to the server's fan-out.
type nulCounter struct {
	total  atomic.Int64
	target atomic.Int64
	hit    chan struct{} // one token when total reaches target
	conns  []*websocket.Conn
	wg     sync.WaitGroup
}

// dialCounters connects n clients to b, each subscribed to dest, and
// returns once every subscription's RECEIPT is in (total == n).
func dialCounters(tb testing.TB, b *Baseline, n int, dest string) *nulCounter {
	nc := &nulCounter{hit: make(chan struct{}, 1)}
	nc.target.Store(int64(n))
	for i := range n {
		ws, _, err := websocket.DefaultDialer.Dial(b.URL(), nil)
		if err != nil {
			tb.Fatal(err)
		}
		nc.conns = append(nc.conns, ws)
		sub := stomp.New(stomp.SUBSCRIBE, "id", "s-"+strconv.Itoa(i), "destination", dest, "receipt", "r").Encode(stomp.V12)
		if err := ws.WriteMessage(websocket.BinaryMessage, sub); err != nil {
			tb.Fatal(err)
		}
		nc.wg.Add(1)
		// this goroutine owns reads from ws until it fails (Baseline.Close)
		go nc.count(ws)
	}
	nc.wait(tb)
	return nc
}

// count reads ws until it fails, adding the frames it sees to total.
func (nc *nulCounter) count(ws *websocket.Conn) {
	defer nc.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		_, r, err := ws.NextReader()
		if err != nil {
			return
		}
		for {
			k, err := r.Read(buf)
			if n := bytes.Count(buf[:k], []byte{0}); n > 0 && nc.total.Add(int64(n)) >= nc.target.Load() {
				select {
				case nc.hit <- struct{}{}:
				default:
				}
			}
			if err != nil {
				break
			}
		}
	}
}

// wait blocks until total reaches target, failing tb after 30 s.
func (nc *nulCounter) wait(tb testing.TB) {
	select {
	case <-nc.hit:
	case <-time.After(30 * time.Second):
		tb.Fatalf("%d of %d frames delivered in 30 s", nc.total.Load(), nc.target.Load())
	}
}

// close closes every client and waits for the readers.
func (nc *nulCounter) close() {
	for _, ws := range nc.conns {
		_ = ws.Close()
	}
	nc.wg.Wait()
}

// BenchmarkBaselinePublish fans one message out to 1,000 loopback
// subscribers of one topic: an op is one publish, delivered to all. The
// messages go in rounds of 100 and each round waits for every delivery,
// so no queue comes near the slow-consumer limit. ns/op and allocs/op
// include the clients' reads (gorilla's per-message reader), not their
// decoding.
func BenchmarkBaselinePublish(b *testing.B) {
	const subscribers, round = 1000, 100
	srv, err := StartBaseline("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	const dest = "/topic/room.bench"
	nc := dialCounters(b, srv, subscribers, dest)
	body := bytes.Repeat([]byte(`{"m":"chat message text"}`), 8)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		k := min(round, b.N-i)
		nc.target.Add(int64(k * subscribers))
		for range k {
			srv.publish(dest, "application/json", body)
		}
		nc.wait(b)
		i += k
	}
	b.StopTimer()
	if n := srv.SlowConsumers(); n != 0 {
		b.Errorf("%d slow consumers", n)
	}
	_ = srv.Close()
	nc.close()
}

// wsPair returns both ends of a loopback WebSocket: the server's and the
// client's.
func wsPair(t *testing.T) (server, client *websocket.Conn) {
	t.Helper()
	got := make(chan *websocket.Conn, 1)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		got <- ws
	}))
	t.Cleanup(srv.Close)
	client, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	server = <-got
	t.Cleanup(func() { _ = server.Close() })
	return server, client
}

// The shared parts around a subscription line are exactly the frame
// stomp.Frame.Encode writes, escapes included.
func TestBaselineMessageParts(t *testing.T) {
	for _, ct := range []string{"application/json", ""} {
		dest, body := "/topic/a:b\\c", []byte(`{"x":1}`)
		head, tail := messageParts(dest, "m-7", ct, body)
		got := (&framePart{head: head, mid: subscriptionLine("s:1"), tail: tail}).appendTo(nil)
		f := stomp.New(stomp.MESSAGE, "destination", dest, "subscription", "s:1", "message-id", "m-7")
		if ct != "" {
			f.Headers = append(f.Headers, stomp.Header{Key: "content-type", Value: ct})
		}
		f.Body = body
		if want := f.Encode(stomp.V12); !bytes.Equal(got, want) {
			t.Errorf("content-type %q:\n got %q\nwant %q", ct, got, want)
		}
	}
}

// A batched write of N frames, MESSAGEs for two subscriptions with a
// RECEIPT among them, reaches the client as few messages of at most
// baselineBatch bytes, each of whole frames, that decode to exactly the N
// frames in order, each MESSAGE with its subscription's id.
func TestBaselineBatchedWrite(t *testing.T) {
	const n = 401
	server, client := wsPair(t)
	lines := []*bsub{{dest: "/topic/room.a", line: subscriptionLine("sub-a")}, {dest: "/topic/room.b", line: subscriptionLine("sub-b")}}
	pad := strings.Repeat("x", 300)
	items := make([]framePart, 0, n)
	for i := range n {
		if i == n/2 {
			items = append(items, framePart{head: stomp.New(stomp.RECEIPT, "receipt-id", "r-1").Encode(stomp.V12)})
			continue
		}
		s := lines[i%2]
		head, tail := messageParts(s.dest, "m-"+strconv.Itoa(i), "application/json", []byte(`{"i":`+strconv.Itoa(i)+`,"p":"`+pad+`"}`))
		items = append(items, framePart{head: head, mid: s.line, tail: tail})
	}
	errc := make(chan error, 1)
	// this goroutine owns the server end's writes
	go func() { errc <- writeFrames(server, items) }()
	var stream []byte
	messages := 0
	for len(stream) == 0 || bytes.Count(stream, []byte{0}) < n {
		_, p, err := client.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if len(p) > baselineBatch || len(p) == 0 || p[len(p)-1] != 0 {
			t.Fatalf("message %d: %d bytes, not whole frames within %d", messages, len(p), baselineBatch)
		}
		messages++
		stream = append(stream, p...)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if messages < 2 || messages > 4 {
		t.Errorf("%d frames (%d bytes) in %d messages, want 2 to 4", n, len(stream), messages)
	}
	rd := newReader(stomp.NewDecoder(decoderLimits))
	rd.Reset(bytes.NewReader(stream))
	for i := range n {
		f, err := rd.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if i == n/2 {
			if f.Command != stomp.RECEIPT || f.Header("receipt-id") != "r-1" {
				t.Fatalf("frame %d: %s %v, want the RECEIPT", i, f.Command, f.Headers)
			}
			continue
		}
		s, id := lines[i%2], []string{"sub-a", "sub-b"}[i%2]
		if f.Command != stomp.MESSAGE || f.Header("subscription") != id || f.Header("destination") != s.dest ||
			f.Header("message-id") != "m-"+strconv.Itoa(i) || !bytes.HasPrefix(f.Body, []byte(`{"i":`+strconv.Itoa(i)+`,`)) {
			t.Fatalf("frame %d: %s %v %.12s", i, f.Command, f.Headers, f.Body)
		}
	}
	if f, err := rd.Next(); err != io.EOF {
		t.Fatalf("after %d frames: %v, %v", n, f, err)
	}
}

// subscribeClient dials b and subscribes id to dest, returning once the
// receipt is in.
func subscribeClient(t *testing.T, b *Baseline, id, dest string) (*websocket.Conn, *stomp.Reader) {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(b.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	sub := stomp.New(stomp.SUBSCRIBE, "id", id, "destination", dest, "receipt", "r-"+id).Encode(stomp.V12)
	if err := ws.WriteMessage(websocket.BinaryMessage, sub); err != nil {
		t.Fatal(err)
	}
	rd := newReader(stomp.NewDecoder(decoderLimits))
	if f, err := readFrame(ws, rd); err != nil || f.Command != stomp.RECEIPT {
		t.Fatalf("subscribing %s: %v %v", id, f, err)
	}
	return ws, rd
}

// A subscriber that stops reading is dropped once its queue is full,
// counted in SlowConsumers, and forgotten; a subscriber that reads gets
// every message before and after.
func TestBaselineSlowConsumer(t *testing.T) {
	b, err := startBaseline("127.0.0.1:0", 16)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const dest = "/topic/room.slow"
	fast, rd := subscribeClient(t, b, "fast", dest)
	subscribeClient(t, b, "stalled", dest) // never read again
	pad := strings.Repeat("y", 32<<10)
	sent := 0
	publish := func() {
		b.publish(dest, "text/plain", []byte(strconv.Itoa(sent)+" "+pad))
		f, err := readFrame(fast, rd)
		if err != nil {
			t.Fatal(err)
		}
		if want := strconv.Itoa(sent) + " "; f.Header("subscription") != "fast" || !bytes.HasPrefix(f.Body, []byte(want)) {
			t.Fatalf("message %d: subscription %q, body %.10q", sent, f.Header("subscription"), f.Body)
		}
		sent++
	}
	for b.SlowConsumers() == 0 {
		if sent == 20000 {
			t.Fatal("the stalled subscriber was never dropped")
		}
		publish()
	}
	testkit.Eventually(t, 10*time.Second, "the stalled subscription to be forgotten", func() bool {
		b.mu.RLock()
		defer b.mu.RUnlock()
		return len(b.topics[dest].subs) == 1
	})
	for range 5 {
		publish()
	}
	if n := b.SlowConsumers(); n != 1 {
		t.Errorf("%d slow consumers, want 1", n)
	}
	t.Logf("the stalled subscriber was dropped after %d messages", sent-5)
}

// Through the server: one client's subscriptions each get their own copy
// with their own id, in publish order, and an UNSUBSCRIBE (swapping the
// last subscription into its place) stops only that one.
func TestBaselineSubscriptions(t *testing.T) {
	b, err := StartBaseline("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ws, rd := subscribeClient(t, b, "a", "/topic/x")
	for _, s := range []struct{ id, dest string }{{"b", "/topic/y"}, {"c", "/topic/x"}} {
		f := stomp.New(stomp.SUBSCRIBE, "id", s.id, "destination", s.dest)
		if err := ws.WriteMessage(websocket.BinaryMessage, f.Encode(stomp.V12)); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(ids ...string) {
		t.Helper()
		for _, id := range ids {
			f, err := readFrame(ws, rd)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Header("subscription") + f.Header("receipt-id"); got != id {
				t.Fatalf("got %s %q, want %q", f.Command, got, id)
			}
		}
	}
	// a receipt after the SUBSCRIBEs: they are in place
	unsub := stomp.New(stomp.UNSUBSCRIBE, "id", "none", "receipt", "r-1").Encode(stomp.V12)
	if err := ws.WriteMessage(websocket.BinaryMessage, unsub); err != nil {
		t.Fatal(err)
	}
	expect("r-1")
	for range 50 {
		b.publish("/topic/x", "", []byte("x"))
		b.publish("/topic/y", "", []byte("y"))
	}
	for range 50 {
		expect("a", "c", "b")
	}
	unsub = stomp.New(stomp.UNSUBSCRIBE, "id", "a", "receipt", "r-2").Encode(stomp.V12)
	if err := ws.WriteMessage(websocket.BinaryMessage, unsub); err != nil {
		t.Fatal(err)
	}
	expect("r-2")
	b.publish("/topic/x", "", []byte("x"))
	b.publish("/topic/y", "", []byte("y"))
	expect("c", "b")
}
