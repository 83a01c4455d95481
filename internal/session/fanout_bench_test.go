package session

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"chatrelay/internal/auth"
	"chatrelay/internal/destination"
	"chatrelay/internal/relay"
	"chatrelay/internal/rooms"
	"chatrelay/internal/router"
	"chatrelay/internal/stomp"
)

// countConn is a Conn that counts what the writer writes and keeps
// nothing; batch says whether it is a Batcher, like the real transports;
// with sink, each message is also written to it (one system call, as a
// socket write costs).
type countConn struct {
	bytes, writes atomic.Int64
	batch         bool
	sink          *os.File
}

func (c *countConn) WriteMessage(p []byte, _ bool) error {
	c.bytes.Add(int64(len(p)))
	c.writes.Add(1)
	if c.sink != nil {
		_, err := c.sink.Write(p)
		return err
	}
	return nil
}
func (c *countConn) SetReadDeadline(time.Time) error { return nil }
func (c *countConn) Close(int, string) error         { return nil }
func (c *countConn) BatchFrames() bool               { return c.batch }

// countObserver counts the MESSAGEs written and closes done when want
// have been.
type countObserver struct {
	nopObserver
	n, want atomic.Int64
	done    chan struct{}
}

func (o *countObserver) MessageWritten(time.Duration) {
	if o.n.Add(1) == o.want.Load() {
		close(o.done)
	}
}

// expect arms o for want more MESSAGEs.
func (o *countObserver) expect(want int64) {
	o.done = make(chan struct{})
	o.want.Store(o.n.Load() + want)
}

// fanoutSessions returns n connected sessions, each with a subscription
// "sub-0" to room r-bench as subscribeRoom leaves it, and the observer
// counting their MESSAGEs.
func fanoutSessions(b *testing.B, n int, batch bool, sink *os.File) ([]*Session, []*subscription, *countObserver) {
	policy, err := destination.New(destination.Config{})
	if err != nil {
		b.Fatal(err)
	}
	r := relay.New(relay.Config{}) // never started
	b.Cleanup(func() { _ = r.Close(context.Background()) })
	obs := &countObserver{}
	opts := &Options{
		Broker: RelayBroker(r), Policy: policy, Router: router.New(), Auth: auth.None{},
		Limits:         stomp.Limits{MaxFrameBytes: 64 << 10},
		Logger:         slog.New(slog.DiscardHandler),
		SendQueueBytes: 64 << 20,
		Observer:       obs,
	}
	sessions := make([]*Session, n)
	subs := make([]*subscription, n)
	for i := range sessions {
		s := New(opts, &countConn{batch: batch, sink: sink}, "bench", stomp.V12, Handshake{Transport: "ws"}, nil)
		if err := s.Receive([]byte("CONNECT\naccept-version:1.2\nlogin:u" + strconv.Itoa(i) + "\n\n\x00")); err != nil {
			b.Fatal(err)
		}
		sub := &subscription{id: "sub-0", display: "/topic/room.r-bench", room: "r-bench"}
		sub.header = subscriptionHeader(sub.id, s.writeVersion())
		s.subsMu.Lock()
		s.subs[sub.id] = sub
		s.subsMu.Unlock()
		sessions[i], subs[i] = s, sub
		b.Cleanup(func() { s.out.close(nil, CloseNormal, "", false); <-s.Done() })
	}
	return sessions, subs, obs
}

// benchFanout delivers one room message to n sessions per op, as a
// room feed does, and waits until every copy is written after each burst
// of ops: with burst 1 every writer finds one frame queued, with more
// the writers fall behind as under load and find several.
func benchFanout(b *testing.B, n, burst int, batch, syscalls bool) {
	var sink *os.File
	if syscalls {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = f.Close() })
		sink = f
	}
	sessions, subs, obs := fanoutSessions(b, n, batch, sink)
	body := bytes.Repeat([]byte("x"), 200)
	m := rooms.Message{Post: rooms.Post{ID: "m-0123456789ab", RoomID: "r-bench", Type: rooms.Talk}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Offset = int64(i)
		body := append([]byte(nil), body...) // the feed's JSON for this message
		if i%burst == 0 {
			obs.expect(int64(n * min(burst, b.N-i)))
		}
		for j, s := range sessions {
			s.deliverRoom(subs[j], m, body)
		}
		if i%burst == burst-1 || i == b.N-1 {
			<-obs.done
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
	var writes int64
	for _, s := range sessions {
		writes += s.conn.(*countConn).writes.Load()
	}
	b.ReportMetric(float64(writes)/float64(b.N*n), "writes/delivery")
}

// BenchmarkFanoutRoom1000: one room message to 1000 sessions through
// deliverRoom, the outQueue and the writers, on Batcher conns. Each op
// is one message in, 1000 MESSAGE frames written.
func BenchmarkFanoutRoom1000(b *testing.B) { benchFanout(b, 1000, 1, true, false) }

// BenchmarkFanoutRoom1000Burst16 is BenchmarkFanoutRoom1000 waiting for
// the writers only after every 16 messages.
func BenchmarkFanoutRoom1000Burst16(b *testing.B) { benchFanout(b, 1000, 16, true, false) }

// BenchmarkFanoutRoom1000NoBatch is BenchmarkFanoutRoom1000Burst16 on
// conns that take one frame per message.
func BenchmarkFanoutRoom1000NoBatch(b *testing.B) { benchFanout(b, 1000, 16, false, false) }

// BenchmarkFanoutRoom1000DevNull is BenchmarkFanoutRoom1000Burst16 with
// every message written to /dev/null: a system call per write, as a
// socket costs.
func BenchmarkFanoutRoom1000DevNull(b *testing.B) { benchFanout(b, 1000, 16, true, true) }
