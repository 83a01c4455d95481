package moderation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/rooms"
)

// fakeRooms is a room store in memory.
type fakeRooms struct {
	mu    sync.Mutex
	rooms map[string]rooms.Room
	fail  error // Moderate fails with it when set
}

func (f *fakeRooms) Get(id string) (rooms.Room, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.rooms[id]
	return r, ok
}

func (f *fakeRooms) Moderate(_ context.Context, id string, ch rooms.Change) (rooms.Room, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return rooms.Room{}, f.fail
	}
	r, ok := f.rooms[id]
	if !ok {
		return rooms.Room{}, rooms.ErrNotFound
	}
	r, err := r.Apply(ch)
	if err == nil {
		f.rooms[id] = r
	}
	return r, err
}

// fakeMessages records what is stored.
type fakeMessages struct {
	mu    sync.Mutex
	posts []rooms.Post
	fail  error
}

func (f *fakeMessages) Store(_ context.Context, roomID, msgID string, body []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	var p rooms.Post
	if err := json.Unmarshal(body, &p); err != nil || p.ID != msgID || p.RoomID != roomID {
		return fmt.Errorf("bad body %s", body)
	}
	f.posts = append(f.posts, p)
	return nil
}

func (f *fakeMessages) last() rooms.Post {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.posts[len(f.posts)-1]
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newService(t *testing.T, lang string) (*Service, *fakeRooms, *fakeMessages, *clock) {
	t.Helper()
	rs := &fakeRooms{rooms: map[string]rooms.Room{
		"pub":  {ID: "pub", CreatedBy: "ann", Moderators: []string{"carol", "frank"}},
		"priv": {ID: "priv", CreatedBy: "ann", Private: true, Members: []string{"bob", "carol"}},
	}}
	ms := &fakeMessages{}
	c := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	s := New(Options{Rooms: rs, Messages: ms, Language: lang, Now: c.now, Rate: 1000, Burst: 1000})
	return s, rs, ms, c
}

func kindOf(err error) string {
	if err == nil {
		return "ok"
	}
	return map[Kind]string{Invalid: "invalid", Forbidden: "forbidden", NotFound: "not_found", Limited: "limited", Unavailable: "unavailable"}[KindOf(err)]
}

// TestWhoMayActOnWhom is the authorization table.
func TestWhoMayActOnWhom(t *testing.T) {
	for _, tc := range []struct {
		room   string
		actor  Actor
		action Action
		user   string
		want   string
	}{
		{"pub", Actor{User: "ann"}, Ban, "bob", "ok"},
		{"pub", Actor{User: "ann"}, Mute, "carol", "ok"}, // the owner acts on a moderator
		{"pub", Actor{User: "carol"}, Kick, "bob", "ok"},
		{"pub", Actor{User: "carol"}, Kick, "frank", "forbidden"}, // moderator on moderator
		{"pub", Actor{User: "carol"}, Ban, "ann", "forbidden"},    // on the owner
		{"pub", Actor{Admin: true}, Ban, "ann", "forbidden"},
		{"pub", Actor{Admin: true}, Ban, "carol", "ok"},
		{"pub", Actor{User: "carol"}, Mute, "carol", "invalid"}, // themselves
		{"pub", Actor{User: "bob"}, Kick, "dave", "forbidden"},
		{"pub", Actor{}, Kick, "dave", "forbidden"},
		{"pub", Actor{User: "carol"}, "smite", "dave", "invalid"},
		{"nope", Actor{User: "ann"}, Kick, "dave", "not_found"},
		{"priv", Actor{User: "mallory"}, Kick, "bob", "not_found"}, // a private room is not shown to outsiders
		{"priv", Actor{User: "bob"}, Kick, "carol", "forbidden"},
		{"priv", Actor{User: "ann"}, Ban, "bob", "ok"},
	} {
		s, _, _, _ := newService(t, "en")
		_, err := s.Act(context.Background(), tc.room, tc.actor, tc.action, tc.user)
		if got := kindOf(err); got != tc.want {
			t.Errorf("%+v %s %s in %s: %s (%v), want %s", tc.actor, tc.action, tc.user, tc.room, got, err, tc.want)
		}
	}
}

// TestActChangesStateAndAnnounces: a ban is stored and announced by a
// SYSTEM message naming event, target and actor; a kick is announced
// only; the API key's actions come from "system".
func TestActChangesStateAndAnnounces(t *testing.T) {
	s, rs, ms, c := newService(t, "en")
	room, err := s.Act(context.Background(), "pub", Actor{User: "carol"}, Ban, "bob")
	if err != nil || !room.IsBanned("bob") {
		t.Fatalf("ban: %+v %v", room, err)
	}
	if r, _ := rs.Get("pub"); !r.IsBanned("bob") {
		t.Fatal("the ban is not in the store")
	}
	p := ms.last()
	want := rooms.Post{ID: p.ID, RoomID: "pub", Type: rooms.System, Sender: "carol", Message: "bob was banned by carol.", SentAt: c.now(), Event: "ban", Target: "bob"}
	if p.ID == "" || !p.SentAt.Equal(want.SentAt) || p.Message != want.Message || p.Event != want.Event || p.Target != want.Target || p.Sender != want.Sender || p.Type != want.Type {
		t.Fatalf("announcement %+v, want %+v", p, want)
	}
	before, _ := rs.Get("pub")
	if _, err := s.Act(context.Background(), "pub", Actor{Admin: true}, Kick, "dave"); err != nil {
		t.Fatal(err)
	}
	if after, _ := rs.Get("pub"); len(after.Banned) != len(before.Banned) || len(after.Muted) != 0 {
		t.Fatalf("a kick changed the room: %+v", after)
	}
	if p := ms.last(); p.Sender != SystemSender || p.Event != "kick" || p.Target != "dave" {
		t.Fatalf("the key's kick: %+v", p)
	}
	if _, err := s.SetModerators(context.Background(), "pub", Actor{User: "ann"}, []string{"erin"}); err != nil {
		t.Fatal(err)
	}
	if p := ms.last(); p.Event != EventModerators || p.Message != "ann made the moderators: erin." {
		t.Fatalf("moderators announcement %+v", p)
	}
}

func TestKoreanAnnouncements(t *testing.T) {
	s, _, ms, _ := newService(t, "ko")
	for _, tc := range []struct {
		action Action
		want   string
	}{
		{Kick, "carol님이 bob님을 내보냈습니다."},
		{Ban, "carol님이 bob님을 차단했습니다."},
		{Unban, "carol님이 bob님의 차단을 해제했습니다."},
		{Mute, "carol님이 bob님의 채팅을 금지했습니다."},
		{Unmute, "carol님이 bob님의 채팅 금지를 해제했습니다."},
	} {
		if _, err := s.Act(context.Background(), "pub", Actor{User: "carol"}, tc.action, "bob"); err != nil {
			t.Fatal(err)
		}
		if got := ms.last().Message; got != tc.want {
			t.Errorf("%s: %q, want %q", tc.action, got, tc.want)
		}
	}
	if _, err := s.SetModerators(context.Background(), "pub", Actor{User: "ann"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := ms.last().Message; got != "ann님이 운영자를 모두 해제했습니다." {
		t.Errorf("no moderators: %q", got)
	}
}

func TestSetModerators(t *testing.T) {
	s, rs, _, _ := newService(t, "en")
	ctx := context.Background()
	if _, err := s.SetModerators(ctx, "pub", Actor{User: "carol"}, []string{"x"}); KindOf(err) != Forbidden {
		t.Fatalf("a moderator chooses moderators: %v", err)
	}
	if _, err := s.SetModerators(ctx, "priv", Actor{User: "ann"}, []string{"carol", "stranger"}); KindOf(err) != Invalid || !strings.Contains(err.Error(), "not a member") {
		t.Fatalf("a non-member of a private room made moderator: %v", err)
	}
	room, err := s.SetModerators(ctx, "priv", Actor{User: "ann"}, []string{"carol", "ann", "carol"})
	if err != nil || strings.Join(room.Moderators, ",") != "carol" {
		t.Fatalf("moderators: %+v %v", room, err)
	}
	if r, _ := rs.Get("priv"); r.Role("carol") != rooms.RoleModerator {
		t.Fatal("carol is no moderator in the store")
	}
	many := make([]string, rooms.MaxModerators+1)
	for i := range many {
		many[i] = fmt.Sprintf("m%d", i)
	}
	if _, err := s.SetModerators(ctx, "pub", Actor{Admin: true}, many); KindOf(err) != Invalid {
		t.Fatalf("%d moderators: %v", len(many), err)
	}
}

// TestBudget: one actor's moderations are bounded per second (burst,
// then the rate); others keep theirs; the budgets remembered are bounded.
func TestBudget(t *testing.T) {
	rs := &fakeRooms{rooms: map[string]rooms.Room{"pub": {ID: "pub", CreatedBy: "ann", Moderators: []string{"carol"}}}}
	c := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	s := New(Options{Rooms: rs, Messages: &fakeMessages{}, Now: c.now, Rate: 2, Burst: 5, MaxActors: 3})
	ctx := context.Background()
	for i := range 5 {
		if _, err := s.Act(ctx, "pub", Actor{User: "carol"}, Kick, "bob"); err != nil {
			t.Fatalf("kick %d within the burst: %v", i, err)
		}
	}
	_, err := s.Act(ctx, "pub", Actor{User: "carol"}, Kick, "bob")
	if KindOf(err) != Limited || !strings.Contains(err.Error(), "slow down") {
		t.Fatalf("kick beyond the burst: %v", err)
	}
	if _, err := s.Act(ctx, "pub", Actor{User: "ann"}, Kick, "bob"); err != nil {
		t.Fatalf("another actor: %v", err)
	}
	c.add(500 * time.Millisecond)
	if _, err := s.Act(ctx, "pub", Actor{User: "carol"}, Kick, "bob"); err != nil {
		t.Fatalf("after the rate refilled one: %v", err)
	}
	// refusals before the budget (forbidden, invalid) spend none of it
	for range 20 {
		if _, err := s.Act(ctx, "pub", Actor{User: "ann"}, Ban, "ann"); KindOf(err) != Forbidden {
			t.Fatal(err)
		}
	}
	if _, err := s.Act(ctx, "pub", Actor{User: "ann"}, Kick, "bob"); err != nil {
		t.Fatalf("refusals spent ann's budget: %v", err)
	}
	// five more owners, each in a room of theirs: at most three budgets
	// are remembered (the full ones go first, here after an hour)
	c.add(time.Hour)
	for i := range 5 {
		id, owner := fmt.Sprintf("r%d", i), fmt.Sprintf("o%d", i)
		rs.rooms[id] = rooms.Room{ID: id, CreatedBy: owner}
		if _, err := s.Act(ctx, id, Actor{User: owner}, Kick, "bob"); err != nil {
			t.Fatal(err)
		}
		if n := len(s.budgets); n > 3 {
			t.Fatalf("%d budgets remembered, want at most 3", n)
		}
	}
}

// TestStoreFailures: a store that fails refuses with Unavailable; an
// announcement not seen stored leaves the change made, and asking again
// announces it again.
func TestStoreFailures(t *testing.T) {
	s, rs, ms, _ := newService(t, "en")
	ctx := context.Background()
	rs.fail = errors.New("registry away")
	if _, err := s.Act(ctx, "pub", Actor{User: "ann"}, Ban, "bob"); KindOf(err) != Unavailable || !strings.Contains(err.Error(), "could not be stored") {
		t.Fatalf("store down: %v", err)
	}
	rs.fail = nil
	ms.fail = errors.New("not stored")
	if _, err := s.Act(ctx, "pub", Actor{User: "ann"}, Ban, "bob"); KindOf(err) != Unavailable || !strings.Contains(err.Error(), "ask again") {
		t.Fatalf("announcement lost: %v", err)
	}
	if r, _ := rs.Get("pub"); !r.IsBanned("bob") {
		t.Fatal("the ban did not stand")
	}
	ms.fail = nil
	if _, err := s.Act(ctx, "pub", Actor{User: "ann"}, Ban, "bob"); err != nil {
		t.Fatalf("asking again: %v", err)
	}
	if p := ms.last(); p.Event != "ban" || p.Target != "bob" {
		t.Fatalf("announced again: %+v", p)
	}
	ms.fail = rooms.ErrNotFound
	if _, err := s.Act(ctx, "pub", Actor{User: "ann"}, Kick, "bob"); KindOf(err) != NotFound {
		t.Fatalf("room deleted meanwhile: %v", err)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		body, want string
	}{
		{`{"action":"kick","user":"bob"}`, ""},
		{`{"action":"KICK","user":"bob"}`, "action must be"},
		{`{"action":"kick"}`, "not a valid user name"},
		{`{"action":"kick","user":"a b"}`, "not a valid user name"},
		{`{"action":"kick","user":"` + strings.Repeat("x", 65) + `"}`, "not a valid user name"},
		{`{"action":"kick","user":"bob","extra":1}`, "unknown field"},
		{`{"action":1,"user":"bob"}`, "body must be"},
		{``, "body must be"},
		{strings.Repeat(" ", 1025), "at most"},
	} {
		_, err := ParseRequest([]byte(tc.body), nil)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || KindOf(err) != Invalid || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%.40q: %v, want %q", tc.body, err, tc.want)
		}
	}
	for _, tc := range []struct {
		body, want string
	}{
		{`{"moderators":["a","b"]}`, ""},
		{`{"moderators":[]}`, ""},
		{`{}`, "body must be"},
		{`{"moderators":["a b"]}`, "not a valid user name"},
		{`{"moderators":"a"}`, "body must be"},
		{`{"moderators":[` + strings.Repeat(`"a",`, rooms.MaxModerators) + `"b"]}`, "at most"},
	} {
		_, err := ParseModerators([]byte(tc.body), nil)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%.40q: %v, want %q", tc.body, err, tc.want)
		}
	}
	strict := func(s string) bool { return s == "ok" }
	if _, err := ParseRequest([]byte(`{"action":"ban","user":"bob"}`), strict); err == nil {
		t.Error("the name check was not used")
	}
}
