package presence

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// replicas starts n Presences named r0, r1... on one bus and one fake
// clock, and waits until each has published its first snapshot and armed
// its ticker.
func replicas(t *testing.T, n int) (*bus, *fakeClock, []*Presence) {
	t.Helper()
	b, clock := newBus(), newFakeClock()
	ps := make([]*Presence, n)
	for i := range ps {
		ps[i] = New(Options{Publisher: b, ReplicaID: "r" + string(rune('0'+i)), Now: clock.Now, After: clock.After})
		b.join(ps[i])
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		for _, p := range ps {
			_ = p.Close()
		}
	})
	for _, p := range ps {
		p.Start(ctx)
	}
	b.waitPubs(t, n)
	clock.waitWaiters(t, n)
	return b, clock, ps
}

// wantMembers checks Members(room) on every replica.
func wantMembers(t *testing.T, ps []*Presence, room string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	for _, p := range ps {
		if got := p.Members(room); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Members(%q) = %v, want %v", p.ReplicaID(), room, got, want)
		}
	}
}

func TestJoinLeaveVisibleOnOtherReplica(t *testing.T) {
	b, clock, ps := replicas(t, 2)
	a, c := ps[0], ps[1]

	// Right after the start snapshot a change waits for MinGap.
	a.Join("7", "alice")
	clock.waitWaiters(t, 3)
	wantMembers(t, ps[1:], "7")
	clock.Advance(DefaultMinGap)
	b.waitPubs(t, 3)
	wantMembers(t, ps, "7", "alice")

	// MinGap after c's last snapshot, c's change goes out at once.
	c.Join("7", "bob")
	b.waitPubs(t, 4)
	wantMembers(t, ps, "7", "alice", "bob")

	// A second subscription changes nothing and publishes nothing.
	if a.Join("7", "alice") {
		t.Fatal("second Join reported first")
	}
	if a.Leave("7", "alice") {
		t.Fatal("Leave of one of two reported last")
	}
	clock.Advance(DefaultMinGap)
	if !a.Leave("7", "alice") {
		t.Fatal("last Leave not reported")
	}
	b.waitPubs(t, 5)
	wantMembers(t, ps, "7", "bob")
	if n := b.count(); n != 5 {
		t.Errorf("%d publications, want 5", n)
	}
}

func TestSilentReplicaExpires(t *testing.T) {
	b, clock, ps := replicas(t, 2)
	a := ps[0]
	a.Join("7", "alice")
	clock.waitWaiters(t, 3)
	clock.Advance(DefaultMinGap) // a's snapshot at t0+100ms
	b.waitPubs(t, 3)
	wantMembers(t, ps, "7", "alice")

	b.cutOff(a.ReplicaID()) // a is killed: it says nothing any more
	steps := []struct {
		to   time.Duration // since t0
		want []string
	}{
		{time.Second, []string{"alice"}},
		{2 * time.Second, []string{"alice"}},
		{DefaultMinGap + DefaultExpiry - time.Millisecond, []string{"alice"}},
		{DefaultMinGap + DefaultExpiry, nil},
		{10 * time.Second, nil},
	}
	for _, s := range steps {
		clock.Advance(t0.Add(s.to).Sub(clock.Now()))
		wantMembers(t, ps[1:], "7", s.want...)
	}
	wantMembers(t, ps[:1], "7", "alice") // a still knows its own sessions
}

func TestCoalescing(t *testing.T) {
	b, clock, ps := replicas(t, 1)
	a := ps[0]

	a.Join("7", "alice")
	clock.waitWaiters(t, 2) // ticker + coalescing timer
	a.Join("7", "bob")
	a.Join("8", "carol")
	a.Leave("7", "bob")
	clock.Advance(DefaultMinGap / 2)
	clock.Advance(DefaultMinGap / 2)
	log := b.waitPubs(t, 2)
	want := map[string][]string{"7": {"alice"}, "8": {"carol"}}
	if !reflect.DeepEqual(log[1].Rooms, want) {
		t.Fatalf("coalesced snapshot %v, want %v", log[1].Rooms, want)
	}
	clock.waitWaiters(t, 1)

	// The ticker repeats the state without changes.
	clock.Advance(time.Second - DefaultMinGap)
	log = b.waitPubs(t, 3)
	clock.waitWaiters(t, 1)
	if !reflect.DeepEqual(log[2].Rooms, want) || log[2].Seq != 3 || !log[2].At.Equal(t0.Add(time.Second)) {
		t.Fatalf("tick snapshot %+v", log[2])
	}
	if n := b.count(); n != 3 {
		t.Fatalf("%d publications, want 3", n)
	}
}

func TestCloseDropsAtOnce(t *testing.T) {
	b, clock, ps := replicas(t, 2)
	a := ps[0]
	a.Join("7", "alice")
	clock.waitWaiters(t, 3)
	clock.Advance(DefaultMinGap)
	b.waitPubs(t, 3)
	wantMembers(t, ps[1:], "7", "alice")

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	log := b.waitPubs(t, 4)
	if last := log[3]; last.Replica != a.ReplicaID() || len(last.Rooms) != 0 {
		t.Fatalf("farewell %+v", last)
	}
	wantMembers(t, ps[1:], "7")
	wantMembers(t, ps[:1], "7", "alice")

	// a's loop is gone: only the other replica ticks, and a second Close
	// publishes nothing.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	clock.waitWaiters(t, 2) // c's ticker and the one a's loop left behind
	clock.Advance(time.Second)
	log = b.waitPubs(t, 5)
	clock.waitWaiters(t, 1)
	for _, s := range log[4:] {
		if s.Replica == a.ReplicaID() {
			t.Errorf("closed replica published %+v", s)
		}
	}
	a.Start(context.Background()) // no effect after Close
	if n := b.count(); n != 5 {
		t.Errorf("%d publications, want 5", n)
	}
}

func TestCloseWithoutStart(t *testing.T) {
	b := newBus()
	clock := newFakeClock()
	p := New(Options{Publisher: b, ReplicaID: "solo", Now: clock.Now, After: clock.After})
	p.Join("7", "alice")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	log := b.waitPubs(t, 1)
	if len(log[0].Rooms) != 0 || log[0].Replica != "solo" {
		t.Fatalf("farewell %+v", log[0])
	}
}

func TestNoPublisherIsLocal(t *testing.T) {
	clock := newFakeClock()
	p := New(Options{Now: clock.Now, After: clock.After})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.Start(ctx)
	p.Join("7", "alice")
	clock.Advance(time.Second)
	if got := p.Members("7"); !reflect.DeepEqual(got, []string{"alice"}) {
		t.Fatalf("Members = %v", got)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotsOfBigRoomsAreSpaced: a storm of joins costs one snapshot,
// and a later change waits until the last snapshot's bytes fit in
// MaxChangeBytesPerSecond, not just MinGap: snapshots list every member,
// so one per join would cost O(members) per join.
func TestSnapshotsOfBigRoomsAreSpaced(t *testing.T) {
	b, clock := newBus(), newFakeClock()
	p := New(Options{Publisher: b, ReplicaID: "r0", Now: clock.Now, After: clock.After, Interval: time.Minute, Expiry: 3 * time.Minute, MaxChangeBytesPerSecond: 1000})
	b.join(p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.Start(ctx)
	defer p.Close()
	b.waitPubs(t, 1)
	clock.waitWaiters(t, 1) // the interval tick
	for i := 0; i < 200; i++ {
		p.Join("7", fmt.Sprintf("user-%03d", i))
	}
	clock.waitWaiters(t, 2) // the tick and the coalescing wait
	clock.Advance(DefaultMinGap)
	log := b.waitPubs(t, 2)
	if n := len(log[1].Rooms["7"]); n != 200 {
		t.Fatalf("snapshot lists %d members, want 200", n)
	}
	body, err := json.Marshal(log[1])
	if err != nil {
		t.Fatal(err)
	}
	gap := time.Duration(len(body)) * time.Second / 1000 // ≈ 2.4 s for ≈ 2.4 KB
	if gap < 2*time.Second {
		t.Fatalf("snapshot of %d bytes: test needs a bigger one", len(body))
	}
	p.Join("7", "late")
	clock.waitWaiters(t, 2)
	clock.Advance(gap - 50*time.Millisecond)
	if n := b.count(); n != 2 {
		t.Fatalf("%d snapshots before %v had passed, want 2", n, gap)
	}
	clock.Advance(100 * time.Millisecond)
	b.waitPubs(t, 3)
}
