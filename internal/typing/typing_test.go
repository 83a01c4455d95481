package typing

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

// clock is a settable time source.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time          { return c.now }
func (c *clock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func newClock() *clock { return &clock{now: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)} }

// decode checks body is one event and returns it.
func decode(t *testing.T, body []byte) Event {
	t.Helper()
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil || ev.Type != Type {
		t.Fatalf("bad event %s (%v)", body, err)
	}
	return ev
}

// update calls Update and fails the test on an error.
func update(t *testing.T, tr *Tracker, room, user string, typing bool) []byte {
	t.Helper()
	b, err := tr.Update(room, user, typing)
	if err != nil {
		t.Fatalf("Update(%s, %s, %v): %v", room, user, typing, err)
	}
	return b
}

func TestStartRefreshStop(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{Now: c.Now})
	b := update(t, tr, "r1", "ann", true)
	if ev := decode(t, b); ev != (Event{Type: Type, RoomID: "r1", Sender: "ann", Typing: true, ExpiresInMs: 5000}) {
		t.Fatalf("start = %+v", ev)
	}
	c.Advance(time.Second)
	if b := update(t, tr, "r1", "ann", true); b != nil {
		t.Fatalf("a signal within Refresh published %s", b)
	}
	c.Advance(DefaultRefresh)
	if b := update(t, tr, "r1", "ann", true); b == nil || !decode(t, b).Typing {
		t.Fatalf("a signal after Refresh published %s, want a refreshed start", b)
	}
	b = update(t, tr, "r1", "ann", false)
	if ev := decode(t, b); ev != (Event{Type: Type, RoomID: "r1", Sender: "ann"}) {
		t.Fatalf("stop = %+v", ev)
	}
	if b := update(t, tr, "r1", "ann", false); b != nil {
		t.Fatalf("a second stop published %s", b)
	}
	if b := update(t, tr, "r1", "bob", false); b != nil {
		t.Fatalf("a stop of a user who never typed published %s", b)
	}
}

// TestSweepEndsQuietTypists: a user who goes quiet is ended by the server
// once TTL has passed since the last signal, not before, and only once.
func TestSweepEndsQuietTypists(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{Now: c.Now, TTL: 3 * time.Second})
	update(t, tr, "r1", "ann", true)
	c.Advance(2 * time.Second)
	update(t, tr, "r1", "ann", true) // extends to 5 s
	c.Advance(2 * time.Second)
	if got := tr.Sweep(); len(got) != 0 {
		t.Fatalf("swept %d before the TTL after the last signal", len(got))
	}
	c.Advance(time.Second)
	got := tr.Sweep()
	if len(got) != 1 || got[0].RoomID != "r1" || decode(t, got[0].Body).Typing {
		t.Fatalf("sweep at the TTL = %v, want ann's stop in r1", got)
	}
	if got := tr.Sweep(); len(got) != 0 {
		t.Fatalf("a second sweep ended %d again", len(got))
	}
	if b := update(t, tr, "r1", "ann", false); b != nil {
		t.Fatalf("a stop after the sweep's published %s", b)
	}
	c.Advance(time.Hour)
	tr.Sweep()
	if n := tr.Tracked(); n != 0 {
		t.Fatalf("%d users tracked after everything ended and budgets refilled", n)
	}
}

// TestBudgetBoundsEvents: a user toggling as fast as frames allow gets at
// most Burst + Rate × elapsed events published, and others are not
// affected.
func TestBudgetBoundsEvents(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{Now: c.Now, Rate: 2, Burst: 4})
	published := 0
	for i := range 200 { // 10 s of 20 signals a second
		if update(t, tr, "r1", "mallory", i%2 == 0) != nil {
			published++
		}
		c.Advance(50 * time.Millisecond)
	}
	if max := 4 + 2*10 + 1; published > max || published < 10 {
		t.Fatalf("%d events published for 200 toggles in 10 s, want between 10 and %d", published, max)
	}
	if b := update(t, tr, "r1", "ann", true); b == nil {
		t.Fatal("another user's start was not published")
	}
}

func TestLimits(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{Now: c.Now, MaxRoomsPerUser: 2, MaxTracked: 2})
	update(t, tr, "r1", "ann", true)
	update(t, tr, "r2", "ann", true)
	if _, err := tr.Update("r3", "ann", true); !errors.Is(err, ErrTooManyRooms) {
		t.Fatalf("a third room: %v, want ErrTooManyRooms", err)
	}
	update(t, tr, "r1", "ann", true) // a room already typed in is fine
	update(t, tr, "r1", "bob", true)
	if _, err := tr.Update("r1", "carol", true); !errors.Is(err, ErrFull) {
		t.Fatalf("a third user: %v, want ErrFull", err)
	}
	// once ann and bob are done and their budgets refilled, there is room
	update(t, tr, "r1", "ann", false)
	update(t, tr, "r2", "ann", false)
	update(t, tr, "r1", "bob", false)
	c.Advance(time.Minute)
	if b := update(t, tr, "r1", "carol", true); b == nil {
		t.Fatal("carol's start was not published once the others were gone")
	}
}

// TestManyUsersSweep: the tracker's size follows who is typing.
func TestManyUsersSweep(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{Now: c.Now})
	for i := range 1000 {
		update(t, tr, "r1", fmt.Sprint("u", i), true)
	}
	c.Advance(DefaultTTL)
	if got := tr.Sweep(); len(got) != 1000 {
		t.Fatalf("swept %d stops, want 1000", len(got))
	}
	c.Advance(time.Minute)
	tr.Sweep()
	if n := tr.Tracked(); n != 0 {
		t.Fatalf("%d users tracked after all went quiet", n)
	}
}

func TestSweeperPublishesStops(t *testing.T) {
	tr := NewTracker(Options{TTL: 100 * time.Millisecond})
	got := make(chan string, 4)
	s := NewSweeper(tr, func(dest string, body []byte) { got <- dest + " " + string(body) })
	s.Start()
	defer s.Close()
	update(t, tr, "r1", "ann", true)
	select {
	case m := <-got:
		if m != `/topic/room.r1.typing {"type":"TYPING","roomId":"r1","sender":"ann","typing":false}` {
			t.Fatalf("published %s", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no stop within 5 s of a 100 ms TTL")
	}
	s.Close()
	s.Close() // idempotent
}
