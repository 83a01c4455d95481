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

func TestOnlineAnnouncerAnnouncesChangesOnly(t *testing.T) {
	list := manyRooms(5, func(i int) string { return fmt.Sprint("room ", i) }) // r2 private
	counts := map[string]int{"r0": 1, "r2": 4}
	a := NewOnlineAnnouncer(OnlineOptions{Rooms: list, Online: func(id string) int { return counts[id] }})

	if got := events(t, a.Tick()); len(got) != 1 || got["r0"] != 1 {
		t.Fatalf("first tick announced %v, want only r0=1 (zero counts are in the list already, r2 is private)", got)
	}
	if got := a.Tick(); len(got) != 0 {
		t.Fatalf("a tick with no change announced %s", got)
	}
	counts["r0"], counts["r1"], counts["r2"] = 0, 2, 5
	if got := events(t, a.Tick()); len(got) != 2 || got["r0"] != 0 || got["r1"] != 2 {
		t.Fatalf("announced %v, want r0=0 r1=2", got)
	}
	// a room gone and back counts as new
	a.opts.Rooms = list[1:]
	a.Tick()
	a.opts.Rooms = list
	if got := events(t, a.Tick()); len(got) != 0 {
		t.Fatalf("r0 back with 0 online announced %v", got)
	}
}

func TestOnlineAnnouncerSplitsLargeChanges(t *testing.T) {
	list := make(slicePager, 250) // three Page calls of MaxLimit
	for i := range list {
		list[i] = rooms.Room{ID: fmt.Sprintf("r%d", i), Seq: int64(i + 1)}
	}
	a := NewOnlineAnnouncer(OnlineOptions{Rooms: list, Online: func(string) int { return 3 }, PerEvent: 100})
	bodies := a.Tick()
	if len(bodies) != 3 {
		t.Fatalf("%d events for 250 changes at 100 per event, want 3", len(bodies))
	}
	if got := events(t, bodies); len(got) != 250 {
		t.Fatalf("announced %d rooms, want 250", len(got))
	}
}

func TestOnlineAnnouncerPublishesUntilClosed(t *testing.T) {
	list := manyRooms(1, func(int) string { return "a" })
	got := make(chan []byte, 10)
	a := NewOnlineAnnouncer(OnlineOptions{
		Rooms: list, Online: func(string) int { return 7 }, Interval: 5 * time.Millisecond,
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
