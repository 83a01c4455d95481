package rabbitstore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/confirm"
	"chatrelay/internal/testkit"
)

// archiving sets a replica's options to archive rooms quiet for after.
func archiving(after time.Duration) func(*Options) {
	return func(o *Options) {
		o.ArchiveAfter = after
		o.ArchiveFenceGrace = 100 * time.Millisecond
	}
}

// waitArchived waits until the replica sees the room archived with its next
// epoch numbered epoch (no stream).
func waitArchived(t *testing.T, rp *replica, roomID string, epoch int) {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, "the room archived", func() bool {
		st, _ := rp.s.reg.state(roomID, false)
		return st.exists && st.stream == "" && st.epoch == epoch
	})
}

// createSeen creates a room on a and waits until b sees it.
func createSeen(t *testing.T, a, b *replica) rooms.Room {
	t.Helper()
	room, err := a.s.Create(testCtx(t), rooms.Spec{Name: roomName(t), CreatedBy: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the room on the other replica", func() bool { _, ok := b.s.Get(room.ID); return ok })
	return room
}

// hookRoom is the room an archive hook watches, set once the room exists.
type hookRoom struct {
	mu sync.Mutex
	id string
}

func (h *hookRoom) set(id string) { h.mu.Lock(); h.id = id; h.mu.Unlock() }

func (h *hookRoom) is(id string) bool { h.mu.Lock(); defer h.mu.Unlock(); return id == h.id }

// awaitSignal waits for a hook's signal on ch.
func awaitSignal(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// heldAtFence starts an archiving replica a and a plain replica b,
// creates a room on a, sends message 1 into it, and returns once a's first
// archive attempt on the room has fenced it; the attempt waits there until
// free is called (the test's cleanup calls it too, before a's store
// closes); later attempts do not wait.
func heldAtFence(t *testing.T) (a, b *replica, room rooms.Room, free func()) {
	t.Helper()
	n := rabbittest.Require(t, node)
	fenced, release := make(chan struct{}, 1), make(chan struct{})
	var releaseOnce sync.Once
	free = func() { releaseOnce.Do(func() { close(release) }) }
	var ours hookRoom
	a = newReplica(t, n, func(o *Options) {
		archiving(time.Second)(o)
		o.archiveStep = func(step, roomID string) {
			if step == "fenced" && ours.is(roomID) {
				select {
				case fenced <- struct{}{}:
					<-release
				default:
				}
			}
		}
	})
	t.Cleanup(free)
	b = newReplica(t, n, nil)
	room = createSeen(t, a, b)
	ours.set(room.ID)
	a.send(t, room.ID, 1)
	awaitSignal(t, fenced, "the room fenced for archiving")
	return a, b, room, free
}

// waitClosing waits until the replica sees the room closing.
func waitClosing(t *testing.T, rp *replica, roomID string) {
	t.Helper()
	testkit.Eventually(t, 5*time.Second, "the room closing on the replica", func() bool {
		st, _ := rp.s.reg.state(roomID, false)
		return st.closing
	})
}

// offsets returns the offsets of msgs.
func offsets(msgs []rooms.Message) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Offset
	}
	return out
}

// TestArchiveQuietRoom: a room quiet for ArchiveAfter is archived by one
// of two replicas: its stream is deleted, and history, x-history and
// x-resume-after give the same messages at the same offsets on both
// replicas and on one started afterwards; a live follower across the
// archive gets the next message (which opens the next epoch's stream)
// once, at a higher offset, and resuming from an archived offset
// crosses into the new stream without a gap.
func TestArchiveQuietRoom(t *testing.T) {
	n := rabbittest.Require(t, node)
	a, b := newReplica(t, n, archiving(time.Second)), newReplica(t, n, archiving(time.Second))
	room := createSeen(t, a, b)
	live := newFollower()
	stop, err := b.s.Follow(testCtx(t), room.ID, rooms.Live, live.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for i := 1; i <= 3; i++ {
		a.send(t, room.ID, i)
	}
	before := live.wait(t, 3)
	waitArchived(t, a, room.ID, 1)
	waitArchived(t, b, room.ID, 1)
	testkit.Eventually(t, 10*time.Second, "the archived stream deleted", func() bool { return !declared(t, n, room.Stream) })
	testkit.Eventually(t, 10*time.Second, "the archiver's count", func() bool { return a.s.arch.count()+b.s.arch.count() > 0 })
	if got := a.s.arch.count() + b.s.arch.count(); got != 1 {
		t.Fatalf("archived %d times, want once", got)
	}

	c := newReplica(t, n, nil) // replays the registry, archive included
	for _, rp := range []*replica{a, b, c} {
		h, err := rp.s.History(testCtx(t), room.ID, -1, 10)
		if err != nil || !slices.Equal(nums(h), []int{3, 2, 1}) {
			t.Fatalf("history of the archived room: %v, %v; want 3 2 1", nums(h), err)
		}
		if !slices.Equal(offsets(h), []int64{before[2].Offset, before[1].Offset, before[0].Offset}) {
			t.Fatalf("archived offsets %v, want those of before the archive %v", offsets(h), offsets(before))
		}
	}
	last := newFollower()
	stopLast, err := c.s.Follow(testCtx(t), room.ID, rooms.Start{Last: 2, After: -1}, last.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stopLast()
	if got := nums(last.wait(t, 2)); !slices.Equal(got, []int{2, 3}) {
		t.Fatalf("x-history 2 of the archived room: %v", got)
	}

	a.send(t, room.ID, 4) // opens epoch 1
	all := live.wait(t, 4)
	if got := nums(all); !slices.Equal(got, seq(1, 4)) || all[3].Offset <= all[2].Offset {
		t.Fatalf("live follower across the archive got %v at %v; want 1..4, increasing", got, offsets(all))
	}
	if got := nums(last.wait(t, 3)); !slices.Equal(got, []int{2, 3, 4}) {
		t.Fatalf("follower started on the archived room got %v; want 2 3 4", got)
	}
	resumed := newFollower()
	stopResumed, err := b.s.Follow(testCtx(t), room.ID, rooms.Start{After: before[1].Offset}, resumed.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stopResumed()
	if got := nums(resumed.wait(t, 2)); !slices.Equal(got, []int{3, 4}) {
		t.Fatalf("resume after message 2 across the archive: %v; want 3 4", got)
	}
	for _, rp := range []*replica{a, b, c} {
		// a replica's feed takes the new stream's messages as its tail
		// reads them, as for any message
		testkit.Eventually(t, 10*time.Second, "4 3 2 1 in the history after the reopen", func() bool {
			h, err := rp.s.History(testCtx(t), room.ID, -1, 10)
			return err == nil && slices.Equal(nums(h), []int{4, 3, 2, 1})
		})
	}
	time.Sleep(200 * time.Millisecond) // a duplicate would come now, if any
	if got := nums(live.wait(t, 4)); len(got) != 4 {
		t.Fatalf("live follower got %v; want each message once", got)
	}
}

// TestOpenWaitsForArchiving: an Open on another replica while a room is
// being archived waits until the archive is done (it does not return while
// the archiver holds the fence) and opens the next epoch; the message sent
// then is stored after the archived ones, and nothing is lost.
func TestOpenWaitsForArchiving(t *testing.T) {
	_, b, room, free := heldAtFence(t)
	waitClosing(t, b, room.ID)
	opened := make(chan error, 1)
	go func() { opened <- b.s.Open(testCtx(t), room.ID) }()
	select {
	case err := <-opened:
		t.Fatalf("Open returned (%v) while the archiver held the fence", err)
	case <-time.After(500 * time.Millisecond):
	}
	free()
	select {
	case err := <-opened:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Open did not return after the archive")
	}
	st, _ := b.s.reg.state(room.ID, false)
	if st.epoch != 1 || st.stream != epochStream(room, 1) {
		t.Fatalf("after Open during the archive: epoch %d stream %q; want epoch 1 open", st.epoch, st.stream)
	}
	b.send(t, room.ID, 2)
	testkit.Eventually(t, 10*time.Second, "both messages in the history", func() bool {
		h, err := b.s.History(testCtx(t), room.ID, -1, 10)
		return err == nil && slices.Equal(nums(h), []int{2, 1})
	})
}

// TestArchiverKilledMidwayRoomRecovers: an archiver that stops after its
// fence (a replica hung or killed mid-archive) leaves the room closing; a
// follow and an Open on another replica wait out the lease, and the
// stream is reopened;
// the archiver's late archived event is refused, it binds the stream it
// unbound again, and the room takes messages.
func TestArchiverKilledMidwayRoomRecovers(t *testing.T) {
	n := rabbittest.Require(t, node)
	release, never := make(chan struct{}), make(chan struct{})
	fenced := make(chan struct{}, 1)
	var calls atomic.Int32
	var ours hookRoom
	a := newReplica(t, n, func(o *Options) {
		archiving(time.Second)(o)
		o.ArchiveLease = time.Minute // the attempt outlives b's lease
		o.archiveStep = func(step, roomID string) {
			if !ours.is(roomID) || step != "fenced" {
				return
			}
			if calls.Add(1) > 1 {
				<-never // a later attempt waits for the test's end
				return
			}
			fenced <- struct{}{}
			<-release
		}
	})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(func() { free(); close(never) }) // before a's store closes
	b := newReplica(t, n, func(o *Options) { o.ArchiveLease = 3 * time.Second })
	room := createSeen(t, a, b)
	ours.set(room.ID)
	a.send(t, room.ID, 1)
	awaitSignal(t, fenced, "the room fenced")
	waitClosing(t, b, room.ID)
	began := time.Now()
	// a follow (its feed waits: no tail on a fenced stream) and an Open
	// both wait out the lease; whichever sees it run out aborts
	fb := newFollower()
	stop, err := b.s.Follow(testCtx(t), room.ID, rooms.Start{Last: 10, After: -1}, fb.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := b.s.Open(testCtx(t), room.ID); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(began); waited < time.Second {
		t.Fatalf("follow and Open returned after %v on a room fenced by a live lease", waited)
	}
	free() // the archiver goes on: its archived event must lose
	testkit.Eventually(t, 20*time.Second, "the archiver's late archived event refused", func() bool { return a.s.arch.lostRaces() >= 1 })
	st, _ := b.s.reg.state(room.ID, false)
	if st.stream != room.Stream || st.closing || !declared(t, n, room.Stream) {
		t.Fatalf("after the late archiver: %+v, stream declared %v; want epoch 0 open", st, declared(t, n, room.Stream))
	}
	b.send(t, room.ID, 2)
	a.send(t, room.ID, 3)
	if got := nums(fb.wait(t, 3)); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("after the late archiver: %v; want 1 2 3", got)
	}
}

// TestArchiveSkipsBigRoom: a room holding more messages than
// ArchiveMaxMessages is not archived: its stream stays, bound, and
// takes messages.
func TestArchiveSkipsBigRoom(t *testing.T) {
	n := rabbittest.Require(t, node)
	kept := make(chan string, 16)
	a := newReplica(t, n, func(o *Options) {
		archiving(500 * time.Millisecond)(o)
		o.ArchiveMaxMessages = 3
		o.archiveStep = func(step, roomID string) {
			if step == "too big" {
				select {
				case kept <- roomID:
				default:
				}
			}
		}
	})
	room, err := a.s.Create(testCtx(t), rooms.Spec{Name: roomName(t), CreatedBy: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		a.send(t, room.ID, i)
	}
	deadline := time.After(20 * time.Second)
	for found := false; !found; {
		select {
		case id := <-kept:
			found = id == room.ID
		case <-deadline:
			t.Fatal("the archiver did not find the room too big")
		}
	}
	testkit.Eventually(t, 10*time.Second, "the attempt to end", func() bool {
		st, _ := a.s.reg.state(room.ID, false)
		return !st.closing
	})
	st, _ := a.s.reg.state(room.ID, false)
	if st.stream != room.Stream || st.closing || !declared(t, n, room.Stream) {
		t.Fatalf("big room after a sweep: %+v; want its stream open", st)
	}
	f := newFollower()
	stop, err := a.s.Follow(testCtx(t), room.ID, rooms.Live, f.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	a.send(t, room.ID, 6)
	if got := nums(f.wait(t, 1)); !slices.Equal(got, []int{6}) {
		t.Fatalf("big room took %v; want 6", got)
	}
}

// TestDeleteArchivedRoom: deleting an archived room removes it on every
// replica; Open then finds no room and declares nothing.
func TestDeleteArchivedRoom(t *testing.T) {
	n := rabbittest.Require(t, node)
	a := newReplica(t, n, archiving(500*time.Millisecond))
	room, err := a.s.Create(testCtx(t), rooms.Spec{Name: roomName(t), CreatedBy: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	a.send(t, room.ID, 1)
	waitArchived(t, a, room.ID, 1)
	if err := a.s.Delete(testCtx(t), room.ID); err != nil {
		t.Fatal(err)
	}
	if err := a.s.Open(testCtx(t), room.ID); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("Open of a deleted archived room: %v", err)
	}
	if _, err := a.s.History(context.Background(), room.ID, -1, 10); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("history of a deleted archived room: %v", err)
	}
	for _, s := range []string{room.Stream, epochStream(room, 1)} {
		if declared(t, n, s) {
			t.Fatalf("stream %s left after deleting the archived room", s)
		}
	}
}

// TestArchiveManyFollowedRooms: archiving many rooms at once, each
// followed on both replicas, loses no relay connection (the archiver's
// stream reads go over AMQP: a STOMP UNSUBSCRIBE of a stream consumer
// with a delivery in flight crashes RabbitMQ's STOMP plugin, which then
// drops the whole shared connection with "Processing error"), ends no
// feed, and leaves every room archived with its history intact.
func TestArchiveManyFollowedRooms(t *testing.T) {
	n := rabbittest.Require(t, node)
	a, b := newReplica(t, n, archiving(time.Second)), newReplica(t, n, archiving(time.Second))
	const count = 40
	var ids []string
	var followers []*follower
	for i := 0; i < count; i++ {
		room := createSeen(t, a, b)
		ids = append(ids, room.ID)
		for _, rp := range []*replica{a, b} {
			f := newFollower()
			stop, err := rp.s.Follow(testCtx(t), room.ID, rooms.Start{Last: 10, After: -1}, func(m rooms.Message, data []byte) {
				if data == nil {
					t.Errorf("feed of room %s ended", m.RoomID)
					return
				}
				f.deliver(m, data)
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(stop)
			followers = append(followers, f)
		}
		a.send(t, room.ID, 1)
		b.send(t, room.ID, 2)
	}
	for _, id := range ids {
		waitArchived(t, a, id, 1)
		waitArchived(t, b, id, 1)
	}
	for _, f := range followers {
		if got := nums(f.wait(t, 2)); len(got) != 2 {
			t.Fatalf("follower got %v", got)
		}
	}
	for _, id := range ids {
		h, err := b.s.History(testCtx(t), id, -1, 10)
		if err != nil || !slices.Equal(nums(h), []int{2, 1}) {
			t.Fatalf("history of archived room %s: %v, %v", id, nums(h), err)
		}
	}
	if ra, rb := a.r.Reconnects(), b.r.Reconnects(); ra != 0 || rb != 0 {
		t.Fatalf("relay reconnects during the archive: %d and %d; want none (the broker refused a frame)", ra, rb)
	}
}

// TestActiveRoomVetoesArchive: a room whose messages all go through one
// replica is never fenced by another replica's archiver while messages
// keep coming: the publishing replica vetoes each closing at once (no
// fence, so nothing is lost and no stream is read); once the messages
// stop, the room is archived.
func TestActiveRoomVetoesArchive(t *testing.T) {
	n := rabbittest.Require(t, node)
	var ours hookRoom
	var fenced, closings atomic.Int32
	// a gap of up to 1.7 s between two messages of the chat below (a busy
	// machine) still leaves the room active
	const after = 2 * time.Second
	a := newReplica(t, n, func(o *Options) {
		archiving(after)(o)
		o.archiveStep = func(step, roomID string) {
			switch {
			case !ours.is(roomID):
			case step == "fenced":
				fenced.Add(1)
			case step == "closing":
				closings.Add(1)
			}
		}
	})
	b := newReplica(t, n, func(o *Options) {
		o.ArchiveAfter = after // tracks its activity; its own sweeps find the room active
	})
	room := createSeen(t, a, b)
	ours.set(room.ID)
	f := newFollower()
	stop, err := a.s.Follow(testCtx(t), room.ID, rooms.Live, f.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	const sends = 16
	began := time.Now()
	for i := 1; i <= sends; i++ {
		b.send(t, room.ID, i)
		time.Sleep(300 * time.Millisecond) // a steady chat: 5 s or more, over twice ArchiveAfter
	}
	chat := time.Since(began)
	if got := nums(f.wait(t, sends)); !slices.Equal(got, seq(1, sends)) {
		t.Fatalf("follower got %v", got)
	}
	if fenced.Load() != 0 || a.s.arch.count() != 0 {
		t.Fatalf("an active room was fenced %d times, archived %d", fenced.Load(), a.s.arch.count())
	}
	if b.s.vetoes.Load() == 0 {
		t.Fatal("no closing vetoed: the archiver did not try, so the test proves nothing")
	}
	// after a veto no replica tries the room again within ArchiveAfter:
	// at most one closing per ArchiveAfter of chat, and one for the end
	if c, most := closings.Load(), int32(chat/after)+2; c > most {
		t.Fatalf("%d closings of an active room in %v; want at most %d, one per ArchiveAfter", c, chat, most)
	}
	waitArchived(t, a, room.ID, 1)
}

// lagging is a replica's store as a Confirmer sees it when the replica
// has not yet applied a room's closing: its first Open returns at once.
type lagging struct {
	*Store
	skipped atomic.Bool
}

func (l *lagging) Open(ctx context.Context, id string) error {
	if l.skipped.CompareAndSwap(false, true) {
		return nil
	}
	return l.Store.Open(ctx, id)
}

// TestConfirmRepublishesIntoReopenedRoom: a confirmed message whose first
// publish reaches no queue because its replica lagged behind an archive
// (it published without waiting for the closing) is republished once the
// Confirmer opens the room again, and stored once, after the archived
// messages.
func TestConfirmRepublishesIntoReopenedRoom(t *testing.T) {
	_, b, room, free := heldAtFence(t)
	c := confirm.New(confirm.Options{Rooms: &lagging{Store: b.s}, Publisher: b.r,
		RepublishAfter: 300 * time.Millisecond, Timeout: 20 * time.Second, Logger: testLogger(t)})
	t.Cleanup(c.Close)
	done := make(chan error, 1)
	body, _ := json.Marshal(map[string]any{"id": "late", "roomId": room.ID, "type": "TALK", "sender": "ann",
		"message": "2", "sentAt": time.Now().UTC()})
	c.Send(room.ID, "late", body, func(err error) { done <- err })
	free() // the archive completes; the watch's first publish goes to a room without a stream
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no outcome")
	}
	if c.Stats().Republished < 1 {
		t.Fatal("stored without a republish: the first publish was not lost, so the test proves nothing")
	}
	testkit.Eventually(t, 10*time.Second, "history 2 1", func() bool {
		h, err := b.s.History(testCtx(t), room.ID, -1, 10)
		return err == nil && slices.Equal(nums(h), []int{2, 1})
	})
}
