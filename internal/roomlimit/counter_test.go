package roomlimit

import (
	"testing"
	"time"

	"chatrelay/internal/rooms"
)

// countingRegistry is a fakeRegistry that counts for the limiter; its
// List fails the test, so a limiter that copied every room per creation
// would be caught.
type countingRegistry struct {
	fakeRegistry
	t      *testing.T
	counts int
}

func (c *countingRegistry) List() []rooms.Room {
	c.t.Error("the limiter listed every room of a store that counts")
	return c.fakeRegistry.List()
}

func (c *countingRegistry) CountRooms(user, origin string) (total, byUser, byOrigin int) {
	c.counts++
	return rooms.Count(c.fakeRegistry.List(), user, origin)
}

// TestCounterNotListed: with a store that counts (rabbitstore, memstore),
// every quota is decided from its counts and the rooms are never listed:
// the user quota, the address quota and the cap on all rooms hold as with
// a listed registry.
func TestCounterNotListed(t *testing.T) {
	reg := &countingRegistry{t: t}
	lim := testLimits()
	lim.MaxRooms = 12
	l := New(lim, reg)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	try := func(q Requester) *Refusal { return create(l, &reg.fakeRegistry, q) }
	ann := Requester{User: "ann", Verified: true, Address: "192.0.2.1"}
	anon := Requester{Address: "192.0.2.9"}
	for i := 0; i < lim.UserQuota; i++ {
		now = now.Add(time.Minute)
		if r := try(ann); r != nil {
			t.Fatalf("ann's room %d: %+v", i, r)
		}
	}
	now = now.Add(time.Minute)
	if r := try(ann); r == nil || r.Key != KeyUserQuota {
		t.Fatalf("ann past her quota: %+v", r)
	}
	for i := 0; i < lim.AddressQuota; i++ {
		now = now.Add(time.Minute)
		if r := try(anon); r != nil {
			t.Fatalf("anonymous room %d: %+v", i, r)
		}
	}
	now = now.Add(time.Minute)
	if r := try(anon); r == nil || r.Key != KeyAddressQuota {
		t.Fatalf("anonymous past the address quota: %+v", r)
	}
	admin := Requester{Admin: true}
	for i := 0; i < lim.MaxRooms-lim.UserQuota-lim.AddressQuota; i++ {
		if r := try(admin); r != nil {
			t.Fatalf("admin room %d: %+v", i, r)
		}
	}
	if r := try(admin); r == nil || r.Key != KeyMaxRooms {
		t.Fatalf("past the cap on all rooms: %+v", r)
	}
	if reg.counts == 0 {
		t.Fatal("the limiter never counted")
	}
}
