package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"chatrelay/internal/rooms"
)

func TestAdminRoomsNeedsTheAPIKey(t *testing.T) {
	e := newEnv(nil)
	e.store.addRoom(t, "general", 0)
	for _, auth := range []string{"", "Bearer wrong-key", "Basic " + testKey, testKey} {
		a := e.do(t, http.MethodGet, "/api/admin/rooms", "", auth)
		if a.status != http.StatusUnauthorized || a.field("rooms") != nil {
			t.Errorf("auth %q: %d %s", auth, a.status, a.raw)
		}
	}
	off := newEnv(func(o *Options) { o.APIKey = "" })
	off.store.addRoom(t, "general", 0)
	if a := off.do(t, http.MethodGet, "/api/admin/rooms", "", "Bearer "); a.status != http.StatusUnauthorized {
		t.Errorf("without an API key configured: %d %s", a.status, a.raw)
	}
	if a := e.do(t, http.MethodPost, "/api/admin/rooms", "{}", "Bearer "+testKey); a.status != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d %s", a.status, a.raw)
	}
}

func TestAdminRoomsListsEveryRoomWithItsStream(t *testing.T) {
	replica := ReplicaView{ID: "web-1:8080", Connections: []BrokerConnection{
		{Protocol: "AMQP 0-9-1", Name: "chatrelay web-1:8080 rooms"},
		{Protocol: "STOMP", Name: "10.0.0.5:40000 -> 10.0.0.2:61613"},
	}}
	e := newEnv(func(o *Options) { o.Replica = func() ReplicaView { return replica } })
	general := e.store.addRoom(t, "general", 0)
	secret, err := e.store.Create(context.Background(), rooms.Spec{Name: "채팅방", CreatedBy: "ann", Private: true})
	if err != nil {
		t.Fatal(err)
	}
	e.store.mu.Lock()
	e.store.rooms[0].Stream = "room.general." + general.ID
	e.store.mu.Unlock()

	a := e.do(t, http.MethodGet, "/api/admin/rooms", "", "Bearer "+testKey)
	if a.status != http.StatusOK {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	var got AdminView
	if err := json.Unmarshal([]byte(a.raw), &got); err != nil {
		t.Fatal(err)
	}
	want := AdminView{Replica: replica, Rooms: []AdminRoom{
		{ID: general.ID, Name: "general", CreatedAt: testNow.UTC(), CreatedBy: "test", Stream: "room.general." + general.ID, Online: 2},
		{ID: secret.ID, Name: "채팅방", Private: true, CreatedAt: testNow.UTC(), CreatedBy: "ann"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestAdminRoomsWithoutReplicaOrRooms(t *testing.T) {
	e := newEnv(nil)
	a := e.do(t, http.MethodGet, "/api/admin/rooms", "", "Bearer "+testKey)
	if a.status != http.StatusOK || a.raw != `{"replica":{"id":"","connections":[]},"rooms":[]}`+"\n" {
		t.Fatalf("%d %q", a.status, a.raw)
	}
}
