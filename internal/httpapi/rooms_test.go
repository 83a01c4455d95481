package httpapi

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/rooms"
)

func TestCreateRoom(t *testing.T) {
	tests := []struct {
		name, body string
		storeErr   error
		status     int
		wantName   string
		wantError  string
	}{
		{"created", `{"name":"lobby"}`, nil, 201, "lobby", ""},
		{"trimmed", `{"name":"  lobby \t"}`, nil, 201, "lobby", ""},
		{"unknown fields ignored", `{"name":"lobby","roomId":7}`, nil, 201, "lobby", ""},
		{"100 characters", `{"name":"` + strings.Repeat("방", 100) + `"}`, nil, 201, strings.Repeat("방", 100), ""},
		{"101 characters", `{"name":"` + strings.Repeat("방", 101) + `"}`, nil, 400, "", "name is longer than 100 characters"},
		{"90 escaped characters", `{"name":"` + strings.Repeat(`\u2039`, 90) + `"}`, nil, 201, strings.Repeat("‹", 90), ""},
		{"over 300 bytes", `{"name":"` + strings.Repeat("😀", 76) + `"}`, nil, 400, "", "name is longer than 300 bytes of UTF-8"},
		{"missing name", `{}`, nil, 400, "", "name is required"},
		{"null name", `{"name":null}`, nil, 400, "", "name is required"},
		{"empty name", `{"name":""}`, nil, 400, "", "name is required"},
		{"blank name", `{"name":"  "}`, nil, 400, "", "name is required"},
		{"control character", `{"name":"a\u0000b"}`, nil, 400, "", "name must not contain control characters"},
		{"numeric name", `{"name":7}`, nil, 400, "", "name has the wrong type"},
		{"array body", `["lobby"]`, nil, 400, "", "body must be a JSON object"},
		{"null body", `null`, nil, 400, "", "name is required"},
		{"invalid JSON", `{"name":`, nil, 400, "", "body is not valid JSON"},
		{"trailing data", `{"name":"a"}{"name":"b"}`, nil, 400, "", "body must hold a single JSON object"},
		{"empty body", ``, nil, 400, "", "body is required"},
		{"body over 64 KiB", `{"name":"a","pad":"` + strings.Repeat("x", 64<<10) + `"}`, nil, 400, "", "body is larger than 65536 bytes"},
		{"store refuses", `{"name":"lobby"}`, rooms.ErrInvalid, 400, "", "invalid room"},
		{"store fails", `{"name":"lobby"}`, errors.New("broker on fire"), 500, "", "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(nil)
			e.store.createErr = tt.storeErr
			a := e.do(t, "POST", "/api/rooms", tt.body, "")
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.raw)
			}
			if tt.status != 201 {
				if got := a.field("error"); got != tt.wantError {
					t.Errorf("error %q, want %q", got, tt.wantError)
				}
				return
			}
			want := map[string]any{"id": "1", "name": tt.wantName, "createdAt": "2024-05-01T03:00:00.000000007Z", "createdBy": "api"}
			if !reflect.DeepEqual(a.json, want) {
				t.Errorf("room %v, want %v", a.json, want)
			}
			if loc := a.header.Get("Location"); loc != "/api/rooms/1" {
				t.Errorf("Location %q", loc)
			}
		})
	}
}

func TestCreateDuplicate(t *testing.T) {
	e := newEnv(nil)
	if a := e.do(t, "POST", "/api/rooms", `{"name":"lobby"}`, ""); a.status != 201 {
		t.Fatalf("first create: %d %s", a.status, a.raw)
	}
	a := e.do(t, "POST", "/api/rooms", `{"name":" lobby"}`, "")
	if a.status != http.StatusConflict || a.field("error") != "a room with that name exists" {
		t.Fatalf("duplicate: %d %s", a.status, a.raw)
	}
}

func TestListAndGetRooms(t *testing.T) {
	e := newEnv(nil)
	if a := e.do(t, "GET", "/api/rooms", "", ""); a.status != 200 || a.raw != `{"rooms":[],"next":null}`+"\n" {
		t.Fatalf("empty list: %d %q", a.status, a.raw)
	}
	e.store.addRoom(t, "lobby", 0)
	e.store.addRoom(t, "quiet", 0)
	room := func(id, name string, online float64) map[string]any {
		return map[string]any{"id": id, "name": name, "createdAt": "2024-05-01T03:00:00.000000007Z",
			"createdBy": "test", "online": online}
	}
	tests := []struct {
		name, path string
		status     int
		want       any
	}{
		{"list", "/api/rooms", 200, map[string]any{"rooms": []any{room("1", "lobby", 2), room("2", "quiet", 0)}, "next": nil}},
		{"first page", "/api/rooms?limit=1", 200, map[string]any{"rooms": []any{room("1", "lobby", 2)}, "next": "1"}},
		{"next page", "/api/rooms?limit=1&cursor=1", 200, map[string]any{"rooms": []any{room("2", "quiet", 0)}, "next": nil}},
		{"limit capped", "/api/rooms?limit=100000", 200, map[string]any{"rooms": []any{room("1", "lobby", 2), room("2", "quiet", 0)}, "next": nil}},
		{"bad limit", "/api/rooms?limit=0", 400, map[string]any{"error": "limit must be an integer from 1 to 100"}},
		{"bad cursor", "/api/rooms?cursor=x", 400, map[string]any{"error": `cursor must be a "next" value of an earlier page`}},
		{"get", "/api/rooms/1", 200, room("1", "lobby", 2)},
		{"get without members", "/api/rooms/2", 200, room("2", "quiet", 0)},
		{"unknown", "/api/rooms/99", 404, map[string]any{"error": "room not found"}},
		{"invalid id", "/api/rooms/a.b", 404, map[string]any{"error": "room not found"}},
		{"escaped slash", "/api/rooms/a%2Fb", 404, map[string]any{"error": "room not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.do(t, "GET", tt.path, "", "")
			if a.status != tt.status || !reflect.DeepEqual(a.json, tt.want) {
				t.Errorf("%d %v, want %d %v", a.status, a.json, tt.status, tt.want)
			}
		})
	}
}

// TestDeleteRoom: deleting takes the owner or the API key, with or
// without a configured key; nobody else, and no "open when unset" path.
func TestDeleteRoom(t *testing.T) {
	tests := []struct {
		name, key, path, auth string
		status                int
	}{
		{"anonymous without a configured key", "", "/api/rooms/1", "", 401},
		{"anonymous with a configured key", testKey, "/api/rooms/1", "", 401},
		{"with the key", testKey, "/api/rooms/1", "Bearer " + testKey, 204},
		{"wrong key", testKey, "/api/rooms/1", "Bearer nope", 401},
		{"owner without a configured key", "", "/api/rooms/1", basic("ann", "pw"), 204},
		{"owner with a configured key", testKey, "/api/rooms/1", basic("ann", "pw"), 204},
		{"another user", "", "/api/rooms/1", basic("bob", "pw"), 403},
		{"bad credentials", "", "/api/rooms/1", basic("ann", "nope"), 401},
		{"room made without a user, by a user named api", "", "/api/rooms/2", basic("api", "pw"), 403},
		{"room made without a user, with the key", testKey, "/api/rooms/2", "Bearer " + testKey, 204},
		{"unknown room", testKey, "/api/rooms/99", "Bearer " + testKey, 404},
		{"unknown room without credentials: 401 first", testKey, "/api/rooms/99", "", 401},
		{"invalid id", "", "/api/rooms/a.b", basic("ann", "pw"), 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(func(o *Options) {
				o.APIKey = tt.key
				o.Identify = passcodePW
			})
			if a := e.do(t, "POST", "/api/rooms", `{"name":"lobby"}`, basic("ann", "pw")); a.status != 201 {
				t.Fatalf("create: %d %s", a.status, a.raw)
			}
			if a := e.do(t, "POST", "/api/rooms", `{"name":"anonymous"}`, ""); a.status != 201 {
				t.Fatalf("create: %d %s", a.status, a.raw)
			}
			id := strings.TrimPrefix(tt.path, "/api/rooms/")
			a := e.do(t, "DELETE", tt.path, "", tt.auth)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.raw)
			}
			_, exists := e.store.Get(id)
			if exists == (tt.status == 204) && (id == "1" || id == "2") {
				t.Errorf("room %s exists = %v after %d", id, exists, a.status)
			}
			if _, ok := e.store.Get(map[string]string{"1": "2", "2": "1"}[id]); !ok && (id == "1" || id == "2") {
				t.Errorf("the other room went too")
			}
		})
	}
}

func TestHistory(t *testing.T) {
	offsets := func(a answer) []float64 {
		var out []float64
		msgs, _ := a.field("messages").([]any)
		for _, m := range msgs {
			out = append(out, m.(map[string]any)["offset"].(float64))
		}
		return out
	}
	span := func(from, to float64) []float64 { // from down to to
		var out []float64
		for o := from; o >= to; o-- {
			out = append(out, o)
		}
		return out
	}
	tests := []struct {
		name, path string
		status     int
		want       []float64
		next       any
		limit      int // the limit the store saw
		wantError  string
	}{
		{"default page", "/api/rooms/1/messages", 200, span(599, 550), float64(550), 50, ""},
		{"limit", "/api/rooms/1/messages?limit=3", 200, span(599, 597), float64(597), 3, ""},
		{"before", "/api/rooms/1/messages?limit=3&before=597", 200, span(596, 594), float64(594), 3, ""},
		{"last page is short", "/api/rooms/1/messages?limit=3&before=2", 200, span(1, 0), nil, 3, ""},
		{"full page ending at 0", "/api/rooms/1/messages?limit=2&before=2", 200, span(1, 0), nil, 2, ""},
		{"limit capped at 500", "/api/rooms/1/messages?limit=100000", 200, span(599, 100), float64(100), 500, ""},
		{"empty room", "/api/rooms/2/messages", 200, nil, nil, 50, ""},
		{"limit not a number", "/api/rooms/1/messages?limit=x", 400, nil, nil, 0, "limit must be an integer from 1 to 500"},
		{"limit zero", "/api/rooms/1/messages?limit=0", 400, nil, nil, 0, "limit must be an integer from 1 to 500"},
		{"limit negative", "/api/rooms/1/messages?limit=-5", 400, nil, nil, 0, "limit must be an integer from 1 to 500"},
		{"before not a number", "/api/rooms/1/messages?before=1e3", 400, nil, nil, 0, "before must be a non-negative offset"},
		{"before negative", "/api/rooms/1/messages?before=-1", 400, nil, nil, 0, "before must be a non-negative offset"},
		{"unknown room", "/api/rooms/99/messages", 404, nil, nil, 0, "room not found"},
		{"invalid room", "/api/rooms/a.b/messages", 404, nil, nil, 0, "room not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(nil)
			e.store.addRoom(t, "busy", 600)
			e.store.addRoom(t, "empty", 0)
			a := e.do(t, "GET", tt.path, "", "")
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.raw)
			}
			if tt.status != 200 {
				if a.field("error") != tt.wantError {
					t.Errorf("error %v, want %q", a.field("error"), tt.wantError)
				}
				return
			}
			if got := offsets(a); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("offsets %v, want %v", got, tt.want)
			}
			if _, ok := a.field("messages").([]any); !ok {
				t.Errorf("messages is not an array: %s", a.raw)
			}
			if got := a.field("next"); got != tt.next {
				t.Errorf("next %v, want %v", got, tt.next)
			}
			if e.store.lastLimit != tt.limit {
				t.Errorf("store asked for %d, want %d", e.store.lastLimit, tt.limit)
			}
		})
	}
}

func TestHistoryStoreErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
	}{
		{"room vanished", rooms.ErrNotFound, 404},
		{"broker failure", errors.New("stream gone"), 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(nil)
			e.store.addRoom(t, "lobby", 1)
			e.store.historyErr = tt.err
			if a := e.do(t, "GET", "/api/rooms/1/messages", "", ""); a.status != tt.status {
				t.Fatalf("status %d, want %d", a.status, tt.status)
			}
		})
	}
}

func TestMembers(t *testing.T) {
	tests := []struct {
		name, path string
		presence   Presence
		status     int
		want       any
	}{
		{"sorted", "/api/rooms/1/members", fakePresence{"1": {"carol", "alice"}}, 200,
			map[string]any{"roomId": "1", "members": []any{"alice", "carol"}}},
		{"nobody", "/api/rooms/2/members", fakePresence{}, 200,
			map[string]any{"roomId": "2", "members": []any{}}},
		{"no presence", "/api/rooms/1/members", nil, 200,
			map[string]any{"roomId": "1", "members": []any{}}},
		{"unknown room", "/api/rooms/99/members", fakePresence{}, 404,
			map[string]any{"error": "room not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(func(o *Options) { o.Presence = tt.presence })
			e.store.addRoom(t, "lobby", 0)
			e.store.addRoom(t, "quiet", 0)
			a := e.do(t, "GET", tt.path, "", "")
			if a.status != tt.status || !reflect.DeepEqual(a.json, tt.want) {
				t.Errorf("%d %v, want %d %v", a.status, a.json, tt.status, tt.want)
			}
		})
	}
}

// TestRoomWait: a room this replica learns of while the request waits
// (created through another replica) is found; an unknown one is a 404
// once the wait is over.
func TestRoomWait(t *testing.T) {
	e := newEnv(func(o *Options) { o.RoomWait = 5 * time.Second })
	misses := 0
	e.store.onMiss = func(id string) {
		// the third lookup of room "1" sees it arrive
		if misses++; misses == 3 && id == "1" {
			e.store.addRoom(t, "late", 1)
		}
	}
	if a := e.do(t, "GET", "/api/rooms/1/messages", "", ""); a.status != 200 || misses != 3 {
		t.Fatalf("room arriving during the wait: %d %s after %d misses", a.status, a.raw, misses)
	}
	e = newEnv(func(o *Options) { o.RoomWait = 50 * time.Millisecond })
	start := time.Now()
	if a := e.do(t, "GET", "/api/rooms/nope/messages", "", ""); a.status != 404 {
		t.Fatalf("unknown room: %d %s", a.status, a.raw)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("unknown room answered after %v, before the wait was over", d)
	}
}
