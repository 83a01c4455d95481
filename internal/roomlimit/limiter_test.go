package roomlimit

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/rooms"
)

// fakeRegistry is a Lister whose rooms the test adds.
type fakeRegistry struct {
	mu    sync.Mutex
	rooms []rooms.Room
}

func (f *fakeRegistry) List() []rooms.Room {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]rooms.Room(nil), f.rooms...)
}

func (f *fakeRegistry) add(q Requester) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rooms = append(f.rooms, rooms.Room{ID: fmt.Sprint(len(f.rooms)), CreatedBy: q.User, Origin: rooms.OriginOf(q.Address)})
}

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func testLimits() Limits {
	return Limits{MaxRooms: 100, UserPerMinute: 6, UserBurst: 3, UserQuota: 5,
		AddressPerMinute: 6, AddressBurst: 3, AddressQuota: 5, MaxTracked: 100}
}

// create reserves and, when admitted, records the room.
func create(l *Limiter, reg *fakeRegistry, q Requester) *Refusal {
	done, r := l.Reserve(q)
	if r != nil {
		return r
	}
	reg.add(q)
	done()
	return nil
}

// TestAddressBurstThenQuota: 300 creations at once from one address get
// the burst, the rest a rate refusal with a retry time; once the bucket
// refills the address reaches its quota and no more.
func TestAddressBurstThenQuota(t *testing.T) {
	reg, c := &fakeRegistry{}, &clock{t: time.Unix(1000, 0)}
	l := New(testLimits(), reg)
	l.now = c.now
	anon := Requester{Address: "192.0.2.7"}
	ok := 0
	for i := 0; i < 300; i++ {
		r := create(l, reg, anon)
		if r == nil {
			ok++
			continue
		}
		if r.Code != CodeRate || r.Key != KeyAddressRate || r.RetryAfter <= 0 || !strings.Contains(r.Message, KeyAddressRate) {
			t.Fatalf("refusal %d: %+v", i, r)
		}
	}
	if ok != 3 {
		t.Fatalf("%d admitted at once, want the burst of 3", ok)
	}
	for i := 0; i < 20; i++ {
		c.t = c.t.Add(time.Minute)
		if r := create(l, reg, anon); r != nil {
			if r.Code != CodeQuota || r.Key != KeyAddressQuota {
				t.Fatalf("after %d rooms: %+v", ok, r)
			}
			continue
		}
		ok++
	}
	if ok != 5 {
		t.Fatalf("address owns %d rooms, want its quota of 5", ok)
	}
	// another address is not affected
	if r := create(l, reg, Requester{Address: "192.0.2.8"}); r != nil {
		t.Fatalf("other address: %+v", r)
	}
}

// TestUserQuotaFromRegistry: a verified user's quota counts the rooms the
// registry lists as theirs (made on any replica), and the address limits
// do not apply to them; an unverified name (auth.mode none) gets both.
func TestUserQuotaFromRegistry(t *testing.T) {
	reg, c := &fakeRegistry{}, &clock{t: time.Unix(1000, 0)}
	lim := testLimits()
	lim.UserBurst, lim.AddressBurst = 100, 100
	l := New(lim, reg)
	l.now = c.now
	for i := 0; i < 5; i++ {
		reg.add(Requester{User: "ann", Address: "elsewhere"})
	}
	r := create(l, reg, Requester{User: "ann", Verified: true, Address: "192.0.2.1"})
	if r == nil || r.Code != CodeQuota || r.Key != KeyUserQuota || !strings.Contains(r.Message, KeyUserQuota) {
		t.Fatalf("ann over quota: %+v", r)
	}
	for i := 0; i < 5; i++ {
		if r := create(l, reg, Requester{User: fmt.Sprint("u", i), Verified: true, Address: "192.0.2.1"}); r != nil {
			t.Fatalf("verified user %d from a shared address: %+v", i, r)
		}
	}
	for i := 0; i < 5; i++ {
		if r := create(l, reg, Requester{User: fmt.Sprint("claimed", i), Address: "192.0.2.2"}); r != nil {
			t.Fatalf("claimed name %d: %+v", i, r)
		}
	}
	if r := create(l, reg, Requester{User: "claimed-new", Address: "192.0.2.2"}); r == nil || r.Key != KeyAddressQuota {
		t.Fatalf("rotating claimed names from one address: %+v", r)
	}
}

// TestMaxRooms: the cap on all rooms holds for everyone, the API key too.
func TestMaxRooms(t *testing.T) {
	reg, c := &fakeRegistry{}, &clock{t: time.Unix(1000, 0)}
	lim := testLimits()
	lim.MaxRooms = 4
	l := New(lim, reg)
	l.now = c.now
	for i := 0; i < 4; i++ {
		if r := create(l, reg, Requester{Admin: true}); r != nil {
			t.Fatalf("admin %d: %+v", i, r)
		}
	}
	for _, q := range []Requester{{Admin: true}, {User: "bob", Verified: true}, {Address: "192.0.2.9"}} {
		if r := create(l, reg, q); r == nil || r.Code != CodeQuota || r.Key != KeyMaxRooms {
			t.Fatalf("%+v over the cap: %+v", q, r)
		}
	}
}

// TestConcurrentReservations: creations in flight count, so a burst of
// concurrent requests cannot pass a quota together.
func TestConcurrentReservations(t *testing.T) {
	reg, c := &fakeRegistry{}, &clock{t: time.Unix(1000, 0)}
	lim := testLimits()
	lim.AddressBurst = 1000
	l := New(lim, reg)
	l.now = c.now
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		dones []func()
	)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		// each goroutine owns one reservation attempt
		go func() {
			defer wg.Done()
			if done, r := l.Reserve(Requester{Address: "192.0.2.3"}); r == nil {
				mu.Lock()
				dones = append(dones, done)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(dones) != lim.AddressQuota {
		t.Fatalf("%d admitted concurrently, want the quota %d", len(dones), lim.AddressQuota)
	}
	for _, d := range dones {
		d()
		d() // twice is harmless
	}
	if l.inFlight != 0 || len(l.byOrigin) != 0 {
		t.Fatalf("in flight after release: %d %v", l.inFlight, l.byOrigin)
	}
}

// TestTrackedClientsBounded: rotating addresses cannot grow the rate map
// past MaxTracked; once the busy entries refill, new addresses get in.
func TestTrackedClientsBounded(t *testing.T) {
	reg, c := &fakeRegistry{}, &clock{t: time.Unix(1000, 0)}
	lim := testLimits()
	lim.MaxTracked, lim.AddressQuota, lim.MaxRooms = 10, 100, 100000
	l := New(lim, reg)
	l.now = c.now
	refused := 0
	for i := 0; i < 1000; i++ {
		done, r := l.Reserve(Requester{Address: fmt.Sprintf("198.51.100.%d/%d", i%250, i)})
		if r != nil {
			if r.Code != CodeRate || r.Key != KeyMaxTracked || r.RetryAfter <= 0 {
				t.Fatalf("address %d: %+v", i, r)
			}
			refused++
			continue
		}
		done()
	}
	if n := l.addrs.len(); n > 10 {
		t.Fatalf("%d addresses tracked, want at most 10", n)
	}
	if refused != 990 {
		t.Fatalf("%d refused, want 990", refused)
	}
	c.t = c.t.Add(time.Minute) // every bucket has refilled: idle
	if _, r := l.Reserve(Requester{Address: "203.0.113.1"}); r != nil {
		t.Fatalf("after the entries went idle: %+v", r)
	}
	if n := l.addrs.len(); n != 1 {
		t.Fatalf("%d addresses tracked after the sweep, want 1", n)
	}
}

// pausingRegistry is a fakeRegistry whose next List, once armed, takes
// its snapshot, says so on listed, and returns it only after proceed.
type pausingRegistry struct {
	fakeRegistry
	armed           bool
	listed, proceed chan struct{}
}

func (p *pausingRegistry) List() []rooms.Room {
	snap := p.fakeRegistry.List()
	if p.armed {
		p.armed = false
		close(p.listed)
		<-p.proceed
	}
	return snap
}

// TestCapWhileACreationFinishes: a creation that finishes (its room in the
// registry, its reservation released) while another request counts the
// rooms is counted once, never zero times: at MaxRooms 1 the second
// request is refused.
func TestCapWhileACreationFinishes(t *testing.T) {
	reg := &pausingRegistry{listed: make(chan struct{}), proceed: make(chan struct{})}
	lim := testLimits()
	lim.MaxRooms = 1
	l := New(lim, reg)
	first := Requester{User: "ann"}
	done, r := l.Reserve(first)
	if r != nil {
		t.Fatal(r)
	}
	reg.armed = true
	second := make(chan *Refusal, 1)
	// owns the second reservation
	go func() {
		done2, r := l.Reserve(Requester{User: "bob"})
		if done2 != nil {
			done2()
		}
		second <- r
	}()
	<-reg.listed
	reg.add(first) // the first room is in the registry now
	released := make(chan struct{})
	// owns the release of the first reservation
	go func() { done(); close(released) }()
	select {
	case <-released: // (a Limiter that lists without its lock)
	case <-time.After(100 * time.Millisecond):
	}
	close(reg.proceed)
	if r := <-second; r == nil || r.Key != KeyMaxRooms {
		t.Fatalf("second creation at the cap: %v, want %s", r, KeyMaxRooms)
	}
	<-released
}
