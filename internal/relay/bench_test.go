package relay

import (
	"strconv"
	"sync/atomic"
	"testing"

	"chatrelay/internal/stomp"
)

// countSink counts the frames it is given and keeps none.
type countSink struct{ n atomic.Int64 }

func (s *countSink) Deliver(*stomp.Frame) { s.n.Add(1) }

// manualConn returns a relay that is never started whose only connection
// has a session attached by hand: frames it writes pile up in the
// session's buffer (the benchmark empties it), and handle accepts
// MESSAGEs for it.
func manualConn(tb testing.TB) (*Relay, *upConn, *upSocket) {
	r := New(Config{Connections: 1})
	c := r.conns[0]
	s := &upSocket{wake: make(chan struct{}, 1), done: make(chan struct{})}
	c.mu.Lock()
	c.sock, c.state = s, stateUp
	c.mu.Unlock()
	return r, c, s
}

// upstreamMessage is a MESSAGE as RabbitMQ sends it for upstream
// subscription sub, delivery tag tag.
func upstreamMessage(sub string, tag int, ack bool, body []byte) *stomp.Frame {
	id := "T_" + sub + "@@session-Wd8kGrIjNhM_wZoUfMM8Hw@@" + strconv.Itoa(tag)
	f := stomp.New(stomp.MESSAGE,
		"subscription", sub,
		"destination", "/topic/bench",
		"message-id", id,
		"redelivered", "false",
		"content-type", "application/json",
		"content-length", strconv.Itoa(len(body)))
	if ack {
		f.Headers = append(f.Headers, stomp.Header{Key: "ack", Value: id})
	}
	f.Body = body
	return f
}

// BenchmarkSharedFanout1000: one upstream MESSAGE of a shared topic
// subscription handed to its 1000 local subscribers (the sinks count
// and drop). Each op is one message in, 1000 frames out.
func BenchmarkSharedFanout1000(b *testing.B) {
	const n = 1000
	r, c, s := manualConn(b)
	sink := &countSink{}
	for i := 0; i < n; i++ {
		if err := r.Attach(sink).Subscribe("sub-0", "/topic/bench", nil); err != nil {
			b.Fatal(err)
		}
	}
	c.mu.Lock()
	up := c.shared["/topic/bench"].id
	c.mu.Unlock()
	body := make([]byte, 200)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.handle(s, upstreamMessage(up, i+1, false, body))
	}
	b.StopTimer()
	if got := sink.n.Load(); got != int64(b.N*n) {
		b.Fatalf("%d frames delivered, want %d", got, b.N*n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
}

// BenchmarkClientAckRoundTrip: one MESSAGE of a client-individual queue
// subscription delivered and then acknowledged by its client, the ACK
// written upstream. Each op is one delivery and one ACK.
func BenchmarkClientAckRoundTrip(b *testing.B) {
	r, c, s := manualConn(b)
	var last atomic.Pointer[stomp.Frame]
	cl := r.Attach(sinkFunc(func(f *stomp.Frame) { last.Store(f) }))
	if err := cl.Subscribe("q", "/queue/bench", stomp.Headers{{Key: "ack", Value: "client-individual"}}); err != nil {
		b.Fatal(err)
	}
	c.mu.Lock()
	up := cl.subs["q"].up.id
	c.mu.Unlock()
	body := make([]byte, 200)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.handle(s, upstreamMessage(up, i+1, true, body))
		if err := cl.Ack(stomp.Headers{{Key: "id", Value: last.Load().Header("ack")}}); err != nil {
			b.Fatal(err)
		}
		c.mu.Lock()
		s.wbuf = s.wbuf[:0]
		c.mu.Unlock()
	}
}

// sinkFunc adapts a function to Sink.
type sinkFunc func(*stomp.Frame)

func (f sinkFunc) Deliver(fr *stomp.Frame) { f(fr) }
