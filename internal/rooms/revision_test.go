package rooms

import (
	"testing"
	"time"
)

func TestRevisionFolding(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	msg := Post{ID: "m", Type: Talk, Sender: "bob", Message: "hello", Attachments: []Attachment{{URL: "https://x/y"}}, SentAt: t0}
	off := int64(7)
	edit := func(text string, s int) Post {
		return Post{ID: "e", Type: Edit, Message: text, SentAt: t0.Add(time.Duration(s) * time.Second), Ref: "m", RefOffset: &off}
	}
	del := Post{ID: "d", Type: Delete, SentAt: t0.Add(time.Minute), Ref: "m", RefOffset: &off}

	var r Revision
	if got := msg.Revised(r); got.Message != "hello" || got.EditedAt != nil || got.Deleted {
		t.Fatalf("no revision changed the message: %+v", got)
	}
	r = r.With(edit("hi", 1)).With(edit("hey", 2))
	got := msg.Revised(r)
	if got.Message != "hey" || got.EditedAt == nil || !got.EditedAt.Equal(t0.Add(2*time.Second)) || len(got.Attachments) != 1 {
		t.Fatalf("edited: %+v", got)
	}
	if ev := edit("hi", 1).RevisedEvent(r); ev.Type != Edit || ev.Message != "hey" {
		t.Fatalf("an earlier edit rewritten: %+v", ev)
	}
	r = r.With(del).With(edit("back", 3))
	got = msg.Revised(r)
	if !got.Deleted || got.Message != "" || got.Attachments != nil || got.EditedAt != nil || got.ID != "m" || got.Sender != "bob" {
		t.Fatalf("deleted, then edited: %+v, want a tombstone", got)
	}
	if ev := edit("hi", 1).RevisedEvent(r); ev.Type != Delete || ev.Message != "" {
		t.Fatalf("an edit of a deleted message: %+v, want a DELETE without text", ev)
	}
	if msg.Message != "hello" || len(msg.Attachments) != 1 {
		t.Fatal("folding changed the original")
	}
}

func TestInWindow(t *testing.T) {
	at := func(o int64) *int64 { return &o }
	for _, tc := range []struct {
		p      Post
		offset int64
		want   bool
	}{
		{Post{Ref: "m", RefOffset: at(10)}, 11, true},
		{Post{Ref: "m", RefOffset: at(10)}, 1010, true},
		{Post{Ref: "m", RefOffset: at(10)}, 1011, false},
		{Post{Ref: "m", RefOffset: at(10)}, 10, false}, // not above
		{Post{Ref: "m", RefOffset: at(-1)}, 5, false},
		{Post{Ref: "", RefOffset: at(1)}, 5, false},
		{Post{Ref: "m"}, 5, false},
	} {
		if got := tc.p.InWindow(tc.offset, 1000); got != tc.want {
			t.Errorf("%+v at %d: %v, want %v", tc.p, tc.offset, got, tc.want)
		}
	}
	if !Edit.IsRevision() || !Delete.IsRevision() || Talk.IsRevision() || Edit.ClientSendable() || Delete.ClientSendable() {
		t.Fatal("revision types")
	}
}
