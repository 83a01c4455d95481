package rabbitstore

import (
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/feed"
	"chatrelay/internal/testkit"
)

// declared reports whether the queue exists, by a passive declaration
// (definite, unlike the management API's list, which lags).
func declared(t *testing.T, n *rabbittest.Node, name string) bool {
	t.Helper()
	var exists bool
	n.WithChannel(t, func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
		var ae *amqp.Error
		switch {
		case err == nil:
			exists = true
		case errors.As(err, &ae) && ae.Code == amqp.NotFound:
		default:
			return err
		}
		return nil
	})
	return exists
}

// twoReplicasRoom starts two replicas on the package's node and creates a
// room on the first, which the second sees.
func twoReplicasRoom(t *testing.T) (*rabbittest.Node, *replica, *replica, rooms.Room) {
	t.Helper()
	return twoReplicasRoomWith(t, nil)
}

// twoReplicasRoomWith is twoReplicasRoom with both stores' options
// tweaked.
func twoReplicasRoomWith(t *testing.T, tweak func(*Options)) (*rabbittest.Node, *replica, *replica, rooms.Room) {
	t.Helper()
	n := rabbittest.Require(t, node)
	a, b := newReplica(t, n, tweak), newReplica(t, n, tweak)
	room, err := a.s.Create(testCtx(t), rooms.Spec{Name: roomName(t), CreatedBy: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the room on the other replica", func() bool { _, ok := b.s.Get(room.ID); return ok })
	return n, a, b, room
}

// TestRoomStreamDeclaredOnFirstOpen: a new room has no stream; a replica
// following it before it has one sees an empty room (no error, empty
// history), and once another replica opens it and sends, gets every
// message, in order, from the stream's start; history has them on both;
// a second Open publishes no registry event.
func TestRoomStreamDeclaredOnFirstOpen(t *testing.T) {
	n, a, b, room := twoReplicasRoom(t)
	if declared(t, n, room.Stream) {
		t.Fatalf("stream %s declared by Create", room.Stream)
	}
	early := newFollower()
	stop, err := b.s.Follow(testCtx(t), room.ID, rooms.Start{Last: 10, After: -1}, early.deliver)
	if err != nil {
		t.Fatalf("follow a room without a stream: %v", err)
	}
	defer stop()
	if h, err := b.s.History(testCtx(t), room.ID, -1, 10); err != nil || len(h) != 0 {
		t.Fatalf("history of a room without a stream: %v, %v", h, err)
	}
	if declared(t, n, room.Stream) {
		t.Fatal("following a room declared its stream")
	}

	if err := a.s.Open(testCtx(t), room.ID); err != nil {
		t.Fatal(err)
	}
	if !declared(t, n, room.Stream) {
		t.Fatalf("no stream %s after Open", room.Stream)
	}
	events := a.s.reg.taken()
	if err := a.s.Open(testCtx(t), room.ID); err != nil {
		t.Fatal(err)
	}
	if got := a.s.reg.taken(); got != events {
		t.Fatalf("a second Open published %d registry events", got-events)
	}
	for i := 1; i <= 3; i++ {
		a.send(t, room.ID, i)
	}
	if got := nums(early.wait(t, 3)); !slices.Equal(got, seq(1, 3)) {
		t.Fatalf("early follower got %v, want 1..3", got)
	}
	for _, rp := range []*replica{a, b} {
		h, err := rp.s.History(testCtx(t), room.ID, -1, 10)
		if err != nil || !slices.Equal(nums(h), []int{3, 2, 1}) {
			t.Fatalf("history %v, %v; want 3 2 1", nums(h), err)
		}
	}
}

// TestTwoReplicasOpenOneRoom: replicas opening one room at once (several
// callers each) all succeed, on one stream, and every replica's
// followers get the same messages in the same order.
func TestTwoReplicasOpenOneRoom(t *testing.T) {
	n, a, b, room := twoReplicasRoom(t)
	fa, fb := newFollower(), newFollower()
	for _, f := range []struct {
		rp *replica
		f  *follower
	}{{a, fa}, {b, fb}} {
		stop, err := f.rp.s.Follow(testCtx(t), room.ID, rooms.Live, f.f.deliver)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		rp := a
		if i%2 == 1 {
			rp = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- rp.s.Open(testCtx(t), room.ID)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Open: %v", err)
		}
	}
	if !declared(t, n, room.Stream) {
		t.Fatalf("no stream %s after the Opens", room.Stream)
	}
	for i := 1; i <= 6; i++ {
		[]*replica{a, b}[i%2].send(t, room.ID, i)
	}
	ga, gb := fa.wait(t, 6), fb.wait(t, 6)
	if !slices.Equal(nums(ga), nums(gb)) || len(ga) != 6 {
		t.Fatalf("replicas saw %v and %v", nums(ga), nums(gb))
	}
	for i := range ga {
		if ga[i].Offset != gb[i].Offset {
			t.Fatalf("offsets differ: %v vs %v", ga, gb)
		}
	}
}

// TestDeleteUnopenedRoom: a room that never had a stream deletes cleanly;
// opening it afterwards is not found and declares nothing.
func TestDeleteUnopenedRoom(t *testing.T) {
	n := rabbittest.Require(t, node)
	a := newReplica(t, n, nil)
	room, err := a.s.Create(testCtx(t), rooms.Spec{Name: roomName(t), CreatedBy: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.s.Delete(testCtx(t), room.ID); err != nil {
		t.Fatalf("delete a room without a stream: %v", err)
	}
	if err := a.s.Open(testCtx(t), room.ID); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("open a deleted room: %v", err)
	}
	if declared(t, n, room.Stream) {
		t.Fatal("stream declared for a deleted room")
	}
}

// TestOpenLosingToDeleteRemovesStream: an Open whose opened event comes
// after the room's deleted event in registry order (a replica that
// opened a room another one deleted meanwhile) is refused, and the
// opener deletes the stream it declared: no orphan stream.
func TestOpenLosingToDeleteRemovesStream(t *testing.T) {
	n, a, b, room := twoReplicasRoom(t)
	if err := a.s.Delete(testCtx(t), room.ID); err != nil {
		t.Fatal(err)
	}
	// b opens the room as its view had it before the deletion
	if err := b.s.open(testCtx(t), roomState{room: room, exists: true}); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("open after the deletion: %v, want not found", err)
	}
	if declared(t, n, room.Stream) {
		t.Fatalf("stream %s left behind by an Open that lost to the deletion", room.Stream)
	}
}

// TestApplyOpened: the registry's rules for opened events, with no broker.
func TestApplyOpened(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	v := newView()
	lazy := rooms.Room{ID: "r1", Name: "one"}
	if err := v.apply(event{Event: eventCreated, Room: lazy, Stream: "room.one.r1", Lazy: true}, 10, log); err != nil {
		t.Fatal(err)
	}
	if err := v.apply(event{Event: eventCreated, Room: rooms.Room{ID: "r2", Name: "two"}, Stream: "room.two.r2"}, 11, log); err != nil {
		t.Fatal(err)
	}
	if _, ok := v.unopened["r1"]; !ok {
		t.Fatal("lazy room counted as opened")
	}
	if _, ok := v.unopened["r2"]; ok {
		t.Fatal("a room created by an earlier version (no lazy flag) counted as unopened")
	}
	for _, tc := range []struct {
		ev   event
		want error
	}{
		{event{Event: eventOpened, Room: rooms.Room{ID: "r1"}, Stream: "room.r1"}, rooms.ErrInvalid},
		{event{Event: eventOpened, Room: rooms.Room{ID: "r1"}, Stream: "chatrelay.rooms"}, rooms.ErrInvalid},
		{event{Event: eventOpened, Room: rooms.Room{ID: "nope"}, Stream: "room.nope"}, rooms.ErrNotFound},
	} {
		if err := v.apply(tc.ev, 12, log); !errors.Is(err, tc.want) {
			t.Fatalf("apply %+v: %v, want %v", tc.ev, err, tc.want)
		}
		if _, ok := v.unopened["r1"]; !ok {
			t.Fatalf("refused event %+v opened the room", tc.ev)
		}
	}
	for i := 0; i < 2; i++ { // the second one changes nothing
		if err := v.apply(event{Event: eventOpened, Room: rooms.Room{ID: "r1"}, Stream: "room.one.r1"}, int64(13+i), log); err != nil {
			t.Fatal(err)
		}
		if _, ok := v.unopened["r1"]; ok {
			t.Fatal("opened event not applied")
		}
	}
	if err := v.apply(event{Event: eventCreated, Room: rooms.Room{ID: "r3", Name: "three"}, Stream: "room.three.r3", Lazy: true}, 15, log); err != nil {
		t.Fatal(err)
	}
	if err := v.apply(event{Event: eventDeleted, Room: rooms.Room{ID: "r3"}}, 16, log); err != nil {
		t.Fatal(err)
	}
	if _, ok := v.unopened["r3"]; ok {
		t.Fatal("a deleted room stays among the unopened")
	}
}

// TestOpenedDuringReplayReleasesWaiter: while a replay builds a new view
// (the registry stream was lost and is read again), a room's opened event
// applied to that view, and a feed that started waiting for it on the
// served view afterwards: the waiter is released when the new view is
// served, not left waiting for an event already applied.
func TestOpenedDuringReplayReleasesWaiter(t *testing.T) {
	g := newRegistry(slog.New(slog.DiscardHandler), func(string) {})
	rec := func(off int64, ev event) {
		body, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		g.Record(feed.Record{Offset: off, Body: body})
	}
	created := event{Event: eventCreated, Room: rooms.Room{ID: "r1", Name: "one"}, Stream: "room.one.r1", Lazy: true, ID: "c1"}
	opened := event{Event: eventOpened, Room: rooms.Room{ID: "r1"}, Stream: "room.one.r1", ID: "o1"}
	rec(0, created)
	g.Synced()
	_, early := g.state("r1", true) // a waiter from before the replay
	g.beginReplay()
	rec(0, created)
	rec(1, opened)
	select {
	case <-early:
		t.Fatal("waiter released by an opened event of a view not served yet (the replay may still delete the room)")
	default:
	}
	if st, _ := g.opening("r1"); !st.exists || st.stream == "" {
		t.Fatalf("Open during the replay: %+v; want the room opened by the replayed view", st)
	}
	st, ch := g.state("r1", true)
	if !st.exists || st.stream != "" || ch == nil {
		t.Fatalf("served view: %+v, waiter %v; want the lazy room", st, ch != nil)
	}
	g.Synced()
	select {
	case <-ch:
	default:
		t.Fatal("waiter not released when the replayed view, with the room opened, was served")
	}
	if st, _ := g.state("r1", false); st.stream != "room.one.r1" {
		t.Fatalf("room's stream in the served view: %q", st.stream)
	}
}

// TestReplayWithoutRoomDropsWaiter: a lazy room that a replayed registry
// no longer has is dropped; its waiting feed wakes to find it gone (so it
// tails no stream that never existed), and no waiter is kept.
func TestReplayWithoutRoomDropsWaiter(t *testing.T) {
	var dropped []string
	g := newRegistry(slog.New(slog.DiscardHandler), func(id string) { dropped = append(dropped, id) })
	body, err := json.Marshal(event{Event: eventCreated, Room: rooms.Room{ID: "r1", Name: "one"}, Stream: "room.one.r1", Lazy: true, ID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	g.Record(feed.Record{Offset: 0, Body: body})
	g.Synced()
	_, ch := g.state("r1", true)
	g.beginReplay()
	g.Synced() // the new stream is empty
	select {
	case <-ch:
	default:
		t.Fatal("waiter of a room the replay no longer has was not woken")
	}
	if st, _ := g.state("r1", false); st.exists {
		t.Fatal("room still there after a replay without it")
	}
	if len(dropped) != 1 || dropped[0] != "r1" || len(g.changes) != 0 {
		t.Fatalf("dropped %v, waiters left %d; want r1 dropped and no waiter kept", dropped, len(g.changes))
	}
}

// TestRegistryCounts: the counts the creation limiter reads follow the
// registry (created and deleted events, a refused duplicate counted not),
// by owner and by origin, with "" counting none.
func TestRegistryCounts(t *testing.T) {
	g := newRegistry(slog.New(slog.DiscardHandler), func(string) {})
	off := int64(0)
	rec := func(ev event) {
		body, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		g.Record(feed.Record{Offset: off, Body: body})
		off++
	}
	created := func(id, name, by, origin string) event {
		return event{Event: eventCreated, Room: rooms.Room{ID: id, Name: name, CreatedBy: by}, Origin: origin, ID: "c-" + id, Lazy: true}
	}
	rec(created("r1", "one", "ann", "o1"))
	rec(created("r2", "two", "ann", "o2"))
	rec(created("r3", "three", "bob", "o1"))
	rec(created("r4", "one", "bob", "o1")) // name taken: refused
	rec(created("r5", "five", "", ""))
	check := func(user, origin string, want [3]int) {
		t.Helper()
		total, byUser, byOrigin := g.count(user, origin)
		if got := [3]int{total, byUser, byOrigin}; got != want {
			t.Fatalf("count(%q, %q) = %v, want %v", user, origin, got, want)
		}
	}
	check("ann", "o1", [3]int{4, 2, 2})
	check("bob", "o2", [3]int{4, 1, 1})
	check("", "", [3]int{4, 0, 0})
	rec(event{Event: eventDeleted, Room: rooms.Room{ID: "r1"}, ID: "d-r1"})
	check("ann", "o1", [3]int{3, 1, 1})
	rec(event{Event: eventDeleted, Room: rooms.Room{ID: "r3"}, ID: "d-r3"})
	check("bob", "o1", [3]int{2, 0, 0})
}
