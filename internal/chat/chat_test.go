package chat

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/rooms"
	"chatrelay/internal/router"
	"chatrelay/internal/stomp"
)

// published is one call to the fake publisher.
type published struct {
	dest    string
	headers stomp.Headers
	body    []byte
}

// fakeBroker records publications.
type fakeBroker struct {
	mu   sync.Mutex
	got  []published
	fail error
}

func (f *fakeBroker) Publish(dest string, h stomp.Headers, body []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.got = append(f.got, published{dest, h, body})
	return nil
}

func (f *fakeBroker) PublishToUser(user, queue string, h stomp.Headers, body []byte) error {
	return errors.New("unexpected PublishToUser")
}

var fixedNow = time.Date(2024, 5, 1, 12, 30, 45, 123456789, time.FixedZone("KST", 9*3600))

// newRouter registers the chat handlers with fixed time and ids.
func newRouter(max int) *router.Router {
	r := router.New()
	Register(r, Options{
		Now:             func() time.Time { return fixedNow },
		NewID:           func() string { return "id-1" },
		MaxMessageBytes: max,
	})
	return r
}

func TestSendPublishes(t *testing.T) {
	tests := []struct {
		name string
		body string
		want ChatMessage
	}{
		{"talk", `{"roomId":"7","type":"TALK","message":"hi"}`,
			ChatMessage{RoomID: "7", Type: Talk, Message: "hi"}},
		{"type defaults to talk", `{"roomId":"lobby","message":"hi"}`,
			ChatMessage{RoomID: "lobby", Type: Talk, Message: "hi"}},
		{"seed sender ignored", `{"roomId":"7","type":"ENTER","sender":"admin","message":""}`,
			ChatMessage{RoomID: "7", Type: Enter, Message: "alice님이 입장하셨습니다."}},
		{"leave", `{"roomId":"a_b-C","type":"LEAVE"}`,
			ChatMessage{RoomID: "a_b-C", Type: Leave, Message: "alice님이 퇴장하셨습니다."}},
		{"enter with its own text", `{"roomId":"7","type":"ENTER","message":"hi all"}`,
			ChatMessage{RoomID: "7", Type: Enter, Message: "hi all"}},
		{"numeric room", `{"roomId":42,"message":"hi"}`,
			ChatMessage{RoomID: "42", Type: Talk, Message: "hi"}},
		{"float room", `{"roomId":42.0,"message":"hi"}`,
			ChatMessage{RoomID: "42", Type: Talk, Message: "hi"}},
		{"exponent room", `{"roomId":1e3,"message":"hi"}`,
			ChatMessage{RoomID: "1000", Type: Talk, Message: "hi"}},
		{"unicode text", `{"roomId":"7","message":"안녕하세요"}`,
			ChatMessage{RoomID: "7", Type: Talk, Message: "안녕하세요"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fb := &fakeBroker{}
			reply, err := newRouter(0).Dispatch(&router.Context{
				User: "alice", Destination: "/app/chat.send", Body: []byte(tt.body), Broker: fb,
			})
			if err != nil || reply != nil {
				t.Fatalf("Dispatch = %v, %v", reply, err)
			}
			if len(fb.got) != 1 {
				t.Fatalf("%d publications, want 1", len(fb.got))
			}
			p := fb.got[0]
			if want := "/topic/room." + tt.want.RoomID; p.dest != want {
				t.Errorf("published to %q, want %q", p.dest, want)
			}
			if ct := p.headers.Value("content-type"); ct != "application/json" {
				t.Errorf("content-type %q", ct)
			}
			var raw map[string]any
			if err := json.Unmarshal(p.body, &raw); err != nil {
				t.Fatal(err)
			}
			if raw["sentAt"] != "2024-05-01T03:30:45.123456789Z" {
				t.Errorf("sentAt %v", raw["sentAt"])
			}
			var got ChatMessage
			if err := json.Unmarshal(p.body, &got); err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.ID, want.Sender, want.SentAt = "id-1", "alice", fixedNow.UTC()
			if !reflect.DeepEqual(got, want) {
				t.Errorf("message %+v, want %+v", got, want)
			}
		})
	}
}

func TestSendRejects(t *testing.T) {
	tests := []struct {
		name, user, body string
		subscribe        bool
		max              int
		code             string
	}{
		{"malformed", "alice", `{"roomId":`, false, 0, router.CodeBadRequest},
		{"not an object", "alice", `"hi"`, false, 0, router.CodeBadRequest},
		{"empty body", "alice", ``, false, 0, router.CodeBadRequest},
		{"trailing garbage", "alice", `{"roomId":"7","message":"x"} x`, false, 0, router.CodeBadRequest},
		{"missing room", "alice", `{"message":"hi"}`, false, 0, router.CodeBadRequest},
		{"null room", "alice", `{"roomId":null,"message":"hi"}`, false, 0, router.CodeBadRequest},
		{"empty room", "alice", `{"roomId":"","message":"hi"}`, false, 0, router.CodeBadRequest},
		{"routing key steering", "alice", `{"roomId":"7.#","message":"hi"}`, false, 0, router.CodeBadRequest},
		{"slash room", "alice", `{"roomId":"7/x","message":"hi"}`, false, 0, router.CodeBadRequest},
		{"long room", "alice", `{"roomId":"` + strings.Repeat("a", 65) + `","message":"hi"}`, false, 0, router.CodeBadRequest},
		{"fraction room", "alice", `{"roomId":1.5,"message":"hi"}`, false, 0, router.CodeBadRequest},
		{"bool room", "alice", `{"roomId":true,"message":"hi"}`, false, 0, router.CodeBadRequest},
		{"system type", "alice", `{"roomId":"7","type":"SYSTEM","message":"hi"}`, false, 0, router.CodeBadRequest},
		{"unknown type", "alice", `{"roomId":"7","type":"talk","message":"hi"}`, false, 0, router.CodeBadRequest},
		{"empty talk", "alice", `{"roomId":"7","message":"  "}`, false, 0, router.CodeBadRequest},
		{"too long", "alice", `{"roomId":"7","message":"12345"}`, false, 4, router.CodeBadRequest},
		{"subscribe", "alice", ``, true, 0, router.CodeBadRequest},
		{"anonymous", "", `{"roomId":"7","message":"hi"}`, false, 0, router.CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fb := &fakeBroker{}
			_, err := newRouter(tt.max).Dispatch(&router.Context{
				User: tt.user, Destination: "/app/chat.send", Body: []byte(tt.body), Broker: fb, Subscribe: tt.subscribe,
			})
			var e *router.Error
			if !errors.As(err, &e) || e.Code != tt.code {
				t.Fatalf("err = %v, want code %s", err, tt.code)
			}
			if len(fb.got) != 0 {
				t.Errorf("published %d messages on error", len(fb.got))
			}
		})
	}
}

func TestSendPublishError(t *testing.T) {
	fb := &fakeBroker{fail: errors.New("broker down")}
	_, err := newRouter(0).Dispatch(&router.Context{
		User: "alice", Destination: "/app/chat.send", Body: []byte(`{"roomId":"7","message":"hi"}`), Broker: fb,
	})
	if err == nil || !errors.Is(err, fb.fail) {
		t.Fatalf("err = %v, want wrapped broker error", err)
	}
	var body map[string]string
	if err := json.Unmarshal(router.ErrorBody("/app/chat.send", err), &body); err != nil {
		t.Fatal(err)
	}
	if body["code"] != router.CodeInternal || body["message"] != "internal error" {
		t.Errorf("error body %v leaks or misclassifies", body)
	}
}

func TestDefaultOptions(t *testing.T) {
	o := Options{}.withDefaults()
	if o.MaxMessageBytes != rooms.DefaultMaxMessageBytes || o.Now == nil || o.NewID == nil {
		t.Fatalf("defaults not applied: %+v", o)
	}
	if a, b := o.NewID(), o.NewID(); a == b || len(a) != 36 {
		t.Errorf("NewID gave %q, %q", a, b)
	}
}

func TestMessageTypes(t *testing.T) {
	for typ, ok := range map[MessageType]bool{Talk: true, Enter: true, Leave: true, System: false, "": false} {
		if got := typ.ClientSendable(); got != ok {
			t.Errorf("%q.ClientSendable() = %v, want %v", typ, got, ok)
		}
	}
}

// lookup is a RoomLookup knowing a fixed set of rooms.
type lookup map[string]bool

func (l lookup) Get(id string) (rooms.Room, bool) { return rooms.Room{ID: id}, l[id] }

func (l lookup) Open(_ context.Context, id string) error {
	if !l[id] {
		return rooms.ErrNotFound
	}
	return nil
}

// openingLookup knows one room, "lazy", and fails to open it while
// refuse is set; it records the Open calls.
type openingLookup struct {
	refuse error
	opened []string
}

func (l *openingLookup) Get(id string) (rooms.Room, bool) { return rooms.Room{ID: id}, id == "lazy" }

func (l *openingLookup) Open(_ context.Context, id string) error {
	l.opened = append(l.opened, id)
	return l.refuse
}

// TestSendOpensTheRoomFirst: chat.send readies the room (its stream, in
// RabbitMQ mode) before it publishes; a room that cannot be opened gets
// an error and no publish, and a later send goes through.
func TestSendOpensTheRoomFirst(t *testing.T) {
	r := router.New()
	l := &openingLookup{refuse: errors.New("declare stream: connection refused")}
	Register(r, Options{Rooms: l})
	b := &fakeBroker{}
	send := func() error {
		_, err := r.Dispatch(&router.Context{Context: context.Background(), User: "u", Destination: "/app/chat.send", Body: []byte(`{"roomId":"lazy","message":"hi"}`), Broker: b})
		return err
	}
	if err := send(); err == nil || !strings.Contains(err.Error(), "open room lazy") {
		t.Fatalf("send into a room that cannot be opened: %v", err)
	}
	if len(b.got) != 0 {
		t.Fatalf("published %d messages into a room not opened", len(b.got))
	}
	l.refuse = nil
	if err := send(); err != nil {
		t.Fatalf("send once the room opens: %v", err)
	}
	if len(b.got) != 1 || b.got[0].dest != "/topic/room.lazy" || len(l.opened) != 2 {
		t.Fatalf("published %v after opens %v; want one publish after the second open", b.got, l.opened)
	}
}

func TestSendRefusesUnknownRooms(t *testing.T) {
	r := router.New()
	Register(r, Options{Rooms: lookup{"known": true}})
	b := &fakeBroker{}
	_, err := r.Dispatch(&router.Context{Context: context.Background(), User: "u", Destination: "/app/chat.send", Body: []byte(`{"roomId":"nope","message":"hi"}`), Broker: b})
	var rerr *router.Error
	if !errors.As(err, &rerr) || rerr.Code != router.CodeNotFound {
		t.Fatalf("unknown room: %v", err)
	}
	if _, err := r.Dispatch(&router.Context{Context: context.Background(), User: "u", Destination: "/app/chat.send", Body: []byte(`{"roomId":"known","message":"hi"}`), Broker: b}); err != nil {
		t.Fatalf("known room: %v", err)
	}
}

// privateLookup knows one private room, "club", owned by ann with member
// bob.
type privateLookup struct{}

func (privateLookup) Get(id string) (rooms.Room, bool) {
	return rooms.Room{ID: id, CreatedBy: "ann", Private: true, Members: []string{"bob"}}, id == "club"
}

func (privateLookup) Open(context.Context, string) error { return nil }

func TestSendRefusesNonMembersOfPrivateRooms(t *testing.T) {
	r := router.New()
	Register(r, Options{Rooms: privateLookup{}})
	for user, allowed := range map[string]bool{"ann": true, "bob": true, "mallory": false} {
		b := &fakeBroker{}
		_, err := r.Dispatch(&router.Context{Context: context.Background(), User: user, Destination: "/app/chat.send", Body: []byte(`{"roomId":"club","message":"hi"}`), Broker: b})
		var rerr *router.Error
		switch {
		case allowed && err != nil:
			t.Errorf("%s, a member: %v", user, err)
		case !allowed && (!errors.As(err, &rerr) || rerr.Code != router.CodeForbidden):
			t.Errorf("%s, not a member: %v, want a forbidden error", user, err)
		case !allowed && len(b.got) != 0:
			t.Errorf("%s, not a member: published %d messages", user, len(b.got))
		}
	}
}
