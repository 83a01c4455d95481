package httpapi

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/destination"
)

const bearer = "Bearer " + testKey

func TestPushToRoom(t *testing.T) {
	tests := []struct {
		name, path, body, auth string
		status                 int
		want                   map[string]any // the published message
		wantError              string
	}{
		{"defaults", "/api/rooms/1/messages", `{"message":"maintenance at 9"}`, bearer, 202,
			map[string]any{"type": "SYSTEM", "sender": "system", "message": "maintenance at 9"}, ""},
		{"all fields", "/api/rooms/1/messages", `{"message":"hi","type":"TALK","sender":"notice-bot"}`, bearer, 202,
			map[string]any{"type": "TALK", "sender": "notice-bot", "message": "hi"}, ""},
		{"enter without text", "/api/rooms/1/messages", `{"type":"ENTER","sender":"alice"}`, bearer, 202,
			map[string]any{"type": "ENTER", "sender": "alice", "message": ""}, ""},
		{"scheme case-insensitive", "/api/rooms/1/messages", `{"message":"x"}`, "bearer " + testKey, 202,
			map[string]any{"type": "SYSTEM", "sender": "system", "message": "x"}, ""},
		{"max length", "/api/rooms/1/messages", `{"message":"` + strings.Repeat("x", 4096) + `"}`, bearer, 202,
			map[string]any{"type": "SYSTEM", "sender": "system", "message": strings.Repeat("x", 4096)}, ""},
		{"no key", "/api/rooms/1/messages", `{"message":"x"}`, "", 401, nil, "missing or wrong API key"},
		{"wrong key", "/api/rooms/1/messages", `{"message":"x"}`, "Bearer s3cret-kez", 401, nil, "missing or wrong API key"},
		{"key prefix", "/api/rooms/1/messages", `{"message":"x"}`, "Bearer s3cret", 401, nil, "missing or wrong API key"},
		{"basic scheme", "/api/rooms/1/messages", `{"message":"x"}`, "Basic " + testKey, 401, nil, "missing or wrong API key"},
		{"bare key", "/api/rooms/1/messages", `{"message":"x"}`, testKey, 401, nil, "missing or wrong API key"},
		{"unknown room", "/api/rooms/99/messages", `{"message":"x"}`, bearer, 404, nil, "room not found"},
		{"invalid room", "/api/rooms/a.%23/messages", `{"message":"x"}`, bearer, 404, nil, "room not found"},
		{"missing message", "/api/rooms/1/messages", `{"type":"SYSTEM"}`, bearer, 400, nil, "message is required"},
		{"blank message", "/api/rooms/1/messages", `{"message":"  "}`, bearer, 400, nil, "message needs text"},
		{"too long", "/api/rooms/1/messages", `{"message":"` + strings.Repeat("x", 4097) + `"}`, bearer, 400, nil, "message is longer than 4096 bytes"},
		{"bad type", "/api/rooms/1/messages", `{"message":"x","type":"talk"}`, bearer, 400, nil, "type must be TALK, ENTER, LEAVE or SYSTEM"},
		{"bad sender", "/api/rooms/1/messages", `{"message":"x","sender":"a b"}`, bearer, 400, nil, "sender must be 1 to 64 letters, digits or ._@+~-"},
		{"invalid JSON", "/api/rooms/1/messages", `{"message":`, bearer, 400, nil, "body is not valid JSON"},
		{"message not a string", "/api/rooms/1/messages", `{"message":5}`, bearer, 400, nil, "message has the wrong type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(nil)
			e.store.addRoom(t, "lobby", 0)
			a := e.do(t, "POST", tt.path, tt.body, tt.auth)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.raw)
			}
			pubs := e.pub.publications()
			if tt.status != 202 {
				if a.field("error") != tt.wantError {
					t.Errorf("error %v, want %q", a.field("error"), tt.wantError)
				}
				if tt.status == 401 && a.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				if len(pubs) != 0 {
					t.Errorf("published %d messages on error", len(pubs))
				}
				return
			}
			if !reflect.DeepEqual(a.json, map[string]any{"id": "msg-1"}) {
				t.Errorf("answer %v", a.json)
			}
			if e.store.opens != 1 {
				t.Errorf("the room was opened %d times before the push, want 1", e.store.opens)
			}
			if len(pubs) != 1 {
				t.Fatalf("%d publications, want 1", len(pubs))
			}
			p := pubs[0]
			if p.dest != "/topic/room.1" || p.headers.Value("content-type") != "application/json" {
				t.Errorf("published to %q as %q", p.dest, p.headers.Value("content-type"))
			}
			var got map[string]any
			if err := json.Unmarshal(p.body, &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"id": "msg-1", "roomId": "1", "sentAt": "2024-05-01T03:00:00.000000007Z"}
			for k, v := range tt.want {
				want[k] = v
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("published %v, want %v (keys %v)", got, want, sortedKeys(got))
			}
		})
	}
}

// TestPushRoomNotOpened: a room whose store cannot ready it for messages
// (its stream cannot be declared) gets no push: 503 and nothing
// published, and the next push, once it can, goes through.
func TestPushRoomNotOpened(t *testing.T) {
	e := newEnv(nil)
	e.store.addRoom(t, "lobby", 0)
	e.store.openErr = errors.New("declare stream: connection refused")
	a := e.do(t, "POST", "/api/rooms/1/messages", `{"message":"x"}`, "Bearer "+testKey)
	if a.status != 503 || a.field("error") != "the room could not be readied for messages" {
		t.Fatalf("status %d, error %v; want 503", a.status, a.field("error"))
	}
	if pubs := e.pub.publications(); len(pubs) != 0 {
		t.Fatalf("published %d messages into a room not opened", len(pubs))
	}
	e.store.mu.Lock()
	e.store.openErr = nil
	e.store.mu.Unlock()
	if a := e.do(t, "POST", "/api/rooms/1/messages", `{"message":"x"}`, "Bearer "+testKey); a.status != 202 {
		t.Fatalf("status %d after the store recovered, want 202: %s", a.status, a.raw)
	}
}

func TestPushToUser(t *testing.T) {
	tests := []struct {
		name, path, body, auth string
		status                 int
		dest                   string
		want                   map[string]any
		wantError              string
	}{
		{"default sender", "/api/users/bob/messages", `{"message":"your order shipped"}`, bearer, 202,
			destination.UserTopic("bob", "messages"),
			map[string]any{"from": "system", "to": "bob", "message": "your order shipped"}, ""},
		{"named sender", "/api/users/bob/messages", `{"message":"hi","sender":"shop"}`, bearer, 202,
			destination.UserTopic("bob", "messages"), map[string]any{"from": "shop", "to": "bob", "message": "hi"}, ""},
		{"escaped unicode name", "/api/users/%EA%B9%80.x@y/messages", `{"message":"hi"}`, bearer, 202,
			destination.UserTopic("김.x@y", "messages"), map[string]any{"from": "system", "to": "김.x@y", "message": "hi"}, ""},
		{"no key", "/api/users/bob/messages", `{"message":"x"}`, "", 401, "", nil, "missing or wrong API key"},
		{"wrong key", "/api/users/bob/messages", `{"message":"x"}`, "Bearer x", 401, "", nil, "missing or wrong API key"},
		{"name with space", "/api/users/b%20b/messages", `{"message":"x"}`, bearer, 400, "", nil, "user name must be 1 to 64 letters, digits or ._@+~-"},
		{"name with slash", "/api/users/a%2Fb/messages", `{"message":"x"}`, bearer, 400, "", nil, "user name must be 1 to 64 letters, digits or ._@+~-"},
		{"name too long", "/api/users/" + strings.Repeat("b", 65) + "/messages", `{"message":"x"}`, bearer, 400, "", nil, "user name must be 1 to 64 letters, digits or ._@+~-"},
		{"missing message", "/api/users/bob/messages", `{}`, bearer, 400, "", nil, "message is required"},
		{"blank message", "/api/users/bob/messages", `{"message":""}`, bearer, 400, "", nil, "message needs text"},
		{"bad sender", "/api/users/bob/messages", `{"message":"x","sender":"*"}`, bearer, 400, "", nil, "sender must be 1 to 64 letters, digits or ._@+~-"},
		{"empty body", "/api/users/bob/messages", ``, bearer, 400, "", nil, "body is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(nil)
			a := e.do(t, "POST", tt.path, tt.body, tt.auth)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.raw)
			}
			pubs := e.pub.publications()
			if tt.status != 202 {
				if a.field("error") != tt.wantError {
					t.Errorf("error %v, want %q", a.field("error"), tt.wantError)
				}
				if len(pubs) != 0 {
					t.Errorf("published %d messages on error", len(pubs))
				}
				return
			}
			if len(pubs) != 1 || pubs[0].dest != tt.dest || pubs[0].headers.Value("content-type") != "application/json" {
				t.Fatalf("publications %+v, want one to %s", pubs, tt.dest)
			}
			var got map[string]any
			if err := json.Unmarshal(pubs[0].body, &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"id": "msg-1", "sentAt": "2024-05-01T03:00:00.000000007Z"}
			for k, v := range tt.want {
				want[k] = v
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("published %v, want %v", got, want)
			}
		})
	}
}

func TestPushBrokerVerdicts(t *testing.T) {
	tests := []struct {
		name      string
		pub       *fakePublisher
		noPub     bool
		status    int
		wantError string
	}{
		{"accepted later", &fakePublisher{async: true}, false, 202, ""},
		{"refused at once", &fakePublisher{refuse: errors.New("outbox full")}, false, 503, "the broker did not accept the message"},
		{"rejected", &fakePublisher{reject: errors.New("closed")}, false, 503, "the broker did not accept the message"},
		{"rejected later", &fakePublisher{reject: errors.New("closed"), async: true}, false, 503, "the broker did not accept the message"},
		{"no verdict in time", &fakePublisher{silent: true}, false, 504, "the broker did not confirm the message in time"},
		{"no publisher", nil, true, 503, "server push is unavailable"},
	}
	for _, tt := range tests {
		for _, path := range []string{"/api/rooms/1/messages", "/api/users/bob/messages"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				e := newEnv(func(o *Options) {
					o.Publisher = tt.pub
					if tt.noPub {
						o.Publisher = nil
					}
					o.PublishTimeout = 50 * time.Millisecond
				})
				e.store.addRoom(t, "lobby", 0)
				a := e.do(t, "POST", path, `{"message":"x"}`, bearer)
				if a.status != tt.status {
					t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.raw)
				}
				if tt.status != 202 && a.field("error") != tt.wantError {
					t.Errorf("error %v, want %q", a.field("error"), tt.wantError)
				}
			})
		}
	}
}

func TestPushDisabledWithoutKey(t *testing.T) {
	e := newEnv(func(o *Options) { o.APIKey = "" })
	e.store.addRoom(t, "lobby", 0)
	for _, auth := range []string{"", "Bearer ", "Bearer anything"} {
		for _, path := range []string{"/api/rooms/1/messages", "/api/users/bob/messages"} {
			a := e.do(t, "POST", path, `{"message":"x"}`, auth)
			if a.status != 401 || a.field("error") != "server push is disabled: no API key is configured" {
				t.Errorf("%s with %q: %d %s", path, auth, a.status, a.raw)
			}
		}
	}
	if n := len(e.pub.publications()); n != 0 {
		t.Errorf("%d publications", n)
	}
}
