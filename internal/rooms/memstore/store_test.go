package memstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/broker/embedded"
	"chatrelay/internal/relay"
	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
)

// newStore runs an embedded broker, a relay and a Store on them.
func newStore(t *testing.T, buffer int) (*Store, *relay.Relay) {
	t.Helper()
	b, err := embedded.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := relay.New(relay.Config{Addresses: []string{embedded.Address}, Dial: b.Dial})
	r.Start()
	s, err := New(Options{Relay: r, Buffer: buffer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Close(ctx)
		b.Close()
	})
	if err := r.WaitReady(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	return s, r
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// send publishes chat message number n to the room as /app/chat.send
// would, and waits for the broker's receipt.
func send(t *testing.T, r *relay.Relay, roomID string, n int) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"id": "m" + strconv.Itoa(n), "roomId": roomID, "type": "TALK",
		"sender": "ann", "message": strconv.Itoa(n), "sentAt": time.Now().UTC()})
	done := make(chan error, 1)
	r.Publish(rooms.Topic(roomID), stomp.Headers{{Key: "content-type", Value: "application/json"}}, body, func(err error) { done <- err })
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no receipt for SEND")
	}
}

// follower collects delivered messages.
type follower struct {
	mu   sync.Mutex
	msgs []rooms.Message
	got  chan struct{}
}

func newFollower() *follower { return &follower{got: make(chan struct{}, 1)} }

func (f *follower) deliver(m rooms.Message, data []byte) {
	var back rooms.Message
	if err := json.Unmarshal(data, &back); err != nil || back.Offset != m.Offset {
		panic("encoding does not match the message")
	}
	f.mu.Lock()
	f.msgs = append(f.msgs, m)
	f.mu.Unlock()
	select {
	case f.got <- struct{}{}:
	default:
	}
}

// wait waits for n messages and returns their numbers and offsets.
func (f *follower) wait(t *testing.T, n int) (nums []int, offsets []int64) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		f.mu.Lock()
		if len(f.msgs) >= n {
			for _, m := range f.msgs {
				k, _ := strconv.Atoi(m.Message)
				nums = append(nums, k)
				offsets = append(offsets, m.Offset)
			}
			f.mu.Unlock()
			return nums, offsets
		}
		have := len(f.msgs)
		f.mu.Unlock()
		select {
		case <-f.got:
		case <-deadline:
			t.Fatalf("got %d messages, want %d", have, n)
		}
	}
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func TestCreateListGetDelete(t *testing.T) {
	s, _ := newStore(t, 10)
	a, err := s.Create(testCtx(t), rooms.Spec{Name: " lobby ", CreatedBy: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if !rooms.ValidID(a.ID) || len(a.ID) != 8 || a.Name != "lobby" || a.CreatedBy != "ann" {
		t.Fatalf("room %+v", a)
	}
	if _, err := s.Create(testCtx(t), rooms.Spec{Name: "LOBBY", CreatedBy: "bob"}); !errors.Is(err, rooms.ErrDuplicateName) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := s.Create(testCtx(t), rooms.Spec{Name: "  ", CreatedBy: "bob"}); !errors.Is(err, rooms.ErrInvalid) {
		t.Fatalf("empty name: %v", err)
	}
	b, err := s.Create(testCtx(t), rooms.Spec{Name: "games", CreatedBy: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.List(); len(got) != 2 || !reflect.DeepEqual(got[0], a) || !reflect.DeepEqual(got[1], b) {
		t.Fatalf("list %+v", got)
	}
	if got, ok := s.Get(b.ID); !ok || !reflect.DeepEqual(got, b) {
		t.Fatalf("get %+v %v", got, ok)
	}
	if err := s.Delete(testCtx(t), a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(testCtx(t), a.ID); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, ok := s.Get(a.ID); ok {
		t.Fatal("deleted room still there")
	}
	if _, err := s.Follow(testCtx(t), a.ID, rooms.Live, func(rooms.Message, []byte) {}); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("follow deleted: %v", err)
	}
	if _, err := s.History(testCtx(t), a.ID, -1, 10); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("history deleted: %v", err)
	}
	if _, err := s.Create(testCtx(t), rooms.Spec{Name: "lobby", CreatedBy: "bob"}); err != nil {
		t.Fatalf("name of a deleted room: %v", err)
	}
}

func TestFollowLastAfterLiveAndHistory(t *testing.T) {
	s, r := newStore(t, 30)
	room, err := s.Create(testCtx(t), rooms.Spec{Name: "talk", CreatedBy: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	// the embedded broker receipts a SEND before routing it: a probe
	// tells when the room has recorded message 50
	probe := newFollower()
	stopProbe, err := s.Follow(testCtx(t), room.ID, rooms.Live, probe.deliver)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 50; i++ {
		send(t, r, room.ID, i)
	}
	probe.wait(t, 50)
	stopProbe()
	last := newFollower()
	stopLast, err := s.Follow(testCtx(t), room.ID, rooms.Start{Last: 20, After: -1}, last.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stopLast()
	nums, offsets := last.wait(t, 20)
	if !slices.Equal(nums, seq(31, 50)) || offsets[0] != 30 || offsets[19] != 49 {
		t.Fatalf("last 20: %v %v", nums, offsets)
	}
	after := newFollower()
	stopAfter, err := s.Follow(testCtx(t), room.ID, rooms.Start{After: 44}, after.deliver) // offset 44 = message 45
	if err != nil {
		t.Fatal(err)
	}
	defer stopAfter()
	live := newFollower()
	stopLive, err := s.Follow(testCtx(t), room.ID, rooms.Live, live.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer stopLive()
	send(t, r, room.ID, 51)
	if nums, _ := live.wait(t, 1); !slices.Equal(nums, []int{51}) {
		t.Fatalf("live: %v", nums)
	}
	if nums, _ := last.wait(t, 21); !slices.Equal(nums, seq(31, 51)) {
		t.Fatalf("last then live: %v", nums)
	}
	if nums, _ := after.wait(t, 6); !slices.Equal(nums, seq(46, 51)) {
		t.Fatalf("after: %v", nums)
	}
	// history: the log keeps the newest 30 messages
	page, err := s.History(testCtx(t), room.ID, -1, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 5 || page[0].Offset != 50 || page[4].Offset != 46 {
		t.Fatalf("history page %+v", page)
	}
	var all []int64
	before := int64(-1)
	for {
		page, err := s.History(testCtx(t), room.ID, before, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, m := range page {
			all = append(all, m.Offset)
		}
		before = page[len(page)-1].Offset
	}
	if len(all) != 30 || all[0] != 50 || all[29] != 21 {
		t.Fatalf("paged history: %v", all)
	}
}

func TestPrivateRoomMembers(t *testing.T) {
	s, _ := newStore(t, 10)
	if _, err := s.Create(testCtx(t), rooms.Spec{Name: "nobody's", Private: true}); !errors.Is(err, rooms.ErrInvalid) {
		t.Fatalf("private room without an owner: %v", err)
	}
	r, err := s.Create(testCtx(t), rooms.Spec{Name: "secret", CreatedBy: "ann", Private: true, Members: []string{"bob", "ann", "bob", " "}})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Private || !slices.Equal(r.Members, []string{"bob"}) {
		t.Fatalf("room %+v: want private with members [bob]", r)
	}
	for user, want := range map[string]bool{"ann": true, "bob": true, "carol": false, "": false} {
		if got := r.Allows(user); got != want {
			t.Errorf("Allows(%q) = %v, want %v", user, got, want)
		}
	}
	r, err = s.SetMembers(testCtx(t), r.ID, []string{"carol"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(r.ID); !reflect.DeepEqual(got, r) || got.Allows("bob") || !got.Allows("carol") {
		t.Fatalf("after SetMembers: %+v", got)
	}
	pub, err := s.Create(testCtx(t), rooms.Spec{Name: "open", CreatedBy: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetMembers(testCtx(t), pub.ID, []string{"bob"}); !errors.Is(err, rooms.ErrInvalid) {
		t.Fatalf("members of a public room: %v", err)
	}
	if _, err := s.SetMembers(testCtx(t), "nosuchroom", nil); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("members of an unknown room: %v", err)
	}
	many := make([]string, rooms.MaxMembers+1)
	for i := range many {
		many[i] = fmt.Sprintf("user%d", i)
	}
	if _, err := s.SetMembers(testCtx(t), r.ID, many); !errors.Is(err, rooms.ErrInvalid) {
		t.Fatalf("too many members: %v", err)
	}
	if got, _ := s.Get(r.ID); !slices.Equal(got.Members, []string{"carol"}) {
		t.Fatalf("a refused SetMembers changed the room: %+v", got)
	}
}

// TestCountRooms: the creation limiter's counts, by owner and by origin.
func TestCountRooms(t *testing.T) {
	s, _ := newStore(t, 10)
	ctx := context.Background()
	for _, spec := range []rooms.Spec{
		{Name: "one", CreatedBy: "ann", Origin: "o1"},
		{Name: "two", CreatedBy: "ann", Origin: "o2"},
		{Name: "three", CreatedBy: "bob", Origin: "o1"},
	} {
		if _, err := s.Create(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	if total, byUser, byOrigin := s.CountRooms("ann", "o1"); total != 3 || byUser != 2 || byOrigin != 2 {
		t.Fatalf("count(ann, o1) = %d %d %d, want 3 2 2", total, byUser, byOrigin)
	}
	if total, byUser, byOrigin := s.CountRooms("", ""); total != 3 || byUser != 0 || byOrigin != 0 {
		t.Fatalf("count(\"\", \"\") = %d %d %d, want 3 0 0", total, byUser, byOrigin)
	}
}
