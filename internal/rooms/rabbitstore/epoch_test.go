package rabbitstore

import (
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"chatrelay/internal/rooms"
)

// TestLifecycleEventsCompareAndSet: a lifecycle event is applied only in
// the state and epoch it names; stale, racing and republished ones (a
// second closing, an archived event naming another closer, an opened
// event of a later epoch, a base that goes back) change nothing.
func TestLifecycleEventsCompareAndSet(t *testing.T) {
	v := newView()
	log := slog.New(slog.DiscardHandler)
	off := int64(0)
	apply := func(ev event) error {
		off++
		return v.apply(ev, off, log)
	}
	want := func(what string, err, wantErr error) {
		t.Helper()
		if !errors.Is(err, wantErr) || (wantErr == nil && err != nil) {
			t.Fatalf("%s: %v, want %v", what, err, wantErr)
		}
	}
	r := rooms.Room{ID: "r1", Name: "one"}
	ev := func(kind string, epoch int, id string) event {
		return event{Event: kind, Room: rooms.Room{ID: "r1"}, Epoch: epoch, ID: id, At: time.Unix(100, 0)}
	}
	want("created", apply(event{Event: eventCreated, Room: r, Stream: "room.one.r1", Lazy: true, ID: "c"}), nil)
	want("closing a room never opened", apply(ev(eventClosing, 0, "x0")), errStale)
	opened := ev(eventOpened, 0, "o0")
	opened.Stream = "room.one.r1"
	want("opened", apply(opened), nil)

	want("closing of a later epoch", apply(ev(eventClosing, 1, "x1")), errStale)
	want("closing", apply(ev(eventClosing, 0, "c1")), nil)
	want("a second closing", apply(ev(eventClosing, 0, "c2")), errStale)
	archived := ev(eventArchived, 0, "a1")
	archived.Closer, archived.Base = "c2", 5
	want("archived naming the losing closer", apply(archived), errStale)
	aborted := ev(eventAborted, 0, "b1")
	aborted.Closer = "c1"
	want("aborted", apply(aborted), nil)
	if st := v.state("r1"); st.stream != "room.one.r1" || st.closing {
		t.Fatalf("after the abort: %+v, want epoch 0 open", st)
	}

	want("closing again", apply(ev(eventClosing, 0, "c3")), nil)
	archived.Closer, archived.ID = "c3", "a2"
	archived.Records = []archivedRecord{{Offset: 1, Body: json.RawMessage(`{"id":"m1"}`)}}
	want("archived", apply(archived), nil)
	st := v.state("r1")
	if st.stream != "" || st.epoch != 1 || st.base != 5 || len(st.snapshot) != 1 {
		t.Fatalf("archived: %+v, want no stream, next epoch 1, base 5, one record", st)
	}
	again := archived
	again.ID = "a3"
	want("a republished archived event", apply(again), errStale)
	aborted.ID, aborted.Closer = "b2", "c3"
	want("an abort after the archive", apply(aborted), errStale)

	later := ev(eventOpened, 2, "o2")
	later.Stream = "room.one.r1.e2"
	want("opened of an epoch after the next", apply(later), errStale)
	wrong := ev(eventOpened, 1, "o3")
	wrong.Stream = "room.one.r1"
	want("opened naming the first stream for epoch 1", apply(wrong), rooms.ErrInvalid)
	next := ev(eventOpened, 1, "o4")
	next.Stream = "room.one.r1.e1"
	want("opened of the next epoch", apply(next), nil)
	next.ID = "o5"
	want("a second opener of that epoch", apply(next), nil)
	if st := v.state("r1"); st.stream != "room.one.r1.e1" || st.base != 5 || len(st.snapshot) != 1 {
		t.Fatalf("reopened: %+v, want epoch 1 open at base 5 with the archived record", st)
	}
	opened.ID = "o6"
	want("a late opened event of epoch 0", apply(opened), errStale)

	want("closing epoch 1", apply(ev(eventClosing, 1, "c4")), nil)
	back := ev(eventArchived, 1, "a4")
	back.Closer, back.Base = "c4", 5
	want("archived with a base that does not move on", apply(back), rooms.ErrInvalid)
	want("deleted", apply(event{Event: eventDeleted, Room: rooms.Room{ID: "r1"}, ID: "d"}), nil)
	if _, ok := v.lives["r1"]; ok {
		t.Fatal("a deleted room's lifecycle kept")
	}
}

// TestParseMaxAge: x-max-age's units, and refusals.
func TestParseMaxAge(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "7D": 7 * 24 * time.Hour, "24h": 24 * time.Hour, "90s": 90 * time.Second, "1Y": 365 * 24 * time.Hour, "2M": 60 * 24 * time.Hour, "5m": 5 * time.Minute} {
		if got, err := parseMaxAge(in); err != nil || got != want {
			t.Errorf("parseMaxAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"7", "D", "7d", "-1D", "x1h"} {
		if _, err := parseMaxAge(in); err == nil {
			t.Errorf("parseMaxAge(%q) accepted", in)
		}
	}
}
