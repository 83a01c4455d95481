package feed

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chatrelay/internal/rooms"
	"chatrelay/internal/testkit"
)

// Joins replay without the feed's lock (catchup.go): these tests hold
// the feed busy in one follower and check that the others, live messages
// and the feed's end are not held up, and that every follower still gets
// exactly its history, then live, once each, in the log's order.

// published returns how many messages the log holds (publish counts a
// message before it appends it): with one publisher, the number of the
// newest message in the log.
func (l *fakeLog) published() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.records {
		if r.Marker == "" && len(r.Body) > 0 && r.Body[0] == '{' {
			n++
		}
	}
	return n
}

// oneAtATime wraps deliver and fails the test when two calls overlap.
func oneAtATime(t *testing.T, deliver func(rooms.Message, []byte)) func(rooms.Message, []byte) {
	var busy atomic.Bool
	return func(m rooms.Message, b []byte) {
		if busy.Swap(true) {
			t.Error("deliver called concurrently")
		}
		deliver(m, b)
		busy.Store(false)
	}
}

// TestJoinStormHistoryThenLive: 60 followers join at once with x-history
// 50 while 300 messages are published; each gets the 50 newest messages
// of the moment it joined, then every live one, no gap, no duplicate,
// never two deliveries at once.
func TestJoinStormHistoryThenLive(t *testing.T) {
	l := newFakeLog(t)
	publishN(l, 200)
	s := testSet(t, l, 100)
	type joiner struct {
		c         *collector
		pre, post int // messages published before Follow, after it returned
	}
	joiners := make([]joiner, 60)
	var wg sync.WaitGroup
	var stops sync.Map
	pubDone := make(chan struct{})
	go func() {
		// owns the publishing: live messages during the storm
		defer close(pubDone)
		for i := 0; i < 300; i++ {
			l.publish()
			if i%10 == 0 {
				runtime.Gosched()
			}
		}
	}()
	for i := range joiners {
		wg.Add(1)
		go func() {
			// owns joiner i's Follow
			defer wg.Done()
			j := &joiners[i]
			j.c = newCollector()
			j.pre = l.published()
			stop, err := s.Follow(ctx(t), "r", rooms.Start{Last: 50, After: -1}, oneAtATime(t, j.c.deliver))
			if err != nil {
				t.Error(err)
				return
			}
			j.post = l.published()
			stops.Store(i, stop)
		}()
	}
	wg.Wait()
	<-pubDone
	_, _ = l.publish() // message 501: everyone's last
	for i, j := range joiners {
		got := j.c.waitLen(t, 1)
		testkit.Eventually(t, 5*time.Second, "joiner gets message 501", func() bool {
			got = j.c.nums()
			return got[len(got)-1] == 501
		})
		if !slices.Equal(got, seq(got[0], 501)) {
			t.Fatalf("joiner %d: gap or duplicate: %v", i, got)
		}
		if first := got[0]; first < j.pre-49 || first > j.post-49 {
			t.Fatalf("joiner %d: history starts at %d, want the 50 newest of %d..%d", i, first, j.pre, j.post)
		}
	}
	stops.Range(func(_, v any) bool { v.(func())(); return true })
}

// TestReplayDoesNotHoldTheFeed: while one joiner's replay is held up in
// its first delivery, another joiner gets its whole history and attaches,
// and a live message reaches it; then the first one finishes its replay
// and gets the live message too, after its history.
func TestReplayDoesNotHoldTheFeed(t *testing.T) {
	l := newFakeLog(t)
	publishN(l, 30)
	s := testSet(t, l, 50)
	held, release := make(chan struct{}), make(chan struct{})
	slow := newCollector()
	var once sync.Once
	slowDone := make(chan error, 1)
	go func() {
		// owns the slow joiner's Follow
		stop, err := s.Follow(ctx(t), "r", rooms.Start{Last: 10, After: -1}, func(m rooms.Message, b []byte) {
			once.Do(func() {
				close(held)
				select {
				case <-release:
				case <-time.After(10 * time.Second):
				}
			})
			slow.deliver(m, b)
		})
		if err == nil {
			t.Cleanup(stop)
		}
		slowDone <- err
	}()
	<-held
	fast := newCollector()
	followWithin(t, s, "r", rooms.Start{Last: 5, After: -1}, fast.deliver, "a joiner waited for another joiner's replay")
	l.publish() // 31
	if got := fast.waitLen(t, 6); !slices.Equal(got, seq(26, 31)) {
		t.Fatalf("second joiner got %v", got)
	}
	close(release)
	if err := <-slowDone; err != nil {
		t.Fatal(err)
	}
	if got := slow.waitLen(t, 11); !slices.Equal(got, seq(21, 31)) {
		t.Fatalf("held-up joiner got %v", got)
	}
}

// waitingIn waits until some goroutine's stack shows fn.
func waitingIn(t *testing.T, fn string) {
	t.Helper()
	testkit.Eventually(t, 5*time.Second, "a goroutine in "+fn, func() bool {
		buf := make([]byte, 1<<20)
		return strings.Contains(string(buf[:runtime.Stack(buf, true)]), fn)
	})
}

// TestBusyFeedDoesNotHoldOtherRooms: a user waiting for a busy feed (here
// a live delivery held up under the feed's lock) does not keep another
// room's users from following theirs.
func TestBusyFeedDoesNotHoldOtherRooms(t *testing.T) {
	l, other := newFakeLog(t), newFakeLog(t) // a log per room
	s := NewSet(Config{Buffer: 10, Idle: time.Hour, SyncTimeout: 2 * time.Second}, func(room string) Source {
		if room == "busy" {
			return l.source()
		}
		return other.source()
	})
	t.Cleanup(s.Close)
	held, release := make(chan struct{}), make(chan struct{})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	var once sync.Once
	stop, err := s.Follow(ctx(t), "busy", rooms.Live, func(rooms.Message, []byte) {
		once.Do(func() {
			close(held)
			<-release
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	go l.publish() // held up in the busy room's delivery, under its lock
	<-held
	go func() {
		// owns a user of the busy room, who waits for its lock
		if stop, err := s.Follow(ctx(t), "busy", rooms.Live, func(rooms.Message, []byte) {}); err == nil {
			stop()
		}
	}()
	waitingIn(t, "feed.(*roomFeed).acquire")
	followWithin(t, s, "other", rooms.Live, func(rooms.Message, []byte) {}, "a room's Follow waited for another room's busy feed")
}

// followWithin follows room on s and fails the test with late when Follow
// takes more than 5 s (it waits for something it should not) or fails.
func followWithin(t *testing.T, s *Set, room string, start rooms.Start, deliver func(rooms.Message, []byte), late string) {
	t.Helper()
	followed := make(chan error, 1)
	go func() {
		// owns the Follow, which may block where it should not
		stop, err := s.Follow(ctx(t), room, start, deliver)
		if err == nil {
			t.Cleanup(stop)
		}
		followed <- err
	}()
	select {
	case err := <-followed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal(late)
	}
}

// TestFeedEndsDuringReplay: the feed ends (its room dropped) while a
// joiner replays; Follow fails with ErrClosed, the joiner got a prefix of
// its history in order and no end notice (it never attached), and its
// user is counted out.
func TestFeedEndsDuringReplay(t *testing.T) {
	l := newFakeLog(t)
	publishN(l, 30)
	s := testSet(t, l, 50)
	c := newCollector()
	dropped := make(chan struct{})
	_, err := s.Follow(ctx(t), "r", rooms.Start{Last: 10, After: -1}, func(m rooms.Message, b []byte) {
		if c.deliver(m, b); len(c.nums()) == 3 {
			go func() {
				// owns the Drop: it takes the feed's lock, which the
				// replay does not hold
				s.Drop("r")
				close(dropped)
			}()
			select {
			case <-dropped:
			case <-time.After(5 * time.Second):
				t.Error("Drop waited for a replay")
			}
		}
	})
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Follow returned %v, want ErrClosed", err)
	}
	got := c.nums()
	if len(got) < 3 || !slices.Equal(got, seq(21, 20+len(got))) {
		t.Fatalf("got %v, want a prefix of 21..30", got)
	}
	c.mu.Lock()
	ended := c.ended
	c.mu.Unlock()
	if ended != 0 {
		t.Fatalf("%d end notices for a follower that never attached", ended)
	}
	if s.Running("r") || l.tailCount() != 0 {
		t.Fatal("the dropped feed still runs")
	}
}

// TestJoinerLeavesDuringReplay: a joiner whose session ends during its
// replay stops within a chunk, is never attached (a later message does
// not reach it) and is counted out, so the idle feed stops.
func TestJoinerLeavesDuringReplay(t *testing.T) {
	l := newFakeLog(t)
	publishN(l, 300)
	s := NewSet(Config{Buffer: 200, Idle: time.Millisecond, SyncTimeout: 2 * time.Second}, func(string) Source { return l.source() })
	t.Cleanup(s.Close)
	jctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	c := newCollector()
	_, err := s.Follow(jctx, "r", rooms.Start{Last: 200, After: -1}, func(m rooms.Message, b []byte) {
		if c.deliver(m, b); len(c.nums()) == 3 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow returned %v, want context.Canceled", err)
	}
	got := c.nums()
	if len(got) > replayChunk || !slices.Equal(got, seq(101, 100+len(got))) {
		t.Fatalf("got %d messages %v, want at most one chunk from 101 on", len(got), got)
	}
	testkit.Eventually(t, 5*time.Second, "the idle feed stops", func() bool { return l.tailCount() == 0 })
	l.publish()
	if n := len(c.nums()); n != len(got) {
		t.Fatalf("a message reached the joiner that left: %d, had %d", n, len(got))
	}
}
