package rabbitstore

import (
	"errors"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/rooms"
	"chatrelay/internal/testkit"
)

func TestSlug(t *testing.T) {
	for name, want := range map[string]string{
		"general":                        "general",
		"General Chat":                   "general-chat",
		"채팅방":                            "chaetingbang",
		"일반 대화":                          "ilban-daehwa",
		"Café Münster!":                  "cafe-munster",
		"  --a--b  ":                     "a-b",
		"Room 42 / 채팅":                   "room-42-chaeting",
		"日本語":                            "",
		"!!!":                            "",
		strings.Repeat("a", 100):         strings.Repeat("a", maxSlugBytes),
		strings.Repeat("abcdefghi ", 10): "abcdefghi-abcdefghi-abcdefghi-abcdefghi",
	} {
		got := slugOf(name)
		if got != want {
			t.Errorf("slugOf(%q) = %q, want %q", name, got, want)
		}
		if len(got) > maxSlugBytes || !validStream("abc", "room."+got+".abc") && got != "" {
			t.Errorf("slugOf(%q) = %q: not a valid stream slug", name, got)
		}
	}
}

func TestValidStream(t *testing.T) {
	for stream, want := range map[string]bool{
		"room.abc":               true,
		"room.general.abc":       true,
		"room.chaeting-bang.abc": true,
		"room..abc":              false,
		"room.General.abc":       false, // slugs are lower-case
		"room.a.b.abc":           false, // a dot in the slug
		"room.general.abd":       false, // another room's id
		"chatrelay.rooms":        false, // the registry
		"room.채팅방.abc":           false,
		"room." + strings.Repeat("a", maxSlugBytes+1) + ".abc": false,
		"queue.general.abc": false,
	} {
		if got := validStream("abc", stream); got != want {
			t.Errorf("validStream(abc, %q) = %v, want %v", stream, got, want)
		}
	}
}

// TestStreamCarriesRoomName creates rooms named in English and Korean:
// the management API lists each stream under a name with the room's slug
// and shows the exact name and id among its arguments; messages sent to
// the room's topic land in it and come back as history on another
// replica; deleting the room deletes it.
func TestStreamCarriesRoomName(t *testing.T) {
	n := rabbittest.Require(t, node)
	a, b := newReplica(t, n, nil), newReplica(t, n, nil)
	nonce := newNonce()[:6]
	for _, tc := range []struct{ name, slug string }{
		{"general " + nonce, "general-" + nonce},
		{"채팅방 " + nonce, "chaetingbang-" + nonce},
	} {
		room, err := a.s.Create(testCtx(t), rooms.Spec{Name: tc.name, CreatedBy: "ann"})
		if err != nil {
			t.Fatal(err)
		}
		if want := "room." + tc.slug + "." + room.ID; room.Stream != want {
			t.Fatalf("room %q has stream %q, want %q", tc.name, room.Stream, want)
		}
		testkit.Eventually(t, 5*time.Second, "the room on the other replica", func() bool {
			got, ok := b.s.Get(room.ID)
			return ok && got.Stream == room.Stream
		})
		if err := a.s.Open(testCtx(t), room.ID); err != nil {
			t.Fatal(err)
		}
		args := queueArgs(t, n, room.Stream)
		if args[roomNameArg] != tc.name || args[roomIDArg] != room.ID || args["x-queue-type"] != "stream" {
			t.Fatalf("stream %s arguments %v", room.Stream, args)
		}
		for i := 1; i <= 3; i++ {
			a.send(t, room.ID, i)
		}
		var got []rooms.Message
		testkit.Eventually(t, 10*time.Second, "the history on the other replica", func() bool {
			got, err = b.s.History(testCtx(t), room.ID, -1, 10)
			return err == nil && len(got) == 3
		})
		if nums := nums(got); nums[0] != 3 || nums[2] != 1 {
			t.Fatalf("history %v", nums)
		}
		if err := b.s.Delete(testCtx(t), room.ID); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 5*time.Second, "the stream's deletion", func() bool {
			ok, err := streamExists(n, room.Stream)
			return err == nil && !ok
		})
	}
}

// TestRoomBeforeStreamNamesKeepsItsStream replays a created event as the
// previous version wrote it (no stream name) for a room whose stream is
// room.<id>: the room uses that stream for history and live messages, and
// Delete deletes it.
func TestRoomBeforeStreamNamesKeepsItsStream(t *testing.T) {
	n := rabbittest.Require(t, node)
	a, b := newReplica(t, n, nil), newReplica(t, n, nil)
	old := rooms.Room{ID: rooms.NewID(), Name: roomName(t), CreatedBy: "ann", CreatedAt: time.Now().UTC()}
	legacy := rooms.StreamName(old.ID)
	if err := a.s.amqp.declareStream(legacy, streamArgs("1D", 0, 0), legacy); err != nil {
		t.Fatal(err)
	}
	if err := a.s.record(testCtx(t), event{Event: eventCreated, Room: old, At: old.CreatedAt, ID: newNonce()}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the old room on the other replica", func() bool {
		got, ok := b.s.Get(old.ID)
		return ok && got.Stream == legacy
	})
	f := newFollower()
	stop, err := b.s.Follow(testCtx(t), old.ID, rooms.Live, f.deliver)
	if err != nil {
		t.Fatal(err)
	}
	a.send(t, old.ID, 1)
	a.send(t, old.ID, 2)
	if got := nums(f.wait(t, 2)); got[0] != 1 || got[1] != 2 {
		t.Fatalf("followed %v", got)
	}
	stop()
	if h, err := a.s.History(testCtx(t), old.ID, -1, 10); err != nil || len(h) != 2 {
		t.Fatalf("history %v %v", h, err)
	}
	if err := a.s.Delete(testCtx(t), old.ID); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the old stream's deletion", func() bool {
		ok, err := streamExists(n, legacy)
		return err == nil && !ok
	})
}

// TestCreatedEventNamingAnotherQueueRefused publishes created events
// whose stream is not the room's: every replica refuses them, so that
// deleting such a room can never delete the registry or another queue.
func TestCreatedEventNamingAnotherQueueRefused(t *testing.T) {
	n := rabbittest.Require(t, node)
	a, b := newReplica(t, n, nil), newReplica(t, n, nil)
	for _, stream := range []string{RegistryStream, "room.other.abcdefgh", "room.Bad.x"} {
		room := rooms.Room{ID: rooms.NewID(), Name: roomName(t), CreatedBy: "mallory", CreatedAt: time.Now().UTC()}
		err := a.s.record(testCtx(t), event{Event: eventCreated, Room: room, At: room.CreatedAt, ID: newNonce(), Stream: stream})
		if !errors.Is(err, rooms.ErrInvalid) {
			t.Fatalf("created event naming %s: %v, want ErrInvalid", stream, err)
		}
		if _, ok := b.s.Get(room.ID); ok {
			t.Fatalf("room naming %s applied on the other replica", stream)
		}
	}
	if ok, err := streamExists(n, RegistryStream); !ok || err != nil {
		t.Fatalf("registry stream exists: %v %v", ok, err)
	}
}

// TestIDStreamNames is the rolling-upgrade setting: new rooms keep the
// stream room.<id> that older replicas look for, with the room's name
// among its arguments, and replicas with named streams use it too.
func TestIDStreamNames(t *testing.T) {
	n := rabbittest.Require(t, node)
	a := newReplica(t, n, func(o *Options) { o.IDStreamNames = true })
	b := newReplica(t, n, nil)
	name := "채팅방 " + newNonce()[:6]
	room, err := a.s.Create(testCtx(t), rooms.Spec{Name: name, CreatedBy: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if room.Stream != rooms.StreamName(room.ID) {
		t.Fatalf("stream %q, want %q", room.Stream, rooms.StreamName(room.ID))
	}
	if err := a.s.Open(testCtx(t), room.ID); err != nil {
		t.Fatal(err)
	}
	if args := queueArgs(t, n, room.Stream); args[roomNameArg] != name || args[roomIDArg] != room.ID {
		t.Fatalf("stream arguments %v", args)
	}
	testkit.Eventually(t, 5*time.Second, "the room on the other replica", func() bool {
		got, ok := b.s.Get(room.ID)
		return ok && got.Stream == room.Stream
	})
	a.send(t, room.ID, 1)
	testkit.Eventually(t, 10*time.Second, "the message in the history on the other replica", func() bool {
		h, err := b.s.History(testCtx(t), room.ID, -1, 10)
		return err == nil && len(h) == 1
	})
	if err := b.s.Delete(testCtx(t), room.ID); err != nil {
		t.Fatal(err)
	}
}
