package server

import (
	"context"
	"net/http"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
)

// deleteAs sends DELETE /api/rooms/{id} to r with the Authorization
// header auth ("" for none) and returns the status.
func deleteAs(t *testing.T, r *replica, id, auth string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, r.HTTP()+"/api/rooms/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDeleteNeedsOwner performs the reproduced attack with the default
// config (no API key): an anonymous DELETE answers 401 and the room and
// its stream stay; another user gets 403; the owner gets 204 and the
// stream is gone. With a key configured, the key deletes any room. A
// client chatting in another room is not disturbed.
func TestDeleteNeedsOwner(t *testing.T) {
	cfg := defaultRabbitConfig(t)
	vhost := cfg.Broker.VHost
	r := start(t, cfg)
	status, body, err := createAs(r, "ann's room", basicAuth("ann", ""))
	if status != http.StatusCreated || err != nil {
		t.Fatalf("ann's room: %d %v %v", status, body, err)
	}
	doomed := body["id"].(string)
	anonymous := createRoom(t, r, "made anonymously")
	legitRoom := createRoom(t, r, "legit-"+unique(t))
	legit := newLegitClient(t, r, legitRoom)
	// a room's stream comes with its first message: open the three as
	// that message would, so that the deletions have streams to delete
	for _, id := range []string{doomed, anonymous, legitRoom} {
		if err := r.srv.store.Open(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	waitRoomStreams(t, vhost, 3)
	for _, tc := range []struct {
		id, auth string
		want     int
	}{
		{doomed, "", http.StatusUnauthorized},
		{doomed, "Bearer ", http.StatusUnauthorized},
		{doomed, "Bearer guessed-key", http.StatusUnauthorized},
		{doomed, basicAuth("mallory", ""), http.StatusForbidden},
		{anonymous, "", http.StatusUnauthorized},
		{anonymous, basicAuth("api", ""), http.StatusForbidden},
	} {
		if got := deleteAs(t, r, tc.id, tc.auth); got != tc.want {
			t.Fatalf("DELETE %s with %q: %d, want %d", tc.id, tc.auth, got, tc.want)
		}
	}
	legit.round()
	if _, ok := r.srv.store.Get(doomed); !ok || !hasStream(t, vhost, doomed) || !hasStream(t, vhost, anonymous) {
		t.Fatal("a refused DELETE removed a room or its stream")
	}
	if got := deleteAs(t, r, doomed, basicAuth("ann", "")); got != http.StatusNoContent {
		t.Fatalf("owner's DELETE: %d", got)
	}
	if err := rabbittest.WaitFor(15*time.Second, func() (bool, error) { return !hasStream(t, vhost, doomed), nil }); err != nil {
		t.Fatalf("stream of the deleted room remains: %v", err)
	}
	legit.round()

	// with a key configured, the key deletes what no user owns
	r.stop()
	cfg.HTTP.APIKey = "operator-key"
	k := start(t, cfg)
	waitRoom(t, k, anonymous)
	if got := deleteAs(t, k, anonymous, ""); got != http.StatusUnauthorized {
		t.Fatalf("anonymous DELETE with a key configured: %d", got)
	}
	if got := deleteAs(t, k, anonymous, "Bearer operator-key"); got != http.StatusNoContent {
		t.Fatalf("API key DELETE: %d", got)
	}
	if err := rabbittest.WaitFor(15*time.Second, func() (bool, error) { return !hasStream(t, vhost, anonymous), nil }); err != nil {
		t.Fatalf("stream of the room the key deleted remains: %v", err)
	}
}
