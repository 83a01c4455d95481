package feed

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"chatrelay/internal/rooms"
)

// republish appends message number n again, with the same id, as a
// sender does that saw no proof of storage.
func (l *fakeLog) republish(n int) int64 { return l.add(Record{Body: msgBody(n)}) }

// publishWithCopies publishes messages 1..n, each followed by a copy two
// messages later (and the last ones at the end); it returns the offset
// of each message's first record, by number.
func publishWithCopies(l *fakeLog, n int) map[int]int64 {
	first := make(map[int]int64)
	var nums []int
	for i := 0; i < n; i++ {
		num, off := l.publish()
		first[num] = off
		nums = append(nums, num)
		if i >= 2 {
			l.republish(nums[i-2])
		}
	}
	l.republish(nums[n-2])
	l.republish(nums[n-1])
	return first
}

// follow attaches a collector from start and stops it at the test's end.
func follow(t *testing.T, s *Set, start rooms.Start) *collector {
	t.Helper()
	c := newCollector()
	stop, err := s.Follow(ctx(t), "r", start, c.deliver)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return c
}

// historyNums pages through the whole history, limit messages a page,
// and returns the message numbers newest first.
func historyNums(t *testing.T, s *Set, limit int) []int {
	t.Helper()
	var out []int
	before := int64(-1)
	for pages := 0; pages < 1000; pages++ {
		page, err := s.History(ctx(t), "r", before, limit)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page {
			out = append(out, msgNum(m))
		}
		if len(page) < limit || page[len(page)-1].Offset == 0 {
			return out
		}
		before = page[len(page)-1].Offset
	}
	t.Fatal("history does not end")
	return nil
}

// reversed returns nums newest first.
func reversed(nums []int) []int {
	out := slices.Clone(nums)
	slices.Reverse(out)
	return out
}

// assertExactly waits for len(want) messages, then checks the collector
// holds exactly want. The fake log delivers synchronously, and every test
// publishes a last message after the copies: nothing more can come.
func assertExactly(t *testing.T, c *collector, want []int, what string) {
	t.Helper()
	got := c.waitLen(t, len(want))
	if !slices.Equal(got, want) {
		t.Fatalf("%s got %v, want %v", what, got, want)
	}
}

func TestCopiesDeliveredOnceLiveAndFromTheRing(t *testing.T) {
	l := newFakeLog(t)
	s := testSet(t, l, 100)
	live := follow(t, s, rooms.Live)
	first := publishWithCopies(l, 8)
	// a message after every copy: once it arrives, no copy can follow
	l.publish()
	assertExactly(t, live, seq(1, 9), "live follower")
	assertExactly(t, follow(t, s, rooms.Start{After: first[1]}), seq(2, 9), "resume")
	assertExactly(t, follow(t, s, rooms.Start{Last: 100, After: -1}), seq(1, 9), "x-history")
	if got := historyNums(t, s, 100); !slices.Equal(got, reversed(seq(1, 9))) {
		t.Fatalf("history %v", got)
	}
	if got := historyNums(t, s, 2); !slices.Equal(got, reversed(seq(1, 9))) {
		t.Fatalf("history in pages of 2: %v", got)
	}
}

// Copies the feed saw live stay dropped once the ring no longer holds
// them: in catch-up read straight from the log and in history pages.
func TestCopiesDroppedBeyondTheRing(t *testing.T) {
	l := newFakeLog(t)
	s := testSet(t, l, 4)
	live := follow(t, s, rooms.Live)
	first := publishWithCopies(l, 40)
	l.publish()
	assertExactly(t, live, seq(1, 41), "live follower")
	reads := l.readCount()
	assertExactly(t, follow(t, s, rooms.Start{After: first[1]}), seq(2, 41), "resume from the log")
	if l.readCount() == reads {
		t.Fatal("the resume did not read the log: the test misses its point")
	}
	for _, limit := range []int{1, 3, 7, 100} {
		if got := historyNums(t, s, limit); !slices.Equal(got, reversed(seq(1, 41))) {
			t.Fatalf("history in pages of %d: %v", limit, got)
		}
	}
}

// A feed started after the copies were written drops them among what
// one read returns. (A copy of a message at or before a resume point that
// the feed never saw is not known to it: the resume point lies before
// message 2 here.)
func TestCopiesOlderThanTheFeed(t *testing.T) {
	l := newFakeLog(t)
	_, start := l.publish()
	publishWithCopies(l, 20)
	l.publish()
	s := testSet(t, l, 5)
	assertExactly(t, follow(t, s, rooms.Start{After: start}), seq(2, 22), "resume from the log")
	if got := historyNums(t, s, 100); !slices.Equal(got, reversed(seq(1, 22))) {
		t.Fatalf("history %v", got)
	}
	s2 := testSet(t, l, 100)
	assertExactly(t, follow(t, s2, rooms.Start{Last: 100, After: -1}), seq(1, 22), "x-history filled backwards")
}

// When the feed delivered a copy live because it started after the first
// record, that copy stays the only one: filling the ring backwards later
// skips the first record.
func TestCopyDeliveredFirstStaysTheOnlyOne(t *testing.T) {
	l := newFakeLog(t)
	l.publish()
	l.publish()
	l.publish()
	s := testSet(t, l, 100) // the tail starts at message 3
	live := follow(t, s, rooms.Live)
	l.republish(1)
	l.publish()
	assertExactly(t, live, []int{1, 4}, "live follower")
	assertExactly(t, follow(t, s, rooms.Start{Last: 100, After: -1}), []int{2, 3, 1, 4}, "x-history")
	if got := historyNums(t, s, 100); !slices.Equal(got, []int{4, 1, 3, 2}) {
		t.Fatalf("history %v", got)
	}
}

func TestIDWindowKeepsTheNewest(t *testing.T) {
	w := newIDWindow(3)
	for i, id := range []string{"a", "b", "c", "a", "d"} {
		w.add(id, int64(i))
	}
	if w.has("a") || !w.has("b") || !w.has("c") || !w.has("d") {
		t.Fatalf("window %v", w.at)
	}
	if off, _ := w.get("b"); off != 1 {
		t.Fatalf("b at %d", off)
	}
	for i := 0; i < 1000; i++ {
		w.add(string(rune('A'+i%50))+string(rune('a'+i/50)), int64(i))
	}
	if len(w.at) != 3 || len(w.order)-w.head != 3 || cap(w.order) > 200 {
		t.Fatalf("window holds %d ids, %d in order (cap %d)", len(w.at), len(w.order)-w.head, cap(w.order))
	}
}

// A copy that follows its original within recentKeep is dropped however
// many messages a burst put between them (here 600, far more than the
// ring and the recent ids hold by count).
func TestCopyDroppedAfterABurst(t *testing.T) {
	l := newFakeLog(t)
	s := testSet(t, l, 4)
	live := follow(t, s, rooms.Live)
	l.publish()
	for range 600 {
		l.publish()
	}
	l.republish(1)
	l.publish()
	assertExactly(t, live, seq(1, 602), "live follower")
}

func TestIDWindowKeepsYoungIDs(t *testing.T) {
	now := time.Unix(1000, 0)
	w := newIDWindow(3)
	w.keep, w.limit, w.now = 10*time.Second, 100, func() time.Time { return now }
	for i := range 50 {
		w.add(fmt.Sprint("young-", i), int64(i))
	}
	if len(w.at) != 50 || !w.has("young-0") {
		t.Fatalf("window of 3 keeping 10 s holds %d ids after 50 at once, young-0 %v", len(w.at), w.has("young-0"))
	}
	now = now.Add(11 * time.Second)
	w.add("later", 50)
	if len(w.at) != 3 || w.has("young-0") || !w.has("young-49") || !w.has("later") {
		t.Fatalf("after keep: %d ids, young-0 %v, young-49 %v", len(w.at), w.has("young-0"), w.has("young-49"))
	}
	for i := range 500 {
		w.add(fmt.Sprint("burst-", i), int64(100+i))
	}
	if len(w.at) != 100 || len(w.order)-w.head != 100 || !w.has("burst-499") || w.has("burst-399") {
		t.Fatalf("limit 100: %d ids, %d in order", len(w.at), len(w.order)-w.head)
	}
}
