package direct

import (
	"context"
	"errors"
	"sync"
	"testing"

	"chatrelay/internal/roomlimit"
	"chatrelay/internal/rooms"
)

// fakeStore keeps rooms in memory; racing makes the next Create answer
// ErrDuplicateID after adding the room, as when another replica's
// creation won.
type fakeStore struct {
	mu      sync.Mutex
	rooms   map[string]rooms.Room
	racing  bool
	creates int
}

func (f *fakeStore) Get(id string) (rooms.Room, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.rooms[id]
	return r, ok
}

func (f *fakeStore) Create(_ context.Context, spec rooms.Spec) (rooms.Room, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates++
	r, ok := rooms.NewRoom(spec)
	if !ok {
		return rooms.Room{}, rooms.ErrInvalid
	}
	if _, taken := f.rooms[r.ID]; taken {
		return rooms.Room{}, rooms.ErrDuplicateID
	}
	f.rooms[r.ID] = r
	if f.racing {
		f.racing = false
		return rooms.Room{}, rooms.ErrDuplicateID
	}
	return r, nil
}

func (f *fakeStore) List() []rooms.Room {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []rooms.Room
	for _, r := range f.rooms {
		out = append(out, r)
	}
	return out
}

func (f *fakeStore) CountDirect(user, origin string) (int, int, int) {
	return rooms.CountDirect(f.List(), user, origin)
}

func limits() roomlimit.Limits {
	return roomlimit.Limits{MaxRooms: 3, UserPerMinute: 0.001, UserBurst: 2, UserQuota: 100,
		AddressPerMinute: 1000, AddressBurst: 1000, AddressQuota: 1000, MaxTracked: 100}
}

func TestRoomFindsOrCreates(t *testing.T) {
	st := &fakeStore{rooms: map[string]rooms.Room{}}
	s := New(Options{Rooms: st, Limits: limits(), Verified: true})
	ctx := context.Background()
	r, err := s.Room(ctx, "ann", "bob", "10.0.0.1")
	if err != nil || r.ID != rooms.DirectID("ann", "bob") || !r.Direct || r.Origin != rooms.OriginOf("10.0.0.1") {
		t.Fatalf("first message: %+v %v", r, err)
	}
	// bob's answer finds it: no creation, no budget spent
	for range 5 {
		if r2, err := s.Room(ctx, "bob", "ann", "10.0.0.2"); err != nil || r2.ID != r.ID {
			t.Fatalf("answer: %+v %v", r2, err)
		}
	}
	if st.creates != 1 {
		t.Fatalf("%d creations, want 1", st.creates)
	}
	// another replica created it meanwhile: the room is found, no error
	st.racing = true
	if r, err := s.Room(ctx, "carol", "dan", "10.0.0.3"); err != nil || r.ID != rooms.DirectID("carol", "dan") {
		t.Fatalf("a race: %+v %v", r, err)
	}
}

func TestLimits(t *testing.T) {
	st := &fakeStore{rooms: map[string]rooms.Room{}}
	s := New(Options{Rooms: st, Limits: limits(), Verified: true})
	ctx := context.Background()
	for _, to := range []string{"x1", "x2"} {
		if _, err := s.Room(ctx, "ann", to, "a"); err != nil {
			t.Fatal(err)
		}
	}
	var refused *roomlimit.Refusal
	_, err := s.Room(ctx, "ann", "x3", "a")
	if !errors.As(err, &refused) || refused.Code != roomlimit.CodeRate || refused.Key != "rooms.direct.user_per_minute" {
		t.Fatalf("a third conversation within the burst of 2: %v", err)
	}
	if _, err := s.Room(ctx, "bob", "x1", "b"); err != nil {
		t.Fatalf("another user: %v", err)
	}
	// the cap on all direct rooms (3)
	_, err = s.Room(ctx, "carol", "x9", "c")
	if !errors.As(err, &refused) || refused.Code != roomlimit.CodeQuota || refused.Key != "rooms.direct.max_rooms" {
		t.Fatalf("beyond the cap: %v", err)
	}
	// existing conversations go on
	if _, err := s.Room(ctx, "x3", "bob", "d"); err == nil {
		t.Fatal("a new one beyond the cap")
	}
	if _, err := s.Room(ctx, "x1", "ann", "d"); err != nil {
		t.Fatalf("an existing conversation beyond the cap: %v", err)
	}
}
