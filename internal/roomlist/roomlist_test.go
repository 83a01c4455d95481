package roomlist

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"chatrelay/internal/rooms"
)

// slicePager pages through a slice sorted by Seq.
type slicePager []rooms.Room

func (s slicePager) Page(after int64, limit int, keep func(rooms.Room) bool) ([]rooms.Room, bool) {
	return rooms.PageOf(len(s), func(i int) rooms.Room { return s[i] }, after, limit, keep)
}

// manyRooms returns n rooms with Seq 2, 4, 6, ... (gaps, as registry
// offsets have), every third private to "ann".
func manyRooms(n int, name func(int) string) slicePager {
	out := make(slicePager, n)
	for i := range out {
		out[i] = rooms.Room{ID: fmt.Sprintf("r%d", i), Name: name(i), CreatedBy: "ann", Private: i%3 == 2, Seq: int64(2 * (i + 1))}
	}
	return out
}

// walk follows next cursors from the first page, checking each page's
// encoded size, and returns the ids in order.
func walk(t *testing.T, p Pager, limit int, keep func(rooms.Room) bool, maxBytes int) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("cursor loop")
		}
		req, err := ParseRequest(fmt.Sprint(limit), cursor)
		if err != nil {
			t.Fatal(err)
		}
		page := Build(p, req, keep, func(string) int { return 1 }, nil, maxBytes)
		b, _ := json.Marshal(page)
		if maxBytes > 0 && len(b) > maxBytes {
			t.Fatalf("page of %d bytes, bound %d", len(b), maxBytes)
		}
		if len(page.Rooms) > min(limit, MaxLimit) {
			t.Fatalf("page of %d rooms, limit %d", len(page.Rooms), limit)
		}
		for _, e := range page.Rooms {
			ids = append(ids, e.ID)
		}
		if page.Next == nil {
			return ids
		}
		cursor = *page.Next
	}
}

// TestPagesCoverEveryRoomOnce: following next from the first page lists
// every visible room once, in creation order, whatever the limit, the
// byte bound and the filter.
func TestPagesCoverEveryRoomOnce(t *testing.T) {
	p := manyRooms(250, func(i int) string { return strings.Repeat("‹", 60) + fmt.Sprint(i) })
	public := func(r rooms.Room) bool { return !r.Private }
	for _, tc := range []struct {
		limit, maxBytes int
		keep            func(rooms.Room) bool
		want            int
	}{
		{50, 0, nil, 250},
		{1000, 0, nil, 250}, // capped at MaxLimit
		{100, 4096, nil, 250},
		{100, 0, public, 167},
		{7, 1500, public, 167},
	} {
		ids := walk(t, p, tc.limit, tc.keep, tc.maxBytes)
		if len(ids) != tc.want {
			t.Fatalf("%+v: %d rooms listed, want %d", tc, len(ids), tc.want)
		}
		seen := map[string]bool{}
		prev := -1
		for _, id := range ids {
			var n int
			fmt.Sscanf(id, "r%d", &n)
			if seen[id] || n <= prev {
				t.Fatalf("%+v: %s out of order or twice", tc, id)
			}
			seen[id], prev = true, n
		}
	}
}

// TestCursorSurvivesDeletion: a cursor names a position, not a room: the
// room it came from may be deleted and the next page still follows on.
func TestCursorSurvivesDeletion(t *testing.T) {
	p := manyRooms(10, func(i int) string { return fmt.Sprint("room", i) })
	req, _ := ParseRequest("4", "")
	first := Build(p, req, nil, nil, nil, 0)
	if first.Next == nil || len(first.Rooms) != 4 {
		t.Fatalf("first page: %+v", first)
	}
	p = append(p[:3:3], p[4:]...) // the last room of the page goes
	req, _ = ParseRequest("4", *first.Next)
	second := Build(p, req, nil, nil, nil, 0)
	if len(second.Rooms) != 4 || second.Rooms[0].ID != "r4" {
		t.Fatalf("second page: %+v", second)
	}
}

// TestBadRequests: bad limits and cursors are errors that say what is
// wanted.
func TestBadRequests(t *testing.T) {
	for _, tc := range [][2]string{{"0", ""}, {"-1", ""}, {"x", ""}, {"", "abc"}, {"", "0"}, {"", "-5"}, {"", "99999999999999999999"}} {
		if _, err := ParseRequest(tc[0], tc[1]); err == nil {
			t.Errorf("limit %q cursor %q accepted", tc[0], tc[1])
		}
	}
	if req, err := ParseRequest("", ""); err != nil || req.Limit != DefaultLimit || req.After != 0 {
		t.Fatalf("defaults: %+v %v", req, err)
	}
}
