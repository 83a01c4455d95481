package relay

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
)

// stampSink is a recSink that also notes when its first MESSAGE arrived
// once armed.
type stampSink struct {
	*recSink
	mu    sync.Mutex
	armed bool
	first time.Time
	got   chan struct{} // closed at the first MESSAGE after arm
}

func newStampSink(name string) *stampSink {
	return &stampSink{recSink: newSink(name), got: make(chan struct{})}
}

func (s *stampSink) Deliver(f *stomp.Frame) {
	if f.Command == stomp.MESSAGE {
		s.mu.Lock()
		if s.armed && s.first.IsZero() {
			s.first = time.Now()
			close(s.got)
		}
		s.mu.Unlock()
	}
	s.recSink.Deliver(f)
}

func (s *stampSink) arm() {
	s.mu.Lock()
	s.armed = true
	s.mu.Unlock()
}

// TestRabbitRecoveryWithinASecond stops RabbitMQ long enough for every
// upstream connection's reconnect backoff to reach reconnect_max (4 s
// here), starts it again, and measures from the moment the broker's
// STOMP port accepts TCP connections again to the moment the last of
// several subscribers (on both upstream connections) receives a message
// published after the restart. The relay must not sleep out its backoff:
// delivery resumes within 1 s.
func TestRabbitRecoveryWithinASecond(t *testing.T) {
	n := rabbittest.Require(t, node)
	const reconnectMax = 4 * time.Second
	r, _ := startRabbit(t, n, func(c *Config) {
		c.Connections = 2
		c.ReconnectMin = 50 * time.Millisecond
		c.ReconnectMax = reconnectMax
	})
	// the publisher reconnects every 10 ms by its backoff alone
	pub, _ := startRabbit(t, n, func(c *Config) {
		c.Connections = 1
		c.ReconnectMin = 10 * time.Millisecond
		c.ReconnectMax = 10 * time.Millisecond
	})

	// two destinations on each upstream connection
	var dests []string
	perConn := map[*upConn]int{}
	for i := 0; len(dests) < 4; i++ {
		d := fmt.Sprintf("/topic/recover-%s-%d", unique(), i)
		if c := r.connFor(d); perConn[c] < 2 {
			perConn[c]++
			dests = append(dests, d)
		}
	}
	sinks := make([]*stampSink, len(dests))
	for i, d := range dests {
		sinks[i] = newStampSink(d)
		if err := r.Attach(sinks[i]).Subscribe("s", d, stomp.Headers{{Key: "receipt", Value: "r"}}); err != nil {
			t.Fatal(err)
		}
		sinks[i].receipt(t, "r")
		if err := pub.Publish(d, nil, []byte("before"), nil); err != nil {
			t.Fatal(err)
		}
		sinks[i].message(t, 10*time.Second, "before")
	}

	if err := n.StopApp(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = n.StartApp()
		}
	})
	waitCond(t, 60*time.Second, "every upstream connection backing off by reconnect_max", func() bool {
		for _, u := range r.Stats().Upstreams {
			if u.Backoff != reconnectMax {
				return false
			}
		}
		return true
	})
	for _, s := range sinks {
		s.arm()
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	listening := make(chan time.Time, 1)
	go func() {
		// owns the watch on the STOMP port: notes when it first accepts
		for ctx.Err() == nil {
			nc, err := net.DialTimeout("tcp", n.STOMPAddr(), time.Second)
			if err == nil {
				listening <- time.Now()
				nc.Close()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		// owns publishing: from the broker's return on, a numbered
		// message to every destination every 20 ms until the test ends
		defer wg.Done()
		select {
		case back := <-listening:
			listening <- back
		case <-ctx.Done():
			return
		}
		for i := 0; ctx.Err() == nil; i++ {
			for _, d := range dests {
				_ = pub.Publish(d, nil, []byte(fmt.Sprintf("after-%d", i)), nil)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	defer wg.Wait()
	defer cancel()

	if err := n.StartApp(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	var back time.Time
	select {
	case back = <-listening:
		listening <- back
	case <-time.After(30 * time.Second):
		t.Fatal("the STOMP port never accepted a connection after start_app")
	}
	var last time.Duration
	for _, s := range sinks {
		select {
		case <-s.got:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: no message within 30 s of the broker's return", s.name)
		}
		s.mu.Lock()
		d := s.first.Sub(back)
		s.mu.Unlock()
		t.Logf("%s: first message %v after the broker accepted connections again", s.name, d.Round(time.Millisecond))
		last = max(last, d)
	}
	t.Logf("delivery resumed on every subscription %v after the broker accepted connections again (reconnect_max %v)",
		last.Round(time.Millisecond), reconnectMax)
	if last > time.Second {
		t.Fatalf("delivery resumed %v after the broker's return, want at most 1 s", last.Round(time.Millisecond))
	}
	for _, s := range sinks {
		s.noErrors(t)
	}
}
