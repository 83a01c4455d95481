package readstate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/rooms"
)

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// replica is one Service under test with what it stored.
type replica struct {
	*Service
	stored chan []Position
}

// exists is the Current of tests: every room exists at creation 1,
// except those in gone.
type exists struct {
	mu   sync.Mutex
	gone map[string]bool
}

func (e *exists) current(room string) (int64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return 1, !e.gone[room]
}

func startReplica(t *testing.T, log Log, clk *clock, cur func(string) (int64, bool), opts Options) *replica {
	t.Helper()
	r := &replica{stored: make(chan []Position, 100)}
	opts.Log, opts.Now, opts.Current = log, clk.Now, cur
	if opts.Flush == 0 {
		opts.Flush = 5 * time.Millisecond
	}
	if opts.SnapshotEvery == 0 {
		opts.SnapshotEvery = 10 * time.Minute
	}
	opts.Stored = func(p []Position) { r.stored <- p }
	r.Service = New(opts)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// waitStored waits for a flush that stored user's position in room.
func (r *replica) waitStored(t *testing.T, room, user string, offset int64) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case batch := <-r.stored:
			for _, p := range batch {
				if p.Room == room && p.User == user && p.Offset == offset {
					return
				}
			}
		case <-deadline:
			t.Fatalf("position %s/%s=%d never stored", room, user, offset)
		}
	}
}

// waitPosition waits until r holds user's position in room.
func waitPosition(t *testing.T, r *replica, room, user string, offset int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got, ok := r.Position(room, 1, user); ok && got == offset {
			return
		}
		if time.Now().After(deadline) {
			got, ok := r.Position(room, 1, user)
			t.Fatalf("%s/%s = %d (%v), want %d", room, user, got, ok, offset)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestPositionsReachEveryReplica(t *testing.T) {
	log, clk, cur := NewMemLog(), &clock{now: time.Unix(1e9, 0)}, &exists{}
	a := startReplica(t, log, clk, cur.current, Options{})
	b := startReplica(t, log, clk, cur.current, Options{})
	if moved, err := a.Set("r1", 1, "ann", 7); !moved || err != nil {
		t.Fatalf("Set = %v, %v", moved, err)
	}
	if moved, err := a.Set("r1", 1, "ann", 5); moved || err != nil {
		t.Fatalf("Set backwards = %v, %v; want no move", moved, err)
	}
	for _, bad := range []Position{{Room: "", User: "x", Offset: 1}, {Room: "r", User: "", Offset: 1}, {Room: "r", User: "x", Offset: -1}} {
		if _, err := a.Set(bad.Room, 1, bad.User, bad.Offset); !errors.Is(err, ErrInvalid) {
			t.Errorf("Set(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	a.waitStored(t, "r1", "ann", 7)
	waitPosition(t, b, "r1", "ann", 7)
	// b, behind, takes the greater position whatever the order
	b.Set("r1", 1, "ann", 3)
	if _, err := b.Set("r1", 1, "bob", 9); err != nil {
		t.Fatal(err)
	}
	b.waitStored(t, "r1", "bob", 9)
	waitPosition(t, a, "r1", "bob", 9)
	waitPosition(t, a, "r1", "ann", 7)
	if got := a.Positions("r1", 1); len(got) != 2 || got["ann"] != 7 || got["bob"] != 9 {
		t.Fatalf("Positions = %v", got)
	}
	if _, ok := a.Position("r1", 2, "ann"); ok {
		t.Fatal("a room created again (seq 2) has ann's position of the old one")
	}
}

func TestManyReadsAreOneRecord(t *testing.T) {
	log, clk, cur := NewMemLog(), &clock{now: time.Unix(1e9, 0)}, &exists{}
	a := startReplica(t, log, clk, cur.current, Options{Flush: time.Hour})
	before := log.Len()
	for i := range 100 {
		if _, err := a.Set("r1", 1, "ann", int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if batch := a.flush(); len(batch) != 1 || batch[0].Offset != 99 {
		t.Fatalf("flush = %+v, want ann at 99 alone", batch)
	}
	if got := log.Len() - before; got != 1 {
		t.Fatalf("100 reads appended %d records, want 1", got)
	}
}

func TestLostAppendIsWrittenAgain(t *testing.T) {
	log, clk, cur := NewMemLog(), &clock{now: time.Unix(1e9, 0)}, &exists{}
	var dropped sync.Once
	lost := make(chan struct{})
	log.Drop = func(body []byte) bool {
		drop := false
		if bytes.Contains(body, []byte(`"u":"ann"`)) {
			dropped.Do(func() { drop = true; close(lost) })
		}
		return drop
	}
	a := startReplica(t, log, clk, cur.current, Options{ConfirmTimeout: 20 * time.Millisecond})
	b := startReplica(t, log, clk, cur.current, Options{})
	a.Set("r1", 1, "ann", 4)
	<-lost
	// the clock passes the confirm timeout; the next flush writes again
	clk.add(time.Second)
	a.waitStored(t, "r1", "ann", 4)
	waitPosition(t, b, "r1", "ann", 4)
}

func TestMaxPositions(t *testing.T) {
	log, clk, cur := NewMemLog(), &clock{now: time.Unix(1e9, 0)}, &exists{}
	a := startReplica(t, log, clk, cur.current, Options{MaxPositions: 2})
	a.Set("r1", 1, "ann", 1)
	a.Set("r1", 1, "bob", 1)
	if _, err := a.Set("r1", 1, "cid", 1); !errors.Is(err, ErrFull) {
		t.Fatalf("third position: %v, want ErrFull", err)
	}
	if moved, err := a.Set("r1", 1, "ann", 2); !moved || err != nil {
		t.Fatalf("an existing position moves when full: %v, %v", moved, err)
	}
}

func TestRestartFindsSnapshotOrReadsWhole(t *testing.T) {
	log, clk, cur := NewMemLog(), &clock{now: time.Unix(1e9, 0)}, &exists{gone: map[string]bool{}}
	log.Now = clk.Now
	a := startReplica(t, log, clk, cur.current, Options{Flush: time.Hour})
	a.Set("r1", 1, "ann", 1)
	a.Set("gone", 1, "ann", 1)
	a.flush()
	clk.add(time.Hour) // the first records fall out of any start's window

	// no snapshot since: a new replica reads the whole log
	b := startReplica(t, log, clk, cur.current, Options{})
	waitPosition(t, b, "r1", "ann", 1)
	if b.firstApplied != 0 {
		t.Fatalf("b started reading at %d, want the whole log", b.firstApplied)
	}

	// a snapshot, then more: the next replica starts at the snapshot
	cur.mu.Lock()
	cur.gone["gone"] = true
	cur.mu.Unlock()
	a.snapshot()
	if _, ok := a.Position("gone", 1, "ann"); ok {
		t.Fatal("a snapshot keeps the position of a room that is gone")
	}
	a.Set("r1", 1, "bob", 2)
	a.flush()
	clk.add(time.Minute)
	c := startReplica(t, log, clk, cur.current, Options{})
	waitPosition(t, c, "r1", "ann", 1)
	waitPosition(t, c, "r1", "bob", 2)
	if c.firstApplied == 0 {
		t.Fatal("c read the whole log although a snapshot covers it")
	}
	if _, ok := c.Position("gone", 1, "ann"); ok {
		t.Fatal("c has a position in a room that was gone before the snapshot")
	}
}

func TestSummarize(t *testing.T) {
	msg := func(off int64, typ rooms.MessageType, sender string) rooms.Message {
		return rooms.Message{Post: rooms.Post{Type: typ, Sender: sender, Message: "m"}, Offset: off}
	}
	newest := []rooms.Message{ // newest first
		msg(9, rooms.Edit, "bob"),
		msg(8, rooms.Talk, "ann"),
		msg(7, rooms.Talk, "bob"),
		msg(6, rooms.Enter, "cid"),
		msg(5, rooms.System, ""),
		msg(4, rooms.Talk, "bob"),
	}
	del := msg(3, rooms.Talk, "bob")
	del.Deleted = true
	newest = append(newest, del, msg(2, rooms.Talk, "bob"))
	cases := []struct {
		read int64
		more bool
		want int
		at   bool
	}{
		{read: -1, want: 4, at: false},
		{read: -1, more: true, want: 4, at: true},
		{read: 4, want: 2},
		{read: 7, want: 0},
		{read: 9, want: 0},
	}
	for _, c := range cases {
		s := Summarize(newest, c.more, "ann", c.read)
		if s.Unread != c.want || s.UnreadMore != c.at {
			t.Errorf("read %d more %v: unread %d more %v, want %d %v", c.read, c.more, s.Unread, s.UnreadMore, c.want, c.at)
		}
		if s.Last == nil || s.Last.Offset != 8 {
			t.Errorf("read %d: last %+v, want offset 8", c.read, s.Last)
		}
	}
}

// TestLogMadeAnew: when the log is deleted and made anew (offsets start
// over), every replica follows the new one, applies its records, and
// writes its positions into it again, so a replica started afterwards
// has them all.
func TestLogMadeAnew(t *testing.T) {
	log, clk, cur := NewMemLog(), &clock{now: time.Unix(1e9, 0)}, &exists{}
	log.Now = clk.Now
	a := startReplica(t, log, clk, cur.current, Options{})
	b := startReplica(t, log, clk, cur.current, Options{})
	// thirty records: the new log's first offsets are far below them
	for i := range 30 {
		a.Set("r1", 1, fmt.Sprint("u", i), int64(10+i))
		a.waitStored(t, "r1", fmt.Sprint("u", i), int64(10+i))
	}
	waitPosition(t, b, "r1", "u29", 39)
	log.Restart()
	// b's new position, in the new log, reaches a although its offset is
	// below what a had applied (the clock runs, so that records appended
	// while the tails were down are written again)
	if _, err := b.Set("r1", 1, "late", 1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		clk.add(time.Second)
		if got, ok := a.Position("r1", 1, "late"); ok && got == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a position written to the new log never reached the other replica")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// the snapshots rewrote the older positions into the new log
	err := waitFor(10*time.Second, func() bool {
		c := New(Options{Log: log, Now: clk.Now, Current: cur.current, Flush: time.Hour, SnapshotEvery: 10 * time.Minute})
		if err := c.Start(context.Background()); err != nil {
			return false
		}
		defer c.Close()
		got, ok := c.Position("r1", 1, "u0")
		return ok && got == 10
	})
	if err != nil {
		t.Fatal("a replica started after the log was made anew lacks the positions from before")
	}
}

// waitFor polls cond until it holds or within passes.
func waitFor(within time.Duration, cond func() bool) error {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
