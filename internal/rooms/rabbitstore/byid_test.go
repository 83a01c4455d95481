package rabbitstore

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/rooms"
	"chatrelay/internal/testkit"
)

// TestCreateByID: a Spec.ID names the room; a taken id is ErrDuplicateID
// (locally at once, or from the registry when two replicas race) and the
// losing creation leaves the winner's stream in place.
func TestCreateByID(t *testing.T) {
	n := rabbittest.Require(t, node)
	a, b := newReplica(t, n, nil), newReplica(t, n, nil)
	id := strings.NewReplacer("/", "-", ".", "-").Replace(roomName(t))
	room, err := a.s.Create(testCtx(t), rooms.Spec{ID: id, Name: id, CreatedBy: "api"})
	if err != nil || room.ID != id {
		t.Fatalf("create %s: %+v %v", id, room, err)
	}
	if _, err := a.s.Create(testCtx(t), rooms.Spec{ID: id, Name: id + "-other", CreatedBy: "api"}); !errors.Is(err, rooms.ErrDuplicateID) {
		t.Fatalf("taken id on the same replica: %v", err)
	}
	if _, err := a.s.Create(testCtx(t), rooms.Spec{ID: "no/slash", Name: "x", CreatedBy: "api"}); !errors.Is(err, rooms.ErrInvalid) {
		t.Fatalf("invalid id: %v", err)
	}
	for i := 0; i < 3; i++ {
		id := strings.NewReplacer("/", "-", ".", "-").Replace(roomName(t))
		var wg sync.WaitGroup
		var ea, eb error
		wg.Add(2)
		go func() {
			// owns ea until wg.Done: replica a's create
			defer wg.Done()
			_, ea = a.s.Create(testCtx(t), rooms.Spec{ID: id, Name: id, CreatedBy: "api"})
		}()
		go func() {
			// owns eb until wg.Done: replica b's create
			defer wg.Done()
			_, eb = b.s.Create(testCtx(t), rooms.Spec{ID: id, Name: id, CreatedBy: "api"})
		}()
		wg.Wait()
		if (ea == nil) == (eb == nil) {
			t.Fatalf("race %d: both or neither won: %v, %v", i, ea, eb)
		}
		if loser := errors.Join(ea, eb); !errors.Is(loser, rooms.ErrDuplicateID) {
			t.Fatalf("race %d: loser error %v", i, loser)
		}
		testkit.Eventually(t, time.Second, "the room on both replicas", func() bool {
			_, oka := a.s.Get(id)
			_, okb := b.s.Get(id)
			return oka && okb
		})
		// neither create declared a stream; the room's first Open
		// does, on either replica
		room, _ := b.s.Get(id)
		if declared(t, n, room.Stream) {
			t.Fatalf("race %d: a create declared the stream of %s", i, id)
		}
		if err := b.s.Open(testCtx(t), id); err != nil {
			t.Fatal(err)
		}
		if !declared(t, n, room.Stream) {
			t.Fatalf("race %d: no stream of %s after Open", i, id)
		}
	}
}
