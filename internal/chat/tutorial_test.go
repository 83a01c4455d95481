package chat

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"chatrelay/internal/roomlimit"
	"chatrelay/internal/rooms"
	"chatrelay/internal/router"
)

// tutorialSend dispatches body to /app/chat.send as a SEND through
// /pub/chat/message and returns the one message published, or the error.
func tutorialSend(t *testing.T, opts Options, c router.Context) (*ChatMessage, error) {
	t.Helper()
	r := router.New()
	Register(r, opts)
	fb := &fakeBroker{}
	c.Destination, c.Broker = "/app/chat.send", fb
	if c.Original == "" {
		c.Original = "/pub/chat/message"
	}
	if _, err := r.Dispatch(&c); err != nil {
		return nil, err
	}
	switch len(fb.got) {
	case 0:
		return nil, nil
	case 1:
		var m ChatMessage
		if err := json.Unmarshal(fb.got[0].body, &m); err != nil {
			t.Fatal(err)
		}
		return &m, nil
	}
	t.Fatalf("%d messages published, want at most 1", len(fb.got))
	return nil, nil
}

func TestTutorialSenderFromBody(t *testing.T) {
	on := Options{Tutorial: Tutorial{SenderFromBody: true}}
	body := []byte(`{"type":"TALK","roomId":"7","sender":"철수","message":"안녕"}`)
	tests := []struct {
		name      string
		opts      Options
		user      string
		anonymous bool
		body      []byte
		want      string
	}{
		{"anonymous session: the body names the user", on, "anon-1a2b", true, body, "철수"},
		{"a login wins over the body", on, "alice", false, body, "alice"},
		{"mode off: the generated name", Options{}, "anon-1a2b", true, body, "anon-1a2b"},
		{"no sender in the body: the generated name", on, "anon-1a2b", true, []byte(`{"roomId":"7","message":"hi"}`), "anon-1a2b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tutorialSend(t, tt.opts, router.Context{User: tt.user, Anonymous: tt.anonymous, Body: tt.body})
			if err != nil || m == nil {
				t.Fatalf("send: %v %v", m, err)
			}
			if m.Sender != tt.want {
				t.Fatalf("sender %q, want %q", m.Sender, tt.want)
			}
		})
	}
	// a sender that is no valid user name is refused, not replaced
	_, err := tutorialSend(t, on, router.Context{User: "anon-1", Anonymous: true,
		Body: []byte(`{"roomId":"7","sender":"two words","message":"hi"}`)})
	var rerr *router.Error
	if !errors.As(err, &rerr) || rerr.Code != CodeSender {
		t.Fatalf("invalid sender: %v, want code %s", err, CodeSender)
	}
}

func TestTutorialEnterIsThePresenceAnnouncement(t *testing.T) {
	var claims []string
	claim := func(follows bool) func(string, string) bool {
		return func(room, name string) bool {
			claims = append(claims, room+"/"+name)
			return follows
		}
	}
	enter := []byte(`{"type":"ENTER","roomId":"7","sender":"영희"}`)
	opts := Options{Tutorial: Tutorial{SenderFromBody: true, ClientPresence: true, Announces: true}}
	// following the room: claimed, and presence publishes the ENTER
	m, err := tutorialSend(t, opts, router.Context{User: "anon-1", Anonymous: true, Body: enter, Claim: claim(true)})
	if err != nil || m != nil {
		t.Fatalf("claimed ENTER: published %+v, %v; want nothing (presence announces it)", m, err)
	}
	if len(claims) != 1 || claims[0] != "7/영희" {
		t.Fatalf("claims %v", claims)
	}
	// not following it: published itself, with the server's text
	m, err = tutorialSend(t, opts, router.Context{User: "anon-1", Anonymous: true, Body: enter, Claim: claim(false)})
	if err != nil || m == nil || m.Type != Enter || m.Sender != "영희" || m.Message != "영희님이 입장하셨습니다." {
		t.Fatalf("unclaimed ENTER: %+v %v", m, err)
	}
	// presence publishes no ENTER messages: the claim names the user, the
	// ENTER is published
	quiet := opts
	quiet.Tutorial.Announces = false
	quiet.Language = LangEnglish
	m, err = tutorialSend(t, quiet, router.Context{User: "anon-1", Anonymous: true, Body: enter, Claim: claim(true)})
	if err != nil || m == nil || m.Message != "영희 entered the room." {
		t.Fatalf("ENTER without presence messages: %+v %v", m, err)
	}
	// a TALK claims nothing
	claims = nil
	talk := []byte(`{"type":"TALK","roomId":"7","sender":"영희","message":"hi"}`)
	if m, err := tutorialSend(t, opts, router.Context{User: "anon-1", Anonymous: true, Body: talk, Claim: claim(true)}); err != nil || m == nil || len(claims) != 0 {
		t.Fatalf("TALK: %+v %v, claims %v", m, err, claims)
	}
}

// creatingLookup knows the rooms created through its create.
type creatingLookup struct {
	known   map[string]bool
	refuse  error
	creator []rooms.Creator
}

func (l *creatingLookup) Get(id string) (rooms.Room, bool) { return rooms.Room{ID: id}, l.known[id] }

func (l *creatingLookup) Open(context.Context, string) error { return nil }

func (l *creatingLookup) create(_ context.Context, id string, by rooms.Creator) (rooms.Room, error) {
	if l.refuse != nil {
		return rooms.Room{}, l.refuse
	}
	l.creator = append(l.creator, by)
	l.known[id] = true
	return rooms.Room{ID: id, Name: id}, nil
}

func TestTutorialSendCreatesUnknownRooms(t *testing.T) {
	l := &creatingLookup{known: map[string]bool{}}
	opts := Options{Rooms: l, Tutorial: Tutorial{CreateRoom: l.create}}
	body := []byte(`{"type":"TALK","roomId":"1","message":"hi"}`)
	// the canonical destination never creates
	_, err := tutorialSend(t, opts, router.Context{User: "anon-1", Anonymous: true, Body: body, Original: "/app/chat.send"})
	var rerr *router.Error
	if !errors.As(err, &rerr) || rerr.Code != router.CodeNotFound || len(l.creator) != 0 {
		t.Fatalf("canonical SEND to an unknown room: %v, created %v", err, l.creator)
	}
	m, err := tutorialSend(t, opts, router.Context{User: "anon-1", Anonymous: true, Remote: "10.0.0.1:5000", Body: body})
	if err != nil || m == nil || m.RoomID != "1" {
		t.Fatalf("aliased SEND: %+v %v", m, err)
	}
	if len(l.creator) != 1 || l.creator[0] != (rooms.Creator{User: "anon-1", Anonymous: true, Remote: "10.0.0.1:5000"}) {
		t.Fatalf("created by %+v", l.creator)
	}
	// over a creation limit: the limiter's code, key and message
	l.refuse = &roomlimit.Refusal{Code: roomlimit.CodeQuota, Key: roomlimit.KeyAddressQuota, Message: "this address owns 10 rooms"}
	_, err = tutorialSend(t, opts, router.Context{User: "anon-1", Anonymous: true,
		Body: []byte(`{"type":"TALK","roomId":"2","message":"hi"}`)})
	if !errors.As(err, &rerr) || rerr.Code != roomlimit.CodeQuota || !strings.Contains(rerr.Message, roomlimit.KeyAddressQuota) {
		t.Fatalf("refused creation: %v", err)
	}
	// without CreateRoom an alias does not create either
	_, err = tutorialSend(t, Options{Rooms: l}, router.Context{User: "anon-1", Body: []byte(`{"roomId":"3","message":"hi"}`)})
	if !errors.As(err, &rerr) || rerr.Code != router.CodeNotFound {
		t.Fatalf("no CreateRoom: %v", err)
	}
}

func TestSystemText(t *testing.T) {
	tests := []struct {
		kind       MessageType
		user, lang string
		want       string
	}{
		{Enter, "x", LangKorean, "x님이 입장하셨습니다."},
		{Leave, "x", LangKorean, "x님이 퇴장하셨습니다."},
		{Enter, "x", LangEnglish, "x entered the room."},
		{Leave, "x", LangEnglish, "x left the room."},
		{Enter, "x", "fr", "x님이 입장하셨습니다."},
		{Talk, "x", LangKorean, ""},
	}
	for _, tt := range tests {
		if got := SystemText(tt.kind, tt.user, tt.lang); got != tt.want {
			t.Errorf("SystemText(%s, %s, %s) = %q, want %q", tt.kind, tt.user, tt.lang, got, tt.want)
		}
	}
	for _, l := range SystemLanguages {
		if !KnownLanguage(l) {
			t.Errorf("%s listed but unknown", l)
		}
	}
}
