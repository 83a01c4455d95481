package httpapi

import (
	"encoding/base64"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"chatrelay/internal/rooms"
)

// basic returns an Authorization header of HTTP Basic credentials.
func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// passcodePW is an Identify for which every user's passcode is "pw".
func passcodePW(r *http.Request) (string, error) {
	user, pass, ok := r.BasicAuth()
	switch {
	case !ok:
		return "", nil
	case pass != "pw":
		return "", errors.New("wrong passcode")
	}
	return user, nil
}

// privateEnv is an API whose users are whoever shows passcode "pw" and
// whose private room "club" (id 1) is owned by alice with member bob; a
// public room "lobby" (id 2) has one message.
func privateEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(func(o *Options) {
		o.Identify = func(r *http.Request) (string, error) {
			user, pass, ok := r.BasicAuth()
			switch {
			case !ok:
				return "", nil
			case pass != "pw":
				return "", errors.New("wrong passcode")
			}
			return user, nil
		}
		o.ValidUser = func(name string) bool { return name != "" && !strings.ContainsAny(name, " /") }
	})
	a := e.do(t, "POST", "/api/rooms", `{"name":"club","private":true,"members":["bob","alice","bob"]}`, basic("alice", "pw"))
	if a.status != 201 {
		t.Fatalf("create private room: %d %s", a.status, a.raw)
	}
	want := map[string]any{"id": "1", "name": "club", "createdAt": "2024-05-01T03:00:00.000000007Z",
		"createdBy": "alice", "private": true, "members": []any{"bob"}}
	if !reflect.DeepEqual(a.json, want) {
		t.Fatalf("private room %v, want %v", a.json, want)
	}
	if a := e.do(t, "POST", "/api/rooms", `{"name":"lobby"}`, ""); a.status != 201 {
		t.Fatalf("create public room: %d %s", a.status, a.raw)
	}
	return e
}

func TestCreatePrivateRoomRefusals(t *testing.T) {
	e := privateEnv(t)
	tests := []struct {
		name, body, auth string
		status           int
		wantError        string
	}{
		{"anonymous", `{"name":"x","private":true}`, "", 401, "sign in to create a private room (or name an owner with the API key)"},
		{"bad passcode", `{"name":"x","private":true}`, basic("bob", "nope"), 401, "bad credentials: wrong passcode"},
		{"owner without the key", `{"name":"x","private":true,"owner":"bob"}`, basic("alice", "pw"), 403, "only the API key may name another owner"},
		{"members of a public room", `{"name":"x","members":["bob"]}`, basic("alice", "pw"), 400, `members are for private rooms: set "private": true`},
		{"invalid member", `{"name":"x","private":true,"members":["a b"]}`, basic("alice", "pw"), 400, `member "a b" is not a valid user name`},
		{"invalid owner", `{"name":"x","private":true,"owner":"a/b"}`, "Bearer " + testKey, 400, `member "a/b" is not a valid user name`},
		{"too many members", `{"name":"x","private":true,"members":["` + strings.Repeat(`m","`, rooms.MaxMembers) + `m"]}`, basic("alice", "pw"), 400, "a room has at most 1000 members"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.do(t, "POST", "/api/rooms", tt.body, tt.auth)
			if a.status != tt.status || a.field("error") != tt.wantError {
				t.Fatalf("%d %v, want %d %q", a.status, a.field("error"), tt.status, tt.wantError)
			}
		})
	}
	if got := len(e.store.List()); got != 2 {
		t.Fatalf("refused creates left %d rooms, want 2", got)
	}
	// the API key may create a private room for a named owner
	a := e.do(t, "POST", "/api/rooms", `{"name":"staff","private":true,"owner":"dora"}`, "Bearer "+testKey)
	if a.status != 201 || a.field("createdBy") != "dora" || a.field("private") != true {
		t.Fatalf("create for an owner: %d %s", a.status, a.raw)
	}
}

func TestPrivateRoomVisibility(t *testing.T) {
	e := privateEnv(t)
	callers := []struct {
		who, auth string
		status    int // answer for the private room's endpoints
	}{
		{"anonymous", "", 401},
		{"non-member", basic("carol", "pw"), 403},
		{"member", basic("bob", "pw"), 200},
		{"owner", basic("alice", "pw"), 200},
		{"API key", "Bearer " + testKey, 200},
	}
	for _, c := range callers {
		t.Run(c.who, func(t *testing.T) {
			for _, path := range []string{"/api/rooms/1", "/api/rooms/1/messages", "/api/rooms/1/members", "/api/rooms/1/access"} {
				if a := e.do(t, "GET", path, "", c.auth); a.status != c.status {
					t.Errorf("GET %s: %d %s, want %d", path, a.status, a.raw, c.status)
				}
				// the public room answers everyone
				public := strings.Replace(path, "/1", "/2", 1)
				if a := e.do(t, "GET", public, "", c.auth); a.status != 200 {
					t.Errorf("GET %s: %d %s, want 200", public, a.status, a.raw)
				}
			}
			a := e.do(t, "GET", "/api/rooms", "", c.auth)
			var ids []string
			for _, r := range a.field("rooms").([]any) {
				ids = append(ids, r.(map[string]any)["id"].(string))
			}
			want := []string{"2"}
			if c.status == 200 {
				want = []string{"1", "2"}
			}
			if !reflect.DeepEqual(ids, want) {
				t.Errorf("listed %v, want %v", ids, want)
			}
		})
	}
}

func TestSetPrivateRoomMembers(t *testing.T) {
	e := privateEnv(t)
	for _, tt := range []struct {
		name, path, body, auth string
		status                 int
		wantError              string
	}{
		{"member is not owner", "/api/rooms/1/access", `{"members":["carol"]}`, basic("bob", "pw"), 403, "only the owner of room 1 may change its members"},
		{"non-member", "/api/rooms/1/access", `{"members":["carol"]}`, basic("carol", "pw"), 403, "room 1 is private: only its members may see it"},
		{"anonymous", "/api/rooms/1/access", `{"members":["carol"]}`, "", 401, "room 1 is private: sign in as one of its members"},
		{"public room", "/api/rooms/2/access", `{"members":["carol"]}`, "Bearer " + testKey, 409, "room 2 is public: everyone may use it"},
		{"no members field", "/api/rooms/1/access", `{}`, basic("alice", "pw"), 400, "members is required (a list of user names)"},
		{"invalid name", "/api/rooms/1/access", `{"members":["x y"]}`, basic("alice", "pw"), 400, `member "x y" is not a valid user name`},
		{"unknown room", "/api/rooms/9/access", `{"members":[]}`, basic("alice", "pw"), 404, "room not found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := e.do(t, "PUT", tt.path, tt.body, tt.auth)
			if a.status != tt.status || a.field("error") != tt.wantError {
				t.Fatalf("%d %v, want %d %q", a.status, a.field("error"), tt.status, tt.wantError)
			}
		})
	}
	if r, _ := e.store.Get("1"); !reflect.DeepEqual(r.Members, []string{"bob"}) {
		t.Fatalf("refused changes altered the members: %v", r.Members)
	}
	a := e.do(t, "PUT", "/api/rooms/1/access", `{"members":["carol","dave"]}`, basic("alice", "pw"))
	want := map[string]any{"roomId": "1", "private": true, "owner": "alice", "members": []any{"carol", "dave"}}
	if a.status != 200 || !reflect.DeepEqual(a.json, want) {
		t.Fatalf("owner sets members: %d %v", a.status, a.json)
	}
	if a := e.do(t, "GET", "/api/rooms/1/messages", "", basic("bob", "pw")); a.status != 403 {
		t.Errorf("removed member reads history: %d", a.status)
	}
	if a := e.do(t, "GET", "/api/rooms/1/messages", "", basic("carol", "pw")); a.status != 200 {
		t.Errorf("added member reads history: %d %s", a.status, a.raw)
	}
	if a := e.do(t, "PUT", "/api/rooms/1/access", `{"members":[]}`, "Bearer "+testKey); a.status != 200 || len(a.field("members").([]any)) != 0 {
		t.Errorf("API key empties the members: %d %s", a.status, a.raw)
	}
}
