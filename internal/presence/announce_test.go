package presence

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

// recorder collects what an Announcer publishes.
type recorder struct {
	mu   sync.Mutex
	msgs []string // "ENTER room user" or "LEAVE room user"
	ch   chan string
}

func newRecorder() *recorder { return &recorder{ch: make(chan string, 1000)} }

func (r *recorder) publish(room, user string, entered bool) {
	typ := "LEAVE"
	if entered {
		typ = "ENTER"
	}
	m := typ + " " + room + " " + user
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	r.ch <- m
}

// take returns and clears what was published so far.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.msgs
	r.msgs = nil
	for len(r.ch) > 0 {
		<-r.ch
	}
	return out
}

// next waits for the next publication.
func (r *recorder) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-r.ch:
		r.mu.Lock()
		r.msgs = r.msgs[1:]
		r.mu.Unlock()
		return m
	case <-time.After(waitTimeout):
		t.Fatal("no publication")
		return ""
	}
}

// fixture is an Announcer driven by hand: step runs what is due at the
// fake clock's time, as the loop would, on the test's goroutine.
type fixture struct {
	a      *Announcer
	clock  *fakeClock
	rec    *recorder
	online map[string]int
	mu     sync.Mutex
}

func newFixture(opts AnnounceOptions) *fixture {
	f := &fixture{clock: newFakeClock(), rec: newRecorder(), online: map[string]int{}}
	opts.Publish = f.rec.publish
	opts.Now, opts.After = f.clock.Now, f.clock.After
	if opts.Online == nil {
		opts.Online = func(room string) int {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.online[room]
		}
	}
	f.a = NewAnnouncer(opts)
	return f
}

// step publishes what is due now and returns everything published since
// the last step.
func (f *fixture) step() []string {
	f.a.mu.Lock()
	out := f.a.runDue(f.clock.Now())
	f.a.mu.Unlock()
	f.a.publish(out)
	return f.rec.take()
}

func (f *fixture) advance(d time.Duration) []string {
	f.clock.Advance(d)
	return f.step()
}

func (f *fixture) setOnline(room string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.online[room] = n
}

func want(t *testing.T, what string, got []string, w ...string) {
	t.Helper()
	if len(got) == 0 && len(w) == 0 {
		return
	}
	if !reflect.DeepEqual(got, w) {
		t.Fatalf("%s: published %q, want %q", what, got, w)
	}
}

func TestAnnounceQuickRejoinPublishesNothing(t *testing.T) {
	f := newFixture(AnnounceOptions{})
	f.a.Change("7", "ann", true)
	want(t, "join", f.step(), "ENTER 7 ann")
	f.a.Change("7", "ann", false)
	want(t, "leave", f.step())
	want(t, "within grace", f.advance(DefaultLeaveGrace-time.Millisecond))
	f.a.Change("7", "ann", true)
	want(t, "re-join within grace", f.step())
	want(t, "long after", f.advance(time.Hour))
	f.a.Change("7", "ann", false)
	want(t, "leave again", f.advance(DefaultLeaveGrace-time.Millisecond))
	want(t, "grace over", f.advance(time.Millisecond), "LEAVE 7 ann")
}

func TestAnnounceChurnIsCoalesced(t *testing.T) {
	f := newFixture(AnnounceOptions{})
	f.a.Change("7", "mallory", true)
	all := f.step()
	f.a.Change("7", "mallory", false)
	for i := 0; i < 300; i++ {
		f.a.Change("7", "mallory", true)
		all = append(all, f.step()...)
		f.a.Change("7", "mallory", false)
		all = append(all, f.advance(5*time.Millisecond)...)
	}
	want(t, "300 pairs in 1.5 s", all, "ENTER 7 mallory")
	want(t, "after the grace", f.advance(DefaultLeaveGrace), "LEAVE 7 mallory")
	if n := f.a.Tracked(); n != 1 {
		t.Fatalf("tracked %d pairs during the window, want 1", n)
	}
	f.advance(f.a.hold)
	if n, d := f.a.Tracked(), len(f.a.due); n != 0 || d != 0 || len(f.a.users) != 0 || len(f.a.rooms) != 0 {
		t.Fatalf("after the hold: %d pairs, %d scheduled, %d users, %d rooms; want none", n, d, len(f.a.users), len(f.a.rooms))
	}
}

func TestAnnounceEnterWindow(t *testing.T) {
	f := newFixture(AnnounceOptions{LeaveGrace: time.Second, EnterWindow: 10 * time.Second})
	f.a.Change("7", "ann", true)
	want(t, "join", f.step(), "ENTER 7 ann")
	f.a.Change("7", "ann", false)
	want(t, "grace over", f.advance(time.Second), "LEAVE 7 ann")
	f.a.Change("7", "ann", true)
	want(t, "re-join inside the window", f.advance(9*time.Second-time.Millisecond))
	want(t, "window over", f.advance(time.Millisecond), "ENTER 7 ann")

	// leaving before a held ENTER is due publishes nothing at all
	f.a.Change("7", "ann", false)
	want(t, "grace over", f.advance(time.Second), "LEAVE 7 ann")
	f.a.Change("7", "ann", true)
	f.a.Change("7", "ann", false)
	want(t, "join and leave inside the window", f.advance(time.Hour))
	if n := f.a.Tracked(); n != 0 {
		t.Fatalf("tracked %d pairs, want 0", n)
	}
}

func TestAnnounceUserBudget(t *testing.T) {
	f := newFixture(AnnounceOptions{UserRate: 0.5, UserBurst: 3})
	for i := 0; i < 6; i++ {
		f.a.Change(fmt.Sprint(i), "ann", true)
	}
	want(t, "six rooms at once", f.step(), "ENTER 0 ann", "ENTER 1 ann", "ENTER 2 ann")
	f.a.Change("9", "bob", true)
	want(t, "another user has its own budget", f.step(), "ENTER 9 bob")
	f.a.Change("6", "ann", true)
	want(t, "budget refilled after 2 s", f.advance(2*time.Second), "ENTER 6 ann")
	for i := 0; i < 7; i++ {
		f.a.Change(fmt.Sprint(i), "ann", false)
	}
	got := f.advance(DefaultLeaveGrace)
	if len(got) != 4 {
		t.Fatalf("LEAVEs %q: want one for each of the 4 ENTERs", got)
	}
}

func TestAnnounceBigRoomIsSilent(t *testing.T) {
	f := newFixture(AnnounceOptions{MaxBroadcastMembers: 3})
	f.setOnline("7", 4) // the joining user included
	f.a.Change("7", "ann", true)
	want(t, "join a room of 4", f.step())
	if n := f.a.Tracked(); n != 0 {
		t.Fatalf("tracked %d pairs of a big room, want 0", n)
	}
	f.a.Change("7", "ann", false)
	want(t, "leave it", f.advance(time.Hour))

	// a room that grows past the size between ENTER and LEAVE
	f.setOnline("8", 1)
	f.a.Change("8", "bob", true)
	want(t, "join a room of 1", f.step(), "ENTER 8 bob")
	f.setOnline("8", 3) // bob gone, 3 others
	f.a.Change("8", "bob", false)
	want(t, "leave a room grown to 3", f.advance(time.Hour))
}

func TestAnnounceOnlineElsewhere(t *testing.T) {
	var mu sync.Mutex
	elsewhere := true
	f := newFixture(AnnounceOptions{Elsewhere: func(room, user string) bool {
		mu.Lock()
		defer mu.Unlock()
		return elsewhere
	}})
	f.a.Change("7", "ann", true)
	want(t, "join while online on another replica", f.step())
	f.a.Change("7", "ann", false)
	f.a.Change("7", "ann", true)
	mu.Lock()
	elsewhere = false
	mu.Unlock()
	want(t, "a new stay, no longer online elsewhere", f.step(), "ENTER 7 ann")
	mu.Lock()
	elsewhere = true
	mu.Unlock()
	f.a.Change("7", "ann", false)
	want(t, "leave while online elsewhere", f.advance(time.Hour))
}

func TestAnnounceBounds(t *testing.T) {
	f := newFixture(AnnounceOptions{MaxPerUser: 2, MaxPerRoom: 3, MaxTracked: 5, UserRate: -1})
	f.a.Change("1", "ann", true)
	f.a.Change("2", "ann", true)
	f.a.Change("3", "ann", true) // past ann's 2
	f.a.Change("1", "bob", true)
	f.a.Change("1", "cy", true)
	f.a.Change("1", "dan", true) // past room 1's 3
	f.a.Change("4", "eve", true)
	f.a.Change("5", "fay", true) // past 5 in all
	want(t, "joins", f.step(), "ENTER 1 ann", "ENTER 2 ann", "ENTER 1 bob", "ENTER 1 cy", "ENTER 4 eve")
	if n := f.a.Tracked(); n != 5 {
		t.Fatalf("tracked %d, want 5", n)
	}
	for _, k := range [][2]string{{"1", "ann"}, {"2", "ann"}, {"3", "ann"}, {"1", "bob"}, {"1", "cy"}, {"1", "dan"}, {"4", "eve"}, {"5", "fay"}} {
		f.a.Change(k[0], k[1], false)
	}
	if got := f.advance(DefaultLeaveGrace); len(got) != 5 {
		t.Fatalf("LEAVEs %q: want the 5 announced", got)
	}
	f.advance(f.a.hold)
	if n := f.a.Tracked(); n != 0 || len(f.a.due) != 0 || len(f.a.users) != 0 || len(f.a.rooms) != 0 {
		t.Fatalf("left over: %d pairs, %d scheduled, %d users, %d rooms", n, len(f.a.due), len(f.a.users), len(f.a.rooms))
	}
	f.a.Change("5", "fay", true)
	want(t, "room for more again", f.step(), "ENTER 5 fay")
}

// TestAnnounceLoop runs the real loop on the fake clock: ENTER at once,
// the LEAVE when the clock passes the grace, and nothing held after Close.
func TestAnnounceLoop(t *testing.T) {
	clock, rec := newFakeClock(), newRecorder()
	a := NewAnnouncer(AnnounceOptions{Publish: rec.publish, Now: clock.Now, After: clock.After, LeaveGrace: time.Second})
	a.Start(context.Background())
	defer a.Close()
	a.Change("7", "ann", true)
	if m := rec.next(t); m != "ENTER 7 ann" {
		t.Fatalf("got %q", m)
	}
	a.Change("7", "ann", false)
	clock.waitArmed(t, 1) // the loop waits for the grace
	clock.Advance(time.Second)
	if m := rec.next(t); m != "LEAVE 7 ann" {
		t.Fatalf("got %q", m)
	}
	a.Change("8", "bob", true)
	if m := rec.next(t); m != "ENTER 8 bob" {
		t.Fatalf("got %q", m)
	}
	a.Change("8", "bob", false)
	a.Close()
	if m := rec.next(t); m != "LEAVE 8 bob" {
		t.Fatalf("Close published %q, want bob's held LEAVE", m)
	}
	a.Change("9", "cy", true)
	if n := a.Tracked(); n != 0 {
		t.Fatalf("tracked %d pairs after Close", n)
	}
}
