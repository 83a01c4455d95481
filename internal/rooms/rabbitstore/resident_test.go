package rabbitstore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
	"chatrelay/internal/testkit"
)

// residentRoom starts two replicas whose rooms take posts (max messages
// each) on the package's node, and creates a room on the first, which the
// second sees.
func residentRoom(t *testing.T, max int) (*rabbittest.Node, *replica, *replica, rooms.Room) {
	t.Helper()
	return twoReplicasRoomWith(t, func(o *Options) { o.Resident, o.ArchiveMaxMessages = true, max })
}

// follow follows a room on rp from start until the test ends.
func (rp *replica) follow(t *testing.T, roomID string, start rooms.Start) *follower {
	t.Helper()
	f := newFollower()
	stop, err := rp.s.Follow(testCtx(t), roomID, start, f.deliver)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return f
}

// message returns chat message number i of a room, as chat.send makes it.
func message(roomID string, i int) (id string, body []byte) {
	id = "m" + strconv.Itoa(i)
	body, _ = json.Marshal(map[string]any{"id": id, "roomId": roomID, "type": "TALK",
		"sender": "ann", "message": strconv.Itoa(i), "sentAt": time.Now().UTC()})
	return id, body
}

// post posts message i and reports whether the room took it.
func (rp *replica) post(t *testing.T, roomID string, i int) bool {
	t.Helper()
	id, body := message(roomID, i)
	ok, err := rp.s.Post(testCtx(t), roomID, id, body)
	if err != nil {
		t.Fatalf("post %d: %v", i, err)
	}
	return ok
}

// TestResidentRoomTakesPostsWithoutStream: messages posted to a room
// without a stream are stored in the registry: no stream is declared, a
// follower on the other replica gets them live, in order, at offsets
// 0, 1, 2; history has them on both replicas and on a replica started
// afterwards (which replays the registry), and x-resume-after resumes
// among them.
func TestResidentRoomTakesPostsWithoutStream(t *testing.T) {
	n, a, b, room := residentRoom(t, 10)
	f := b.follow(t, room.ID, rooms.Start{After: -1})
	for i := 1; i <= 3; i++ {
		if !a.post(t, room.ID, i) {
			t.Fatalf("post %d not taken by a room without a stream", i)
		}
	}
	got := f.wait(t, 3)
	if !slices.Equal(nums(got), seq(1, 3)) || !slices.Equal(offsets(got), []int64{0, 1, 2}) {
		t.Fatalf("follower got %v at %v, want 1..3 at 0..2", nums(got), offsets(got))
	}
	if declared(t, n, room.Stream) {
		t.Fatalf("posts declared the stream %s", room.Stream)
	}
	c := newReplica(t, n, func(o *Options) { o.Resident = true })
	for name, rp := range map[string]*replica{"a": a, "b": b, "started afterwards": c} {
		h, err := rp.s.History(testCtx(t), room.ID, -1, 10)
		if err != nil || !slices.Equal(nums(h), []int{3, 2, 1}) {
			t.Fatalf("history on %s: %v, %v; want 3 2 1", name, nums(h), err)
		}
	}
	resumed := c.follow(t, room.ID, rooms.Start{After: 0})
	if got := nums(resumed.wait(t, 2)); !slices.Equal(got, []int{2, 3}) {
		t.Fatalf("resume after offset 0 gave %v, want 2 3", got)
	}
}

// TestResidentRoomOpensStreamWhenFull: a room takes posts up to its
// bound; the replica whose post filled it opens its stream, further posts
// are refused (the caller publishes to the topic), and the stream's
// messages follow the posted ones in one order of offsets on both
// replicas.
func TestResidentRoomOpensStreamWhenFull(t *testing.T) {
	n, a, b, room := residentRoom(t, 3)
	f := b.follow(t, room.ID, rooms.Start{After: -1})
	for i := 1; i <= 3; i++ {
		if !b.post(t, room.ID, i) {
			t.Fatalf("post %d refused below the bound", i)
		}
	}
	testkit.Eventually(t, 10*time.Second, "the full room's stream declared by the replica that filled it", func() bool {
		st, _ := a.s.reg.state(room.ID, false)
		return st.stream != "" && declared(t, n, st.stream)
	})
	if a.post(t, room.ID, 4) {
		t.Fatal("a full room took a post")
	}
	a.send(t, room.ID, 4)
	a.send(t, room.ID, 5)
	got := f.wait(t, 5)
	if !slices.Equal(nums(got), seq(1, 5)) {
		t.Fatalf("follower got %v, want 1..5", nums(got))
	}
	if o := offsets(got); !slices.IsSorted(o) || o[2] != 2 || o[3] <= 2 {
		t.Fatalf("offsets %v: want the posted ones at 0..2 and the stream's above", o)
	}
	for _, rp := range []*replica{a, b} {
		h, err := rp.s.History(testCtx(t), room.ID, -1, 10)
		if err != nil || !slices.Equal(nums(h), []int{5, 4, 3, 2, 1}) {
			t.Fatalf("history %v, %v; want 5..1", nums(h), err)
		}
	}
}

// TestResidentPostRefusedOnceOpened: a posted event that the registry
// orders after the room's opened event is refused on every replica (its
// poster publishes to the topic instead), and Post on a room that has a
// stream posts nothing.
func TestResidentPostRefusedOnceOpened(t *testing.T) {
	_, a, b, room := residentRoom(t, 10)
	id, body := message(room.ID, 1)
	ev, ok := a.s.postedEvent(room.ID, id, body)
	if !ok {
		t.Fatal("no posted event for a room without a stream")
	}
	if err := b.s.Open(testCtx(t), room.ID); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the opened room on a", func() bool { st, _ := a.s.reg.state(room.ID, false); return st.stream != "" })
	if err := a.s.record(testCtx(t), ev); !errors.Is(err, errStale) {
		t.Fatalf("a posted event after the opened event: %v, want errStale", err)
	}
	if a.post(t, room.ID, 2) {
		t.Fatal("a room with a stream took a post")
	}
	for _, rp := range []*replica{a, b} {
		if h, err := rp.s.History(testCtx(t), room.ID, -1, 10); err != nil || len(h) != 0 {
			t.Fatalf("history %v, %v; want none", nums(h), err)
		}
	}
}

// TestResidentPostTakenOnce: a message posted again with the same id (a
// Confirmer's republish, through PostAsync) is stored once; a post to a
// deleted room is refused.
func TestResidentPostTakenOnce(t *testing.T) {
	_, a, b, room := residentRoom(t, 10)
	id, body := message(room.ID, 1)
	for range 3 {
		if !a.s.PostAsync(room.ID, id, body, func() { t.Error("a message published to the topic of a room that takes posts") }) {
			t.Fatal("PostAsync did not take a message of a room without a stream")
		}
	}
	testkit.Eventually(t, 10*time.Second, "the post queue gone", func() bool {
		a.s.postMu.Lock()
		defer a.s.postMu.Unlock()
		return len(a.s.postQueues) == 0
	})
	if !a.post(t, room.ID, 2) {
		t.Fatal("post 2 refused")
	}
	for _, rp := range []*replica{a, b} {
		testkit.Eventually(t, 5*time.Second, "message 2 in history", func() bool {
			h, err := rp.s.History(testCtx(t), room.ID, -1, 10)
			return err == nil && len(h) > 0 && h[0].Message == "2"
		})
		h, _ := rp.s.History(testCtx(t), room.ID, -1, 10)
		if !slices.Equal(nums(h), []int{2, 1}) || !slices.Equal(offsets(h), []int64{1, 0}) {
			t.Fatalf("history %v at %v, want 2 1 at 1 0", nums(h), offsets(h))
		}
	}
	if err := a.s.Delete(testCtx(t), room.ID); err != nil {
		t.Fatal(err)
	}
	id3, body3 := message(room.ID, 3)
	if ok, err := a.s.Post(context.Background(), room.ID, id3, body3); ok || err != nil {
		t.Fatalf("post to a deleted room: %v, %v; want false, nil", ok, err)
	}
}

// TestResidentOrderAcrossFill: messages handed to PostAsync in one burst,
// more than the room may hold in the registry, reach every follower in
// the order given: the first ones posted, the rest published to the
// stream opened for them, none overtaking another; PostAsync leaves the
// room's topic to its caller only once the room has a stream and nothing
// is queued.
func TestResidentOrderAcrossFill(t *testing.T) {
	_, a, b, room := residentRoom(t, 5)
	f := b.follow(t, room.ID, rooms.Start{After: -1})
	const total = 12
	for i := 1; i <= total; i++ {
		id, body := message(room.ID, i)
		publish := func() {
			a.r.Publish(rooms.Topic(room.ID), stomp.Headers{{Key: "content-type", Value: "application/json"}}, body, nil)
		}
		if !a.s.PostAsync(room.ID, id, body, publish) {
			t.Fatalf("message %d: PostAsync left a room without a stream to its caller", i)
		}
	}
	got := f.wait(t, total)
	if !slices.Equal(nums(got), seq(1, total)) || !slices.IsSorted(offsets(got)) {
		t.Fatalf("follower got %v at %v, want 1..%d in order", nums(got), offsets(got), total)
	}
	testkit.Eventually(t, 10*time.Second, "the post queue gone", func() bool {
		a.s.postMu.Lock()
		defer a.s.postMu.Unlock()
		return len(a.s.postQueues) == 0
	})
	if _, body := message(room.ID, total+1); a.s.PostAsync(room.ID, "m-next", body, func() {}) {
		t.Fatal("PostAsync took a message of a room with a stream and no queue")
	}
	for _, rp := range []*replica{a, b} {
		h, err := rp.s.History(testCtx(t), room.ID, -1, 20)
		if want := seq(1, total); err != nil || !slices.Equal(nums(h), reversed(want)) {
			t.Fatalf("history %v, %v", nums(h), err)
		}
	}
}

// reversed returns a reversed copy of xs.
func reversed(xs []int) []int {
	out := slices.Clone(xs)
	slices.Reverse(out)
	return out
}
