package feed

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/rooms"
)

// fakeLog is an in-memory room log: offsets skip one now and then (like a
// stream's segment boundaries), it holds markers and junk, and it can
// forget its oldest records (retention).
type fakeLog struct {
	t *testing.T

	mu      sync.Mutex
	records []Record
	next    int64
	num     int // messages appended so far
	tails   map[*fakeTail]struct{}
	reads   int // ReadRange calls
	tailsOp int // Tail calls
	// startBack is how many of the newest records a new tail starts
	// with (like x-stream-offset "last" giving the last chunk).
	startBack int
	// noSync: tails never sync.
	noSync bool
	// duringRead, when set, runs once in the next ReadRange, after it
	// took its records and before it hands them out (a read the log
	// grows during).
	duringRead func()
}

func newFakeLog(t *testing.T) *fakeLog {
	return &fakeLog{t: t, tails: make(map[*fakeTail]struct{}), startBack: 1}
}

// msgBody is the JSON of message number n.
func msgBody(n int) []byte {
	b, _ := json.Marshal(rooms.Message{Post: rooms.Post{ID: "m" + strconv.Itoa(n), Type: rooms.Talk, Sender: "u", Message: strconv.Itoa(n), SentAt: time.Unix(int64(n), 0)}})
	return b
}

// msgNum returns the message number of m.
func msgNum(m rooms.Message) int {
	n, err := strconv.Atoi(m.Message)
	if err != nil {
		panic(fmt.Sprintf("message %+v has no number", m))
	}
	return n
}

// add appends a record and hands it to every tail.
func (l *fakeLog) add(r Record) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addLocked(r)
}

// addLocked is add with l.mu held.
func (l *fakeLog) addLocked(r Record) int64 {
	r.Offset = l.next
	l.next++
	if r.Offset%17 == 16 {
		l.next++ // a skipped offset, as at a segment boundary
	}
	l.records = append(l.records, r)
	for tl := range l.tails {
		tl.sink.Record(r)
	}
	return r.Offset
}

// publish appends the next numbered message and returns its number and
// offset.
func (l *fakeLog) publish() (int, int64) {
	l.mu.Lock()
	l.num++
	n := l.num
	l.mu.Unlock()
	return n, l.add(Record{Body: msgBody(n)})
}

// forget drops the records below offset (retention).
func (l *fakeLog) forget(below int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := 0
	for i < len(l.records) && l.records[i].Offset < below {
		i++
	}
	l.records = l.records[i:]
}

// source returns the log as a Source.
func (l *fakeLog) source() Source { return (*fakeSource)(l) }

type fakeSource fakeLog

type fakeTail struct{ sink Sink }

// Tail starts with the newest startBack records, then a marker that syncs
// it, like the RabbitMQ source.
func (s *fakeSource) Tail(sink Sink) (func(), error) {
	l := (*fakeLog)(s)
	l.mu.Lock()
	l.tailsOp++
	tl := &fakeTail{sink: sink}
	for _, r := range l.records[max(0, len(l.records)-l.startBack):] {
		sink.Record(r)
	}
	l.tails[tl] = struct{}{}
	if !l.noSync {
		l.addLocked(Record{Marker: "mine"})
		sink.Synced()
	}
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		delete(l.tails, tl)
		l.mu.Unlock()
	}, nil
}

// ReadRange serves [from, to) and fails the test when no record at or
// after to exists (a real stream read would wait forever).
func (s *fakeSource) ReadRange(ctx context.Context, from, to int64, fn func(Record)) error {
	l := (*fakeLog)(s)
	l.mu.Lock()
	l.reads++
	var out []Record
	reached := false
	for _, r := range l.records {
		if r.Offset >= to {
			reached = true
			break
		}
		if r.Offset >= from {
			out = append(out, r)
		}
	}
	during := l.duringRead
	l.duringRead = nil
	l.mu.Unlock()
	if !reached {
		l.t.Errorf("ReadRange(%d, %d) past the end of the log: a stream read would wait", from, to)
	}
	if during != nil {
		during()
	}
	for _, r := range out {
		fn(r)
	}
	return ctx.Err()
}

// failTails makes every running tail fail.
func (l *fakeLog) failTails(err error) {
	l.mu.Lock()
	var failed []*fakeTail
	for tl := range l.tails {
		delete(l.tails, tl)
		failed = append(failed, tl)
	}
	l.mu.Unlock()
	// outside l.mu: the feed stops its tail, which takes l.mu
	for _, tl := range failed {
		tl.sink.Failed(err)
	}
}

// tailCount returns how many tails are running.
func (l *fakeLog) tailCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tails)
}

// readCount returns how many range reads were made.
func (l *fakeLog) readCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reads
}

// collector records what one follower got.
type collector struct {
	mu    sync.Mutex
	msgs  []rooms.Message
	data  [][]byte
	got   chan struct{} // signalled after every message
	ended int           // end notices (nil body)
	endAt int64         // the offset of the last end notice
}

func newCollector() *collector { return &collector{got: make(chan struct{}, 1)} }

func (c *collector) deliver(m rooms.Message, b []byte) {
	c.mu.Lock()
	if b == nil { // the feed ended
		c.ended++
		c.endAt = m.Offset
		c.mu.Unlock()
		return
	}
	c.msgs = append(c.msgs, m)
	c.data = append(c.data, b)
	c.mu.Unlock()
	select {
	case c.got <- struct{}{}:
	default:
	}
}

// nums returns the message numbers received so far.
func (c *collector) nums() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]int, len(c.msgs))
	for i, m := range c.msgs {
		out[i] = msgNum(m)
	}
	return out
}

// waitLen waits until n messages arrived.
func (c *collector) waitLen(t *testing.T, n int) []int {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		if got := c.nums(); len(got) >= n {
			return got
		}
		select {
		case <-c.got:
		case <-deadline:
			t.Fatalf("got %d messages, want %d: %v", len(c.nums()), n, c.nums())
		}
	}
}

// seq returns the numbers from..to inclusive.
func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}
