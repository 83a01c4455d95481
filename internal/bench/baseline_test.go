package bench

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"chatrelay/internal/stomp"
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
