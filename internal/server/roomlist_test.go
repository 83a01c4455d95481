package server

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/roomlist"
	"chatrelay/internal/stomp"
)

// TestRoomListChurn attacks the /app/rooms amplifier with the default
// config: with 280 rooms of long names, a client churning SUBSCRIBE and
// UNSUBSCRIBE /app/rooms gets pages of at most the default limit, each
// within one reply's bound, so its output grows with its requests only;
// no session is closed as a slow consumer and a legitimate client keeps
// chatting and pages through every room.
func TestRoomListChurn(t *testing.T) {
	cfg := config.Defaults()
	cfg.HTTP.APIKey = "operator-key" // only to set up many rooms quickly
	// the reply bound is under test here, not the SUBSCRIBE rate (which
	// TestSubscribeFloodClosesOnlyTheFlooder covers): 200 churns at once
	cfg.Limits.SubscribeRate = 0
	r := start(t, cfg)
	legitRoom := createRoom(t, r, "legit-"+unique(t))
	for i := 0; i < 279; i++ {
		if status, body, err := createAs(r, fmt.Sprintf("%d%s", i, strings.Repeat("<", 95)), "Bearer operator-key"); status != 201 || err != nil {
			t.Fatalf("room %d: %d %v %v", i, status, body, err)
		}
	}
	legit := newLegitClient(t, r, legitRoom)
	attacker := connect(t, r, "churner")
	const churns = 200
	limit := r.srv.sessOpts.MaxReplyBytes()
	res := legit.during(func() burstResult {
		res := burstResult{keys: map[string]int{}}
		total := 0
		for i := range churns {
			id := fmt.Sprint("c", i)
			if err := attacker.Send(stomp.New(stomp.SUBSCRIBE, "id", id, "destination", "/app/rooms", "limit", "100000")); err != nil {
				res.other = append(res.other, err.Error())
				return res
			}
			f, err := attacker.Expect(stomp.MESSAGE, 10*time.Second)
			if err != nil {
				res.other = append(res.other, err.Error())
				return res
			}
			var page listPage
			if json.Unmarshal(f.Body, &page) != nil || len(page.Rooms) > roomlist.MaxLimit || page.Next == nil {
				res.other = append(res.other, fmt.Sprintf("page of %d rooms, next %v", len(page.Rooms), page.Next))
			}
			if n := len(f.Encode(stomp.V12)); n > limit {
				res.other = append(res.other, fmt.Sprintf("reply of %d bytes, bound %d", n, limit))
			}
			total += len(f.Body)
			if err := attacker.Send(stomp.New(stomp.UNSUBSCRIBE, "id", id)); err != nil {
				res.other = append(res.other, err.Error())
				return res
			}
			res.created++
		}
		if total > churns*limit {
			res.other = append(res.other, fmt.Sprintf("%d bytes for %d requests", total, churns))
		}
		return res
	})
	if len(res.other) > 0 || res.created != churns {
		t.Fatalf("churn: %d answered, problems %v", res.created, res.other)
	}
	if ids := stompRoomIDs(t, legit.talker, "all"); len(ids) != 280 {
		t.Fatalf("the legitimate client pages through %d rooms, want 280", len(ids))
	}
	if n := r.srv.SlowConsumers(); n != 0 {
		t.Fatalf("%d sessions closed as slow consumers", n)
	}
}

// TestRoomListSeesOtherReplicasRooms: a room created through one replica
// is in the /app/rooms and GET /api/rooms lists another replica answers
// right after the creation's 201, every time. The listing replica learns of rooms from
// its registry tail, a few milliseconds behind; the list waits for it
// (rooms.Syncer), so that a client that subscribes to /topic/rooms, gets
// its RECEIPT and then lists (as the web chat does) misses no room.
func TestRoomListSeesOtherReplicasRooms(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	a, b := start(t, cfg), start(t, cfg)
	lister := connect(t, b, "lister")
	const rounds = 30
	for i := range rounds {
		room := createRoom(t, a, fmt.Sprintf("%s-%d", unique(t), i))
		if ids := stompRoomIDs(t, lister, fmt.Sprint("l", i)); !slices.Contains(ids, room) {
			t.Fatalf("round %d: room %s, created through the other replica, is missing from the list of %d rooms", i, room, len(ids))
		}
		room = createRoom(t, a, fmt.Sprintf("%s-rest-%d", unique(t), i))
		if ids := restRoomIDs(t, b, "lister"); !slices.Contains(ids, room) {
			t.Fatalf("round %d: room %s, created through the other replica, is missing from the REST list of %d rooms", i, room, len(ids))
		}
	}
}
