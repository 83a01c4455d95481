package rabbitstore

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/feed"
	"chatrelay/internal/testkit"
)

func TestCreateVisibleEverywhereThenDelete(t *testing.T) {
	n := rabbittest.Require(t, node)
	a, b := newReplica(t, n, nil), newReplica(t, n, nil)
	room, err := a.s.Create(testCtx(t), rooms.Spec{Name: roomName(t), CreatedBy: "ann", Origin: rooms.OriginOf("192.0.2.1")})
	if err != nil {
		t.Fatal(err)
	}
	if room.Seq < 1 || room.Origin != rooms.OriginOf("192.0.2.1") {
		t.Fatalf("created room without its Seq or Origin: %+v", room)
	}
	if got, ok := a.s.Get(room.ID); !ok || !reflect.DeepEqual(got, room) {
		t.Fatalf("creator does not see %+v at once: %+v", room, got)
	}
	testkit.Eventually(t, time.Second, "the room on the other replica", func() bool {
		got, ok := b.s.Get(room.ID)
		return ok && reflect.DeepEqual(got, room)
	})
	if l := b.s.List(); !reflect.DeepEqual(l[len(l)-1], room) {
		t.Fatalf("list does not end with the new room: %+v", l)
	}
	// the other replica pages by the same Seq
	if page, more := b.s.Page(room.Seq-1, 10, nil); len(page) != 1 || more || !reflect.DeepEqual(page[0], room) {
		t.Fatalf("page after Seq %d on the other replica: %+v %v", room.Seq-1, page, more)
	}
	if err := b.s.Open(testCtx(t), room.ID); err != nil {
		t.Fatal(err)
	}
	queues, err := n.Queues()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(queues, func(q rabbittest.Queue) bool { return q.Name == room.Stream }) {
		t.Fatalf("no stream %s", room.Stream)
	}
	if err := b.s.Delete(testCtx(t), room.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.s.Get(room.ID); ok {
		t.Fatal("deleter still sees the room")
	}
	testkit.Eventually(t, time.Second, "the deletion on the other replica", func() bool {
		_, ok := a.s.Get(room.ID)
		return !ok
	})
	if err := a.s.Delete(testCtx(t), room.ID); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	testkit.Eventually(t, 5*time.Second, "the stream's deletion", func() bool {
		queues, err := n.Queues()
		return err == nil && !slices.ContainsFunc(queues, func(q rabbittest.Queue) bool { return q.Name == room.Stream })
	})
	if _, err := a.s.Follow(testCtx(t), room.ID, rooms.Live, func(rooms.Message, []byte) {}); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("follow a deleted room: %v", err)
	}
}

func TestDuplicateNames(t *testing.T) {
	n := rabbittest.Require(t, node)
	a, b := newReplica(t, n, nil), newReplica(t, n, nil)
	room, err := a.s.Create(testCtx(t), rooms.Spec{Name: roomName(t), CreatedBy: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, time.Second, "the room on the other replica", func() bool {
		_, ok := b.s.Get(room.ID)
		return ok
	})
	if _, err := b.s.Create(testCtx(t), rooms.Spec{Name: " " + strings.ToUpper(room.Name) + " ", CreatedBy: "bob"}); !errors.Is(err, rooms.ErrDuplicateName) {
		t.Fatalf("duplicate on the other replica: %v", err)
	}
	if _, err := a.s.Create(testCtx(t), rooms.Spec{Name: "", CreatedBy: "bob"}); !errors.Is(err, rooms.ErrInvalid) {
		t.Fatalf("empty name: %v", err)
	}
	// concurrent creates of one name: the first event in stream order
	// wins on both replicas
	for i := 0; i < 5; i++ {
		name := roomName(t)
		var wg sync.WaitGroup
		var ra, rb rooms.Room
		var ea, eb error
		wg.Add(2)
		go func() {
			// owns ra, ea until wg.Done: replica a's create
			defer wg.Done()
			ra, ea = a.s.Create(testCtx(t), rooms.Spec{Name: name, CreatedBy: "ann"})
		}()
		go func() {
			// owns rb, eb until wg.Done: replica b's create
			defer wg.Done()
			rb, eb = b.s.Create(testCtx(t), rooms.Spec{Name: name, CreatedBy: "bob"})
		}()
		wg.Wait()
		if (ea == nil) == (eb == nil) {
			t.Fatalf("race %d: both or neither won: %v, %v", i, ea, eb)
		}
		winner := ra
		if ea != nil {
			winner = rb
			if !errors.Is(ea, rooms.ErrDuplicateName) {
				t.Fatalf("loser error: %v", ea)
			}
		} else if !errors.Is(eb, rooms.ErrDuplicateName) {
			t.Fatalf("loser error: %v", eb)
		}
		testkit.Eventually(t, time.Second, "both replicas agreeing", func() bool {
			ga, oka := a.s.Get(winner.ID)
			gb, okb := b.s.Get(winner.ID)
			return oka && okb && reflect.DeepEqual(ga, winner) && reflect.DeepEqual(gb, winner)
		})
		var named int
		for _, r := range a.s.List() {
			if r.Name == name {
				named++
			}
		}
		if named != 1 {
			t.Fatalf("race %d: %d rooms named %s", i, named, name)
		}
	}
}

// roomWith creates a room on rp and sends messages 1..count into it.
func roomWith(t *testing.T, rp *replica, count int) rooms.Room {
	t.Helper()
	room, err := rp.s.Create(testCtx(t), rooms.Spec{Name: roomName(t), CreatedBy: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= count; i++ {
		rp.send(t, room.ID, i)
	}
	return room
}

func TestFollowLastThenLive(t *testing.T) {
	n := rabbittest.Require(t, node)
	a := newReplica(t, n, nil)
	room := roomWith(t, a, 50)
	// a fresh replica has no feed: it starts at the stream's end and
	// reads backwards
	b := newReplica(t, n, func(o *Options) { o.Buffer = 30 })
	f := newFollower()
	stop, err := b.s.Follow(testCtx(t), room.ID, rooms.Start{Last: 20, After: -1}, f.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if got := nums(f.wait(t, 20)); !slices.Equal(got, seq(31, 50)) {
		t.Fatalf("last 20: %v", got)
	}
	a.send(t, room.ID, 51)
	msgs := f.wait(t, 21)
	if got := nums(msgs); !slices.Equal(got, seq(31, 51)) {
		t.Fatalf("then live: %v", got)
	}
	for i := 1; i < len(msgs); i++ {
		if msgs[i].Offset <= msgs[i-1].Offset || msgs[i].RoomID != room.ID || msgs[i].Sender != "ann" {
			t.Fatalf("bad message order or content: %+v after %+v", msgs[i], msgs[i-1])
		}
	}
}

func TestFollowAfterThenLive(t *testing.T) {
	n := rabbittest.Require(t, node)
	a := newReplica(t, n, nil)
	room := roomWith(t, a, 50)
	page, err := a.s.History(testCtx(t), room.ID, -1, 50)
	if err != nil {
		t.Fatal(err)
	}
	if got := nums(page); len(got) != 50 || got[0] != 50 || got[49] != 1 {
		t.Fatalf("history: %v", got)
	}
	off25 := page[50-25].Offset
	for _, rp := range []*replica{a, newReplica(t, n, func(o *Options) { o.Buffer = 10 })} {
		f := newFollower()
		stop, err := rp.s.Follow(testCtx(t), room.ID, rooms.Start{After: off25}, f.deliver)
		if err != nil {
			t.Fatal(err)
		}
		if got := nums(f.wait(t, 25)); !slices.Equal(got, seq(26, 50)) {
			t.Fatalf("after 25: %v", got)
		}
		stop()
	}
	f := newFollower()
	stop, err := a.s.Follow(testCtx(t), room.ID, rooms.Start{After: off25}, f.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	a.send(t, room.ID, 51)
	if got := nums(f.wait(t, 26)); !slices.Equal(got, seq(26, 51)) {
		t.Fatalf("after 25, then live: %v", got)
	}
}

func TestOneOrderAcrossReplicas(t *testing.T) {
	n := rabbittest.Require(t, node)
	a, b := newReplica(t, n, nil), newReplica(t, n, nil)
	room, err := a.s.Create(testCtx(t), rooms.Spec{Name: roomName(t), CreatedBy: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, time.Second, "the room on b", func() bool { _, ok := b.s.Get(room.ID); return ok })
	fa, fb := newFollower(), newFollower()
	stopA, err := a.s.Follow(testCtx(t), room.ID, rooms.Live, fa.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stopA()
	stopB, err := b.s.Follow(testCtx(t), room.ID, rooms.Live, fb.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stopB()
	pubs := []*replica{a, b, newReplica(t, n, nil)}
	var wg sync.WaitGroup
	for p, rp := range pubs {
		wg.Add(1)
		go func() {
			// owns publisher p: sends messages p*1000+1 ... in order
			defer wg.Done()
			for i := 1; i <= 67; i++ {
				rp.send(t, room.ID, p*1000+i)
			}
		}()
	}
	wg.Wait()
	total := 3 * 67
	ma, mb := fa.wait(t, total), fb.wait(t, total)
	if len(ma) != total || len(mb) != total {
		t.Fatalf("got %d and %d messages, want %d", len(ma), len(mb), total)
	}
	for i := range ma {
		if !reflect.DeepEqual(ma[i], mb[i]) {
			t.Fatalf("replicas differ at %d: %+v vs %+v", i, ma[i], mb[i])
		}
	}
	// each publisher's messages keep their order
	last := map[int]int{}
	for _, k := range nums(ma) {
		if k%1000 <= last[k/1000] {
			t.Fatalf("publisher %d out of order: %d after %d", k/1000, k, last[k/1000])
		}
		last[k/1000] = k % 1000
	}
}

func TestHistoryPagesNewestFirst(t *testing.T) {
	n := rabbittest.Require(t, node)
	a := newReplica(t, n, nil)
	room := roomWith(t, a, 60)
	for _, rp := range []*replica{a, newReplica(t, n, func(o *Options) { o.Buffer = 15 })} {
		var all []int
		before := int64(-1)
		for {
			page, err := rp.s.History(testCtx(t), room.ID, before, 25)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for i := 1; i < len(page); i++ {
				if page[i].Offset >= page[i-1].Offset {
					t.Fatalf("page not newest first: %+v", page)
				}
			}
			all = append(all, nums(page)...)
			before = page[len(page)-1].Offset
		}
		want := seq(1, 60)
		slices.Reverse(want)
		if !slices.Equal(all, want) {
			t.Fatalf("paged history: %v", all)
		}
	}
	if _, err := a.s.History(testCtx(t), "nosuchroom", -1, 10); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("history of a missing room: %v", err)
	}
}

func TestSurvivesBrokerRestart(t *testing.T) {
	n := rabbittest.Require(t, node)
	a := newReplica(t, n, nil)
	room := roomWith(t, a, 10)
	f := newFollower()
	stop, err := a.s.Follow(testCtx(t), room.ID, rooms.Start{Last: 5, After: -1}, f.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if got := nums(f.wait(t, 5)); !slices.Equal(got, seq(6, 10)) {
		t.Fatalf("before the restart: %v", got)
	}
	if err := n.StopApp(); err != nil {
		t.Fatal(err)
	}
	if err := n.StartApp(); err != nil {
		t.Fatal(err)
	}
	if err := a.r.WaitReady(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	// the room's stream takes messages again once a marker published into
	// it comes back: a SEND straight through the relay (no Confirmer
	// here) receipted while the stream still recovers may be lost
	st, _ := a.s.reg.state(room.ID, false)
	testkit.Eventually(t, 30*time.Second, "the room's stream to recover", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return a.s.amqp.readStream(ctx, st.stream, "last", true, func(feed.Record) bool { return true }) == nil
	})
	// the follower goes on after the broker's restart (the relay
	// reconnected, the room tail consumed again), no gap, no duplicate
	a.send(t, room.ID, 11)
	if got := nums(f.wait(t, 6)); !slices.Equal(got, seq(6, 11)) {
		t.Fatalf("across the restart: %v", got)
	}
	// a new replica replays the room and its messages
	b := newReplica(t, n, nil)
	if got, ok := b.s.Get(room.ID); !ok || !reflect.DeepEqual(got, room) {
		t.Fatalf("room after the restart: %+v %v", got, ok)
	}
	page, err := b.s.History(testCtx(t), room.ID, -1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := nums(page); !slices.Equal(got, []int{11, 10, 9}) {
		t.Fatalf("history after the restart: %v", got)
	}
	fb := newFollower()
	stopB, err := b.s.Follow(testCtx(t), room.ID, rooms.Start{Last: 3, After: -1}, fb.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stopB()
	if got := nums(fb.wait(t, 3)); !slices.Equal(got, seq(9, 11)) {
		t.Fatalf("follow after the restart: %v", got)
	}
}

func TestFeedStopsWhenIdleAndResyncs(t *testing.T) {
	n := rabbittest.Require(t, node)
	a := newReplica(t, n, func(o *Options) { o.Idle = 20 * time.Millisecond })
	room := roomWith(t, a, 5)
	f := newFollower()
	stop, err := a.s.Follow(testCtx(t), room.ID, rooms.Start{Last: 2, After: -1}, f.deliver)
	if err != nil {
		t.Fatal(err)
	}
	if got := nums(f.wait(t, 2)); !slices.Equal(got, seq(4, 5)) {
		t.Fatalf("first feed: %v", got)
	}
	stop()
	testkit.Eventually(t, 5*time.Second, "the idle feed to stop", func() bool { return !a.s.feeds.Running(room.ID) })
	a.send(t, room.ID, 6)
	f2 := newFollower()
	stop2, err := a.s.Follow(testCtx(t), room.ID, rooms.Start{Last: 3, After: -1}, f2.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop2()
	if got := nums(f2.wait(t, 3)); !slices.Equal(got, seq(4, 6)) {
		t.Fatalf("second feed: %v", got)
	}
}

func TestPrivateRoomMembersAcrossReplicas(t *testing.T) {
	n := rabbittest.Require(t, node)
	a, b := newReplica(t, n, nil), newReplica(t, n, nil)
	room, err := a.s.Create(testCtx(t), rooms.Spec{Name: roomName(t), CreatedBy: "ann", Private: true, Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, time.Second, "the private room on the other replica", func() bool {
		got, ok := b.s.Get(room.ID)
		return ok && got.Private && got.Allows("bob") && !got.Allows("carol")
	})
	changed, err := b.s.SetMembers(testCtx(t), room.ID, []string{"carol"})
	if err != nil {
		t.Fatal(err)
	}
	if changed.Allows("bob") || !changed.Allows("carol") || !changed.Allows("ann") {
		t.Fatalf("SetMembers returned %+v", changed)
	}
	testkit.Eventually(t, time.Second, "the new members on the first replica", func() bool {
		got, _ := a.s.Get(room.ID)
		return reflect.DeepEqual(got, changed)
	})
	// a new replica replays creation and membership in order
	c := newReplica(t, n, nil)
	if got, ok := c.s.Get(room.ID); !ok || !reflect.DeepEqual(got, changed) {
		t.Fatalf("replayed room %+v %v, want %+v", got, ok, changed)
	}
	pub, err := a.s.Create(testCtx(t), rooms.Spec{Name: roomName(t) + "-open", CreatedBy: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.s.SetMembers(testCtx(t), pub.ID, []string{"bob"}); !errors.Is(err, rooms.ErrInvalid) {
		t.Fatalf("members of a public room: %v", err)
	}
}
