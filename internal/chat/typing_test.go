package chat

import (
	"context"
	"errors"
	"strings"
	"testing"

	"chatrelay/internal/router"
	"chatrelay/internal/typing"
)

// typingRouter registers the typing handler over privateLookup's one
// private room, "club" (owner ann, member bob).
func typingRouter() *router.Router {
	r := router.New()
	RegisterTyping(r, Typing{Rooms: privateLookup{}, Tracker: typing.NewTracker(typing.Options{MaxRoomsPerUser: 1})})
	return r
}

// signalAs dispatches one typing signal.
func signalAs(r *router.Router, b *fakeBroker, user, room, body string, subscribe bool) error {
	_, err := r.Dispatch(&router.Context{Context: context.Background(), User: user, Destination: "/app/rooms/" + room + "/typing",
		Body: []byte(body), Subscribe: subscribe, Broker: b})
	return err
}

// TestTypingSignals: a member's signal is published to the room's typing
// topic, never to the room; every refusal says why and publishes nothing.
func TestTypingSignals(t *testing.T) {
	r := typingRouter()
	b := &fakeBroker{}
	if err := signalAs(r, b, "bob", "club", "", false); err != nil {
		t.Fatal(err)
	}
	if len(b.got) != 1 || b.got[0].dest != "/topic/room.club.typing" || !strings.Contains(string(b.got[0].body), `"sender":"bob","typing":true`) {
		t.Fatalf("published %+v, want bob's start on /topic/room.club.typing", b.got)
	}
	if err := signalAs(r, b, "bob", "club", `{"typing":false}`, false); err != nil || len(b.got) != 2 || !strings.Contains(string(b.got[1].body), `"typing":false`) {
		t.Fatalf("stop: %v, published %+v", err, b.got)
	}
	for _, tt := range []struct {
		name, user, room, body string
		subscribe              bool
		code, want             string
	}{
		{"anonymous", "", "club", "", false, router.CodeForbidden, "sign in"},
		{"not a member", "mallory", "club", "", false, router.CodeForbidden, "private"},
		{"unknown room", "bob", "nope", "", false, router.CodeNotFound, "does not exist"},
		{"subscribe", "bob", "club", "", true, router.CodeBadRequest, "SEND frames only"},
		{"not JSON", "bob", "club", "typing", false, router.CodeBadRequest, "body must be"},
		{"no typing field", "bob", "club", `{"x":1}`, false, router.CodeBadRequest, "body must be"},
		{"too long", "bob", "club", `{"typing":true,"pad":"` + strings.Repeat("x", 300) + `"}`, false, router.CodeBadRequest, "at most"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := &fakeBroker{}
			err := signalAs(r, b, tt.user, tt.room, tt.body, tt.subscribe)
			var rerr *router.Error
			if !errors.As(err, &rerr) || rerr.Code != tt.code || !strings.Contains(rerr.Message, tt.want) {
				t.Fatalf("got %v, want %s containing %q", err, tt.code, tt.want)
			}
			if len(b.got) != 0 {
				t.Fatalf("published %+v", b.got)
			}
		})
	}
}

// TestTypingLimits: the tracker's bounds come back as rate_limited, and a
// broker that refuses the publish is the sender's error.
func TestTypingLimits(t *testing.T) {
	r := router.New()
	RegisterTyping(r, Typing{Rooms: lookup{"a": true, "b": true}, Tracker: typing.NewTracker(typing.Options{MaxRoomsPerUser: 1})})
	b := &fakeBroker{}
	if err := signalAs(r, b, "ann", "a", "", false); err != nil {
		t.Fatal(err)
	}
	err := signalAs(r, b, "ann", "b", "", false)
	var rerr *router.Error
	if !errors.As(err, &rerr) || rerr.Code != "rate_limited" {
		t.Fatalf("a second room at once: %v, want rate_limited", err)
	}
	down := &fakeBroker{fail: errors.New("broker down")}
	if err := signalAs(r, down, "bob", "a", "", false); err == nil {
		t.Fatal("a refused publish was not the sender's error")
	}
}
