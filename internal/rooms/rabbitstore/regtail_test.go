package rabbitstore

import (
	"encoding/json"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/feed"
	"chatrelay/internal/stomp"
	"chatrelay/internal/testkit"
)

// The registry tail restarts when its consumer fails, resumes after the
// last offset it applied, and applies nothing twice.

// onRegistry returns a tweak that puts a replica on a registry stream of
// the test's own, so that the test may break it.
func onRegistry(stream string) func(*Options) {
	return func(o *Options) { o.registryStream = stream }
}

// privateRegistry names a registry stream for one test.
func privateRegistry() string { return "chatrelay.rooms.test-" + newNonce()[:8] }

// cancelRegistryTail hands rp's registry consumer the frame the relay
// delivers when the broker cancels a stream subscription (its stream
// deleted, its node gone).
func cancelRegistryTail(t *testing.T, rp *replica) {
	t.Helper()
	rp.s.regTail.Load().sub.(*streamSub).Deliver(stomp.New(stomp.ERROR,
		"message", "subscription cancelled by the broker", "subscription", "stream"))
}

// sameView checks that rp and a replica started now on the same registry
// stream see the same rooms, and took as many events: the new one
// replays the stream once, so rp missed none and took none twice.
func sameView(t *testing.T, n *rabbittest.Node, stream string, rp *replica) {
	t.Helper()
	fresh := newReplica(t, n, onRegistry(stream))
	if got, want := rp.s.List(), fresh.s.List(); !reflect.DeepEqual(got, want) {
		t.Fatalf("rooms %+v, a new replica sees %+v", got, want)
	}
	if got, want := rp.s.reg.taken(), fresh.s.reg.taken(); got != want {
		t.Fatalf("took %d registry events, a new replica %d", got, want)
	}
}

// create creates a room on rp, retrying for a while (the broker may be
// on its way back).
func create(t *testing.T, rp *replica) rooms.Room {
	t.Helper()
	var room rooms.Room
	var err error
	testkit.Eventually(t, 30*time.Second, "a room to be created", func() bool {
		room, err = rp.s.Create(testCtx(t), rooms.Spec{Name: roomName(t), CreatedBy: "ann"})
		if err != nil {
			t.Logf("create: %v", err)
		}
		return err == nil
	})
	return room
}

// sees waits up to d for rp to know room.
func sees(t *testing.T, rp *replica, room rooms.Room, d time.Duration) {
	t.Helper()
	testkit.Eventually(t, d, "room "+room.ID+" on the other replica", func() bool {
		got, ok := rp.s.Get(room.ID)
		return ok && reflect.DeepEqual(got, room)
	})
}

func TestRegistryTailRestartsAfterCancel(t *testing.T) {
	n := rabbittest.Require(t, node)
	stream := privateRegistry()
	a, b := newReplica(t, n, onRegistry(stream)), newReplica(t, n, onRegistry(stream))
	sees(t, b, create(t, a), 5*time.Second)
	cancelRegistryTail(t, b)
	during := create(t, a) // most likely while b's tail is down
	testkit.Eventually(t, 10*time.Second, "b's registry tail to restart", func() bool { return b.s.regRestarts.Load() == 1 })
	sees(t, b, during, 10*time.Second)
	after := create(t, a)
	sees(t, b, after, 5*time.Second)
	// the broken run's consumer is gone: one consumer per replica
	if err := rabbittest.WaitFor(10*time.Second, func() (bool, error) {
		cs, err := n.Consumers()
		count := 0
		for _, c := range cs {
			if c.Queue.Name == stream {
				count++
			}
		}
		return count == 2, err
	}); err != nil {
		t.Fatalf("consumers of the registry stream: %v", err)
	}
	sameView(t, n, stream, b)
}

func TestRegistryTailRestartsAcrossBrokerRestart(t *testing.T) {
	n := rabbittest.Require(t, node)
	stream := privateRegistry()
	a, b := newReplica(t, n, onRegistry(stream)), newReplica(t, n, onRegistry(stream))
	sees(t, b, create(t, a), 5*time.Second)
	if err := n.StopApp(); err != nil {
		t.Fatal(err)
	}
	// broken while the broker is away: its restarts fail until it is back
	cancelRegistryTail(t, b)
	if err := n.StartApp(); err != nil {
		t.Fatal(err)
	}
	room := create(t, a)
	sees(t, b, room, 30*time.Second)
	if got := b.s.regRestarts.Load(); got < 1 {
		t.Fatalf("b's registry tail restarted %d times", got)
	}
	sameView(t, n, stream, b)
}

// registryLost deletes the registry stream under a and b after pad
// records beyond their first room, checks that both replay the stream
// declared again (losing the room, as a new replica would), and goes on
// with a new room; it returns how long the replays took.
func registryLost(t *testing.T, pad int) time.Duration {
	n := rabbittest.Require(t, node)
	stream := privateRegistry()
	a, b := newReplica(t, n, onRegistry(stream)), newReplica(t, n, onRegistry(stream))
	old := create(t, a)
	sees(t, b, old, 5*time.Second)
	for range pad {
		if err := a.s.markRegistry(testCtx(t), newNonce()); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 10*time.Second, "b to read the padding", func() bool {
		al, _ := a.s.reg.lastRecord()
		bl, _ := b.s.reg.lastRecord()
		return al == bl && al >= int64(pad)
	})
	// the broker cancels every consumer of a deleted stream
	began := time.Now()
	if err := a.s.amqp.deleteStream(stream); err != nil {
		t.Fatal(err)
	}
	for _, rp := range []*replica{a, b} {
		// one restart after the cancel, which does not find its start
		// record; one more to replay the new stream
		testkit.Eventually(t, regVerify+30*time.Second, "the registry replayed from the new stream", func() bool {
			_, ok := rp.s.Get(old.ID)
			return !ok && rp.s.regRestarts.Load() >= 2
		})
	}
	took := time.Since(began)
	room := create(t, a)
	sees(t, b, room, 10*time.Second)
	sameView(t, n, stream, b)
	if got := b.s.List(); len(got) != 1 {
		t.Fatalf("rooms after the registry was lost: %+v, want only the new one", got)
	}
	return took
}

// TestRegistryStreamDeletedIsReplayed: the stream declared again soon
// holds another record at the offset a restarted tail starts from.
func TestRegistryStreamDeletedIsReplayed(t *testing.T) { registryLost(t, 0) }

// TestLongRegistryStreamDeletedIsReplayed: the stream declared again
// stays shorter than the offset a restarted tail starts from, and
// RabbitMQ sends it nothing: it gives up after regVerify.
func TestLongRegistryStreamDeletedIsReplayed(t *testing.T) {
	if took := registryLost(t, 40); took < regVerify {
		t.Fatalf("replayed after %v, before regVerify (%v): the short stream was not the case tested", took, regVerify)
	}
}

// TestRegistryEventRepublished: while the relay loses every registry
// publish of one replica, receipted (as RabbitMQ does when it receipts a
// publish to a stream without a writer, or a channel still writes to a
// stopped one), its events are stored by their republish, which goes
// straight into the registry on a fresh AMQP channel: each is applied
// once on every replica, and the operations succeed.
func TestRegistryEventRepublished(t *testing.T) {
	n := rabbittest.Require(t, node)
	stream := privateRegistry()
	var relayed atomic.Int64
	var lossy atomic.Bool
	a := newReplica(t, n, func(o *Options) {
		o.registryStream = stream
		o.RepublishAfter = 300 * time.Millisecond
		o.lose = func() bool { relayed.Add(1); return lossy.Load() }
	})
	b := newReplica(t, n, onRegistry(stream))
	relayed.Store(0)
	lossy.Store(true)
	room, err := a.s.Create(testCtx(t), rooms.Spec{Name: roomName(t), CreatedBy: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if got := relayed.Load(); got != 1 {
		t.Fatalf("%d publishes through the relay for one event, want the lost first one only", got)
	}
	sees(t, b, room, 5*time.Second)
	if err := a.s.Delete(testCtx(t), room.ID); err != nil {
		t.Fatal(err)
	}
	lossy.Store(false)
	testkit.Eventually(t, 5*time.Second, "b to drop the room", func() bool { _, ok := b.s.Get(room.ID); return !ok })
	sameView(t, n, stream, b)
}

// TestRegistrySkipsRepeatedEvent replays an event with an id applied
// before (a republish whose first copy was stored after all) after a
// later event: it changes nothing, and does not count as taken.
func TestRegistrySkipsRepeatedEvent(t *testing.T) {
	g := newRegistry(testLogger(t), func(string) {})
	owner := "ann"
	room, ok := rooms.NewRoom(rooms.Spec{Name: "r", CreatedBy: owner, Private: true})
	if !ok {
		t.Fatal("room spec refused")
	}
	members := func(ms ...string) rooms.Room { r := room; r.Members = ms; return r }
	events := []event{
		{Event: eventCreated, Room: members(owner), ID: "e1"},
		{Event: eventMembers, Room: members(owner, "bob"), ID: "e2"},
		{Event: eventMembers, Room: members(owner, "bob", "cy"), ID: "e3"},
		{Event: eventMembers, Room: members(owner, "bob"), ID: "e2"}, // republished
	}
	for i, ev := range events {
		body, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		g.Record(feed.Record{Offset: int64(i), Body: body})
	}
	got, ok := g.get(room.ID)
	if !ok {
		t.Fatal("room not created")
	}
	if want := []string{"bob", "cy"}; !reflect.DeepEqual(got.Members, want) {
		t.Fatalf("members %v after a repeated event, want %v", got.Members, want)
	}
	if n := g.taken(); n != 3 {
		t.Fatalf("took %d events, want 3", n)
	}
}
