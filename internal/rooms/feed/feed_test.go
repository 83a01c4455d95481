package feed

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/rooms"
)

// testSet returns a Set over l with a small ring.
func testSet(t *testing.T, l *fakeLog, buffer int) *Set {
	s := NewSet(Config{Buffer: buffer, Idle: time.Hour, SyncTimeout: 2 * time.Second}, func(string) Source { return l.source() })
	t.Cleanup(s.Close)
	return s
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// publishN publishes n messages with some junk and markers between them.
func publishN(l *fakeLog, n int) {
	for i := 0; i < n; i++ {
		if i%10 == 3 {
			l.add(Record{Marker: "other"})
		}
		if i%13 == 5 {
			l.add(Record{Body: []byte("not json")})
		}
		l.publish()
	}
}

func TestLiveGetsOnlyNewMessages(t *testing.T) {
	l := newFakeLog(t)
	publishN(l, 5)
	s := testSet(t, l, 10)
	c := newCollector()
	stop, err := s.Follow(ctx(t), "r", rooms.Live, c.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	publishN(l, 3)
	if got := c.waitLen(t, 3); !slices.Equal(got, seq(6, 8)) {
		t.Fatalf("got %v", got)
	}
	// the encoding carries the offset and the room
	c.mu.Lock()
	defer c.mu.Unlock()
	var back rooms.Message
	if err := json.Unmarshal(c.data[0], &back); err != nil || !reflect.DeepEqual(back, c.msgs[0]) {
		t.Fatalf("encoding %s does not match %+v", c.data[0], c.msgs[0])
	}
	if m := c.msgs[0]; m.RoomID != "r" || m.Offset <= 0 {
		t.Fatalf("bad message %+v", m)
	}
}

func TestLastFillsRingBackwards(t *testing.T) {
	l := newFakeLog(t)
	publishN(l, 50)
	s := testSet(t, l, 30)
	c := newCollector()
	stop, err := s.Follow(ctx(t), "r", rooms.Start{Last: 20, After: -1}, c.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	publishN(l, 2)
	if got := c.waitLen(t, 22); !slices.Equal(got, seq(31, 52)) {
		t.Fatalf("got %v", got)
	}
	// a second follower is served from the ring without reads
	reads := l.readCount()
	c2 := newCollector()
	stop2, err := s.Follow(ctx(t), "r", rooms.Start{Last: 5, After: -1}, c2.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop2()
	if got := c2.waitLen(t, 5); !slices.Equal(got, seq(48, 52)) {
		t.Fatalf("second follower got %v", got)
	}
	if l.readCount() != reads {
		t.Fatalf("second follower read the log")
	}
	// Last beyond what the log holds gives everything; beyond the ring
	// size it is capped
	c3 := newCollector()
	stop3, err := s.Follow(ctx(t), "r", rooms.Start{Last: 1000, After: -1}, c3.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop3()
	if got := c3.waitLen(t, 30); !slices.Equal(got, seq(23, 52)) {
		t.Fatalf("capped follower got %v", got)
	}
}

func TestLastOnShortLog(t *testing.T) {
	l := newFakeLog(t)
	publishN(l, 4)
	s := testSet(t, l, 30)
	c := newCollector()
	stop, err := s.Follow(ctx(t), "r", rooms.Start{Last: 20, After: -1}, c.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	l.publish()
	if got := c.waitLen(t, 5); !slices.Equal(got, seq(1, 5)) {
		t.Fatalf("got %v", got)
	}
}

func TestAfterResumesFromOffset(t *testing.T) {
	l := newFakeLog(t)
	var offsets []int64
	for i := 0; i < 100; i++ {
		_, off := l.publish()
		offsets = append(offsets, off)
	}
	s := testSet(t, l, 10)
	for _, after := range []int{0, 25, 95, 100} { // message numbers
		t.Run("", func(t *testing.T) {
			c := newCollector()
			var start rooms.Start
			if after == 0 {
				start = rooms.Start{After: 0}
				after = 1 // offset 0 is message 1
			} else {
				start = rooms.Start{After: offsets[after-1]}
			}
			stop, err := s.Follow(ctx(t), "r", start, c.deliver)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			if got := c.waitLen(t, 100-after); !slices.Equal(got, seq(after+1, 100)) {
				t.Fatalf("after %d: got %v", after, got)
			}
		})
	}
	// a later follower resumes after its last message, live ones included
	c := newCollector()
	stop, err := s.Follow(ctx(t), "r", rooms.Start{After: offsets[97]}, c.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	l.publish()
	if got := c.waitLen(t, 3); !slices.Equal(got, seq(99, 101)) {
		t.Fatalf("got %v", got)
	}
}

func TestAfterBeyondEndSkipsLowerOffsets(t *testing.T) {
	l := newFakeLog(t)
	publishN(l, 3)
	s := testSet(t, l, 10)
	c := newCollector()
	stop, err := s.Follow(ctx(t), "r", rooms.Start{After: 1000}, c.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for {
		if _, off := l.publish(); off > 1000 {
			break
		}
	}
	c.waitLen(t, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.msgs) != 1 || c.msgs[0].Offset <= 1000 {
		t.Fatalf("got %+v", c.msgs)
	}
}

// TestConcurrentFollowersSeeOneOrder starts followers with every kind of
// start while messages keep coming: each must see a contiguous run of the
// log's messages ending with the last one, starting where asked.
func TestConcurrentFollowersSeeOneOrder(t *testing.T) {
	l := newFakeLog(t)
	var offMu sync.Mutex
	offsets := map[int]int64{}
	pub := func(n int) {
		for i := 0; i < n; i++ {
			num, off := l.publish()
			offMu.Lock()
			offsets[num] = off
			offMu.Unlock()
		}
	}
	pub(200)
	s := testSet(t, l, 50)
	done := make(chan struct{})
	go func() {
		// owns the publishing: 300 messages while followers attach
		defer close(done)
		pub(300)
	}()
	type run struct {
		c     *collector
		first int // expected first message number, 0: any (live)
	}
	var runs []run
	for i := 0; i < 30; i++ {
		c := newCollector()
		var start rooms.Start
		first := 0
		switch i % 3 {
		case 0:
			start = rooms.Live
		case 1:
			first = 1 + i*5
			offMu.Lock()
			start = rooms.Start{After: offsets[first-1]}
			offMu.Unlock()
			if first == 1 {
				start = rooms.Start{After: -1, Last: 0}
				first = 0
			}
		case 2:
			start = rooms.Start{Last: 40, After: -1}
		}
		stop, err := s.Follow(ctx(t), "r", start, c.deliver)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		runs = append(runs, run{c, first})
	}
	<-done
	pub(1) // every follower, live ones too, ends with message 501
	for i, r := range runs {
		got := r.c.waitLen(t, 1)
		deadline := time.After(5 * time.Second)
		for got[len(got)-1] != 501 {
			select {
			case <-r.c.got:
			case <-deadline:
				t.Fatalf("follower %d stopped at %d", i, got[len(got)-1])
			}
			got = r.c.nums()
		}
		if !slices.Equal(got, seq(got[0], 501)) {
			t.Fatalf("follower %d: gap or duplicate: %v", i, got)
		}
		if r.first != 0 && got[0] != r.first {
			t.Fatalf("follower %d starts at %d, want %d", i, got[0], r.first)
		}
	}
}

func TestHistoryPagesNewestFirst(t *testing.T) {
	l := newFakeLog(t)
	offsets := map[int]int64{}
	for i := 0; i < 120; i++ {
		if i%7 == 0 {
			l.add(Record{Marker: "x"})
		}
		n, off := l.publish()
		offsets[n] = off
	}
	s := testSet(t, l, 30)
	var all []int
	before := int64(-1)
	for {
		page, err := s.History(ctx(t), "r", before, 25)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, m := range page {
			all = append(all, msgNum(m))
		}
		before = page[len(page)-1].Offset
	}
	want := seq(1, 120)
	slices.Reverse(want)
	if !slices.Equal(all, want) {
		t.Fatalf("history: %v", all)
	}
	page, err := s.History(ctx(t), "r", offsets[50], 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 3 || msgNum(page[0]) != 49 || msgNum(page[2]) != 47 {
		t.Fatalf("page before 50: %+v", page)
	}
}

func TestHistoryAfterRetention(t *testing.T) {
	l := newFakeLog(t)
	offsets := map[int]int64{}
	for i := 0; i < 100; i++ {
		n, off := l.publish()
		offsets[n] = off
	}
	l.forget(offsets[61])
	s := testSet(t, l, 10)
	page, err := s.History(ctx(t), "r", -1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 40 || msgNum(page[0]) != 100 || msgNum(page[39]) != 61 {
		t.Fatalf("got %d messages, %v..%v", len(page), page[0], page[len(page)-1])
	}
}

func TestIdleStopAndRestart(t *testing.T) {
	l := newFakeLog(t)
	publishN(l, 3)
	s := NewSet(Config{Buffer: 10, Idle: 20 * time.Millisecond}, func(string) Source { return l.source() })
	defer s.Close()
	c := newCollector()
	stop, err := s.Follow(ctx(t), "r", rooms.Live, c.deliver)
	if err != nil {
		t.Fatal(err)
	}
	if l.tailCount() != 1 {
		t.Fatalf("tails: %d", l.tailCount())
	}
	stop()
	stop() // idempotent
	deadline := time.Now().Add(5 * time.Second)
	for s.Running("r") || l.tailCount() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("feed did not stop after its idle delay")
		}
		time.Sleep(5 * time.Millisecond) // polling a state with a deadline
	}
	c2 := newCollector()
	stop2, err := s.Follow(ctx(t), "r", rooms.Start{Last: 2, After: -1}, c2.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop2()
	if got := c2.waitLen(t, 2); !slices.Equal(got, seq(2, 3)) {
		t.Fatalf("got %v", got)
	}
}

func TestStopFromDeliverAndDrop(t *testing.T) {
	l := newFakeLog(t)
	s := testSet(t, l, 10)
	var stop func()
	got := make(chan int, 10)
	// deliver runs on the publishing goroutine, after stop is set
	stop, err := s.Follow(ctx(t), "r", rooms.Live, func(m rooms.Message, _ []byte) {
		got <- msgNum(m)
		stop()
	})
	if err != nil {
		t.Fatal(err)
	}
	l.publish()
	l.publish()
	if n := <-got; n != 1 {
		t.Fatalf("got %d", n)
	}
	select {
	case n := <-got:
		t.Fatalf("delivered %d after stop", n)
	default:
	}
	s.Drop("r")
	if _, err := s.Follow(ctx(t), "r", rooms.Live, func(rooms.Message, []byte) {}); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("Follow after Drop: %v", err)
	}
	if l.tailCount() != 0 {
		t.Fatal("tail still running after Drop")
	}
}

func TestSyncTimeout(t *testing.T) {
	l := newFakeLog(t)
	l.noSync = true
	s := NewSet(Config{SyncTimeout: 50 * time.Millisecond}, func(string) Source { return l.source() })
	defer s.Close()
	if _, err := s.Follow(ctx(t), "r", rooms.Live, func(rooms.Message, []byte) {}); !errors.Is(err, ErrNotSynced) {
		t.Fatalf("got %v", err)
	}
}

func TestStartAndTailFailure(t *testing.T) {
	l := newFakeLog(t)
	publishN(l, 3)
	s := testSet(t, l, 10)
	if err := s.Start(ctx(t), "r"); err != nil {
		t.Fatal(err)
	}
	if !s.Running("r") || l.tailCount() != 1 {
		t.Fatal("Start did not start a feed")
	}
	c := newCollector()
	stop, err := s.Follow(ctx(t), "r", rooms.Live, c.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	l.failTails(errors.New("broker gone"))
	if s.Running("r") {
		t.Fatal("a failed feed is still running")
	}
	l.publish() // nobody tails the log now: the old follower gets nothing
	c2 := newCollector()
	stop2, err := s.Follow(ctx(t), "r", rooms.Start{Last: 2, After: -1}, c2.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop2()
	if got := c2.waitLen(t, 2); !slices.Equal(got, seq(3, 4)) {
		t.Fatalf("new feed: %v", got)
	}
	c.mu.Lock()
	ended := c.ended
	c.mu.Unlock()
	if got := c.nums(); len(got) != 0 || ended != 1 {
		t.Fatalf("follower of the failed feed got %v and %d end notices, want none and 1", got, ended)
	}
	if page, err := s.History(ctx(t), "r", -1, 0); err != nil || len(page) != 0 {
		t.Fatalf("limit 0: %v %v", page, err)
	}
}

// TestEndSaysWhereToGoOn: a feed that fails tells its followers the
// offset it had reached; following again after it delivers exactly what
// was published since, none missing and none twice.
func TestEndSaysWhereToGoOn(t *testing.T) {
	l := newFakeLog(t)
	publishN(l, 3)
	s := testSet(t, l, 10)
	c := newCollector()
	stop, err := s.Follow(ctx(t), "r", rooms.Live, c.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	n, at := l.publish()
	if got := c.waitLen(t, 1); !slices.Equal(got, []int{n}) {
		t.Fatalf("live: %v", got)
	}
	l.add(Record{Marker: "m"}) // applied too: the end is past it
	l.failTails(errors.New("broker gone"))
	c.mu.Lock()
	ended, endAt := c.ended, c.endAt
	c.mu.Unlock()
	if ended != 1 || endAt != at+1 {
		t.Fatalf("%d end notices at %d, want 1 at %d", ended, endAt, at+1)
	}
	missed, _ := l.publish() // while nobody tails the log
	c2 := newCollector()
	stop2, err := s.Follow(ctx(t), "r", rooms.Start{After: endAt}, c2.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop2()
	if got := c2.waitLen(t, 1); !slices.Equal(got, []int{missed}) {
		t.Fatalf("after the end: %v, want [%d]", got, missed)
	}
}

// TestHistoryTrimDoesNotHoleTheRing: a History read wider than the ring
// keeps only the newest entries; a later resume must still get every
// message, not the ring's newest with a hole before them.
func TestHistoryTrimDoesNotHoleTheRing(t *testing.T) {
	for _, live := range []int{4, 6, 8} {
		l := newFakeLog(t)
		for i := 0; i < 12; i++ {
			l.publish()
		}
		s := testSet(t, l, 10)
		if err := s.Start(ctx(t), "r"); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < live; i++ {
			l.publish()
		}
		if _, err := s.History(ctx(t), "r", -1, 10); err != nil {
			t.Fatal(err)
		}
		c := newCollector()
		stop, err := s.Follow(ctx(t), "r", rooms.Start{After: 0}, c.deliver)
		if err != nil {
			t.Fatal(err)
		}
		total := 12 + live
		if got := c.waitLen(t, total-1); !slices.Equal(got, seq(2, total)) {
			t.Fatalf("live %d: resume after offset 0 got %v, want 2..%d", live, got, total)
		}
		stop()
	}
}
