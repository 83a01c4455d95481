package server

import (
	"encoding/json"
	"net/url"
	"strconv"
	"testing"
	"time"

	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// maxListPages bounds how many pages the list helpers follow.
const maxListPages = 1000

// listPage is a room list page, REST or /app/rooms.
type listPage struct {
	Rooms []struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Members []any  `json:"members"`
	} `json:"rooms"`
	Next *string `json:"next"`
}

// restRoomIDs pages through GET /api/rooms on r as user ("" for none)
// and returns every room id listed, in order.
func restRoomIDs(t testing.TB, r *replica, user string) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for range maxListPages {
		path := "/api/rooms?limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		status, body := rest(t, r, "GET", path, user, nil)
		raw, _ := json.Marshal(body)
		var page listPage
		if status != 200 || json.Unmarshal(raw, &page) != nil {
			t.Fatalf("GET %s: %d %s", path, status, raw)
		}
		for _, room := range page.Rooms {
			ids = append(ids, room.ID)
		}
		if page.Next == nil {
			return ids
		}
		cursor = *page.Next
	}
	t.Fatalf("room list longer than %d pages", maxListPages)
	return nil
}

// stompRoomIDs pages through SUBSCRIBE /app/rooms on c (subscription
// ids start with sub) and returns every room id listed, in order. c must
// have no other subscription that receives messages meanwhile.
func stompRoomIDs(t testing.TB, c *stomptest.Client, sub string) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for i := range maxListPages {
		id := sub + "-" + strconv.Itoa(i)
		hs := []string{"id", id, "destination", "/app/rooms", "limit", "100"}
		if cursor != "" {
			hs = append(hs, "cursor", cursor)
		}
		if err := c.Send(stomp.New(stomp.SUBSCRIBE, hs...)); err != nil {
			t.Fatal(err)
		}
		f, err := c.Expect(stomp.MESSAGE, 10*time.Second)
		var page listPage
		if err != nil || f.Header("subscription") != id || json.Unmarshal(f.Body, &page) != nil {
			t.Fatalf("room list page %d: %v %v", i, err, f)
		}
		if err := c.Send(stomp.New(stomp.UNSUBSCRIBE, "id", id)); err != nil {
			t.Fatal(err)
		}
		for _, room := range page.Rooms {
			ids = append(ids, room.ID)
		}
		if page.Next == nil {
			return ids
		}
		cursor = *page.Next
	}
	t.Fatalf("room list longer than %d pages", maxListPages)
	return nil
}
