package roomlist

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"chatrelay/internal/rooms"
)

// events decodes Tick's bodies into one map, checking each event's shape.
func events(t *testing.T, bodies [][]byte) map[string]int {
	t.Helper()
	all := map[string]int{}
	for _, b := range bodies {
		var ev OnlineEvent
		if err := json.Unmarshal(b, &ev); err != nil || ev.Event != "online" || len(ev.Online) == 0 {
			t.Fatalf("bad event %s (%v)", b, err)
		}
		for id, n := range ev.Online {
			if _, dup := all[id]; dup {
				t.Fatalf("room %s in two events", id)
			}
			all[id] = n
		}
	}
	return all
}

// roomMap is a rooms.Getter over a map that counts its lookups.
type roomMap struct {
	rooms map[string]rooms.Room
	gets  int
}

func (m *roomMap) Get(id string) (rooms.Room, bool) {
	m.gets++
	r, ok := m.rooms[id]
	return r, ok
}

// roomsOf is a roomMap of list's rooms.
func roomsOf(list []rooms.Room) *roomMap {
	m := &roomMap{rooms: map[string]rooms.Room{}}
	for _, r := range list {
		m.rooms[r.ID] = r
	}
	return m
}

// occupied returns counts without its zero entries, as presence does.
func occupied(counts map[string]int) func() map[string]int {
	return func() map[string]int {
		out := map[string]int{}
		for id, n := range counts {
			if n > 0 {
				out[id] = n
			}
		}
		return out
	}
}

func TestOnlineAnnouncerAnnouncesChangesOnly(t *testing.T) {
	list := roomsOf(manyRooms(5, func(i int) string { return fmt.Sprint("room ", i) })) // r2 private
	counts := map[string]int{"r0": 1, "r2": 4, "gone": 3}
	a := NewOnlineAnnouncer(OnlineOptions{Rooms: list, Occupied: occupied(counts)})

	if got := events(t, a.Tick()); len(got) != 1 || got["r0"] != 1 {
		t.Fatalf("first tick announced %v, want only r0=1 (zero counts are in the list already, r2 is private, gone is no room)", got)
	}
	if got := a.Tick(); len(got) != 0 {
		t.Fatalf("a tick with no change announced %s", got)
	}
	counts["r0"], counts["r1"], counts["r2"] = 0, 2, 5
	if got := events(t, a.Tick()); len(got) != 2 || got["r0"] != 0 || got["r1"] != 2 {
		t.Fatalf("announced %v, want r0=0 r1=2", got)
	}
	if got := a.Tick(); len(got) != 0 {
		t.Fatalf("r0 still at 0 announced again: %s", got)
	}
	// a room gone is forgotten without an event, and counts as new when
	// it is back: announced if someone is online, not if nobody is
	r1 := list.rooms["r1"]
	delete(list.rooms, "r1")
	if got := a.Tick(); len(got) != 0 {
		t.Fatalf("r1 gone announced %s", got)
	}
	list.rooms["r1"] = r1
	if got := events(t, a.Tick()); len(got) != 1 || got["r1"] != 2 {
		t.Fatalf("r1 back with 2 online announced %v, want r1=2", got)
	}
	delete(list.rooms, "r1")
	a.Tick()
	counts["r1"] = 0
	list.rooms["r1"] = r1
	if got := a.Tick(); len(got) != 0 {
		t.Fatalf("r1 back with 0 online announced %s", got)
	}
	// a public room made private is forgotten too
	counts["r3"] = 1
	a.Tick()
	r3 := list.rooms["r3"]
	r3.Private = true
	list.rooms["r3"] = r3
	counts["r3"] = 2
	if got := a.Tick(); len(got) != 0 {
		t.Fatalf("r3, now private, announced %s", got)
	}
}

// TestOnlineAnnouncerCostFollowsOccupiedRooms: a tick looks at the rooms
// someone is (or was) online in, not at every room: with 100,000 rooms
// and 3 occupied, a tick makes a handful of lookups.
func TestOnlineAnnouncerCostFollowsOccupiedRooms(t *testing.T) {
	list := &roomMap{rooms: map[string]rooms.Room{}}
	for i := range 100_000 {
		id := fmt.Sprintf("r%d", i)
		list.rooms[id] = rooms.Room{ID: id, Seq: int64(i + 1)}
	}
	counts := map[string]int{"r10": 1, "r20": 2, "r99999": 3}
	a := NewOnlineAnnouncer(OnlineOptions{Rooms: list, Occupied: occupied(counts)})
	if got := events(t, a.Tick()); len(got) != 3 {
		t.Fatalf("announced %v, want the 3 occupied rooms", got)
	}
	counts["r10"] = 0
	if got := events(t, a.Tick()); len(got) != 1 || got["r10"] != 0 {
		t.Fatalf("announced %v, want r10=0", got)
	}
	if list.gets > 10 {
		t.Fatalf("two ticks looked up %d rooms, want at most the 6 occupied ones (of 100,000)", list.gets)
	}
	if len(a.last) != 2 {
		t.Fatalf("the announcer keeps %d rooms, want the 2 still occupied", len(a.last))
	}
}

func TestOnlineAnnouncerSplitsLargeChanges(t *testing.T) {
	list := make([]rooms.Room, 250)
	counts := map[string]int{}
	for i := range list {
		list[i] = rooms.Room{ID: fmt.Sprintf("r%d", i), Seq: int64(i + 1)}
		counts[list[i].ID] = 3
	}
	a := NewOnlineAnnouncer(OnlineOptions{Rooms: roomsOf(list), Occupied: occupied(counts), PerEvent: 100})
	bodies := a.Tick()
	if len(bodies) != 3 {
		t.Fatalf("%d events for 250 changes at 100 per event, want 3", len(bodies))
	}
	if got := events(t, bodies); len(got) != 250 {
		t.Fatalf("announced %d rooms, want 250", len(got))
	}
}

func TestOnlineAnnouncerPublishesUntilClosed(t *testing.T) {
	list := roomsOf(manyRooms(1, func(int) string { return "a" }))
	got := make(chan []byte, 10)
	a := NewOnlineAnnouncer(OnlineOptions{
		Rooms: list, Occupied: occupied(map[string]int{"r0": 7}), Interval: 5 * time.Millisecond,
		Publish: func(b []byte) { got <- b },
	})
	a.Start()
	select {
	case b := <-got:
		if string(b) != `{"event":"online","online":{"r0":7}}` {
			t.Fatalf("published %s", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing published within 5 s")
	}
	a.Close()
	a.Close() // idempotent
	if len(got) != 0 {
		t.Fatalf("published again with nothing changed: %s", <-got)
	}
}
