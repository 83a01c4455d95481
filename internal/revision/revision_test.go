package revision

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"chatrelay/internal/moderation"
	"chatrelay/internal/rooms"
)

// fakeRooms holds one room and its messages by offset.
type fakeRooms struct {
	room rooms.Room
	msgs map[int64]rooms.Message
	err  error // Revisable fails with it
}

func (f *fakeRooms) Get(id string) (rooms.Room, bool) { return f.room, id == f.room.ID }

func (f *fakeRooms) Revisable(_ context.Context, roomID string, off int64) (rooms.Message, error) {
	if roomID != f.room.ID {
		return rooms.Message{}, rooms.ErrNotFound
	}
	if f.err != nil {
		return rooms.Message{}, f.err
	}
	m, ok := f.msgs[off]
	if !ok || m.Deleted {
		return rooms.Message{}, rooms.ErrNotRevisable
	}
	return m, nil
}

type fakeStorer struct {
	stored []rooms.Post
	err    error
}

func (f *fakeStorer) Store(_ context.Context, roomID, msgID string, body []byte) error {
	if f.err != nil {
		return f.err
	}
	var p rooms.Post
	if err := json.Unmarshal(body, &p); err != nil || p.ID != msgID || p.RoomID != roomID {
		return errors.New("bad body")
	}
	f.stored = append(f.stored, p)
	return nil
}

func newTest() (*Service, *fakeRooms, *fakeStorer) {
	rs := &fakeRooms{
		room: rooms.Room{ID: "r", CreatedBy: "ann", Moderators: []string{"carol"}, Muted: []string{"mute"}, Banned: []string{"gone"}},
		msgs: map[int64]rooms.Message{
			3: {Post: rooms.Post{ID: "m3", Type: rooms.Talk, Sender: "bob", Message: "hi"}, Offset: 3},
			4: {Post: rooms.Post{ID: "m4", Type: rooms.Talk, Sender: "mute", Message: "hi"}, Offset: 4},
			5: {Post: rooms.Post{ID: "m5", Type: rooms.Talk, Sender: "gone", Message: "hi"}, Offset: 5},
		},
	}
	st := &fakeStorer{}
	return New(Options{Rooms: rs, Messages: st, MaxMessageBytes: 10}), rs, st
}

func kind(err error) string {
	if err == nil {
		return "ok"
	}
	return map[moderation.Kind]string{moderation.Invalid: "invalid", moderation.Forbidden: "forbidden", moderation.NotFound: "not_found", moderation.Unavailable: "unavailable"}[moderation.KindOf(err)]
}

func TestWhoMayEditAndDelete(t *testing.T) {
	u := func(name string) moderation.Actor { return moderation.Actor{User: name} }
	key := moderation.Actor{Admin: true}
	for _, tc := range []struct {
		edit  bool
		actor moderation.Actor
		room  string
		ref   Ref
		text  string
		want  string
	}{
		{true, u("bob"), "r", Ref{Offset: 3}, "edited", "ok"},
		{true, u("bob"), "r", Ref{Offset: 3, ID: "m3"}, "edited", "ok"},
		{true, u("bob"), "r", Ref{Offset: 3, ID: "m9"}, "edited", "invalid"},
		{true, u("ann"), "r", Ref{Offset: 3}, "edited", "forbidden"}, // the owner edits no one's
		{true, key, "r", Ref{Offset: 3}, "edited", "forbidden"},
		{true, u("bob"), "r", Ref{Offset: 3}, "much too long", "invalid"},
		{true, u("bob"), "r", Ref{Offset: 3}, " ", "invalid"},
		{true, u("bob"), "r", Ref{Offset: 3}, "\xff", "invalid"},
		{true, u("bob"), "r", Ref{Offset: 9}, "edited", "invalid"},
		{true, u("bob"), "x", Ref{Offset: 3}, "edited", "not_found"},
		{true, u("mute"), "r", Ref{Offset: 4}, "edited", "forbidden"},
		{true, u("gone"), "r", Ref{Offset: 5}, "edited", "forbidden"},
		{false, u("bob"), "r", Ref{Offset: 3}, "", "ok"},
		{false, u("ann"), "r", Ref{Offset: 3}, "", "ok"},
		{false, u("carol"), "r", Ref{Offset: 3}, "", "ok"},
		{false, key, "r", Ref{Offset: 3}, "", "ok"},
		{false, u("dave"), "r", Ref{Offset: 3}, "", "forbidden"},
		{false, u("mute"), "r", Ref{Offset: 4}, "", "ok"}, // a muted user may delete their own
		{false, u("gone"), "r", Ref{Offset: 5}, "", "forbidden"},
		{false, moderation.Actor{}, "r", Ref{Offset: 3}, "", "forbidden"},
	} {
		s, _, st := newTest()
		var err error
		if tc.edit {
			_, err = s.Edit(context.Background(), tc.room, tc.actor, tc.ref, tc.text)
		} else {
			_, err = s.Delete(context.Background(), tc.room, tc.actor, tc.ref)
		}
		if got := kind(err); got != tc.want {
			t.Errorf("edit=%v %+v %+v %q: %s (%v), want %s", tc.edit, tc.actor, tc.ref, tc.text, got, err, tc.want)
			continue
		}
		if tc.want != "ok" {
			if len(st.stored) != 0 {
				t.Errorf("a refusal stored %+v", st.stored)
			}
			continue
		}
		p := st.stored[0]
		if p.Ref != "m"+string(rune('0'+tc.ref.Offset)) || *p.RefOffset != tc.ref.Offset || (tc.edit && (p.Type != rooms.Edit || p.Message != tc.text)) || (!tc.edit && (p.Type != rooms.Delete || p.Message != "")) {
			t.Errorf("stored %+v", p)
		}
		if tc.actor.Admin && p.Sender != moderation.SystemSender || !tc.actor.Admin && p.Sender != tc.actor.User {
			t.Errorf("sender %q for %+v", p.Sender, tc.actor)
		}
	}
}

func TestFailures(t *testing.T) {
	s, rs, st := newTest()
	ctx := context.Background()
	st.err = errors.New("not stored")
	if _, err := s.Delete(ctx, "r", moderation.Actor{User: "bob"}, Ref{Offset: 3}); moderation.KindOf(err) != moderation.Unavailable || !strings.Contains(err.Error(), "ask again") {
		t.Fatalf("not stored: %v", err)
	}
	st.err = rooms.ErrNotFound
	if _, err := s.Delete(ctx, "r", moderation.Actor{User: "bob"}, Ref{Offset: 3}); moderation.KindOf(err) != moderation.NotFound {
		t.Fatalf("room deleted meanwhile: %v", err)
	}
	st.err, rs.err = nil, errors.New("stream away")
	if _, err := s.Delete(ctx, "r", moderation.Actor{User: "bob"}, Ref{Offset: 3}); moderation.KindOf(err) != moderation.Unavailable {
		t.Fatalf("history unreadable: %v", err)
	}
}

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		body string
		edit bool
		want string
	}{
		{`{"offset":3,"id":"m3","message":"x"}`, true, ""},
		{`{"offset":3}`, false, ""},
		{`{"offset":-1}`, false, "offset is required"},
		{`{"id":"m3"}`, false, "offset is required"},
		{`{"offset":3}`, true, "message is required"},
		{`{"offset":3,"message":"x"}`, false, "takes no message"},
		{`{"offset":3,"extra":1}`, false, "unknown field"},
		{`{"offset":"3"}`, false, "body must be"},
		{`{"offset":3,"id":"` + strings.Repeat("x", 129) + `"}`, false, "at most 128"},
		{strings.Repeat(" ", 20+1024+1), false, "longer than"},
	} {
		_, _, err := ParseRequest([]byte(tc.body), tc.edit, 20)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%.50q edit=%v: %v, want %q", tc.body, tc.edit, err, tc.want)
		}
	}
}
