// Package roomlist answers room list requests, over REST (GET /api/rooms)
// and STOMP (SUBSCRIBE /app/rooms) alike: pages of rooms in creation
// order, each with its number of members online, bounded in count and in
// bytes, and a cursor to the next page that every replica understands.
package roomlist

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"chatrelay/internal/readstate"
	"chatrelay/internal/rooms"
)

// Page sizes: a request without a limit gets DefaultLimit rooms, and a
// larger limit is capped at MaxLimit.
const (
	DefaultLimit = 50
	MaxLimit     = 100
)

// Entry is a room as listed: no member list (GET /api/rooms/{id}/access
// has it), so that every entry is small.
type Entry struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy"`
	Private   bool      `json:"private,omitempty"`
	Direct    bool      `json:"direct,omitempty"`
	// Members is a direct room's other user (the owner is CreatedBy);
	// other rooms list none.
	Members []string `json:"members,omitempty"`
	Online  int      `json:"online"`
	// Summary, inlined, is the listing user's unread count and the
	// room's last message, for the rooms Build was given one of.
	*readstate.Summary
}

// Page is one answer: {"rooms":[...],"next":"CURSOR"|null}. Next is the
// cursor of the following page, null when this one is the last.
type Page struct {
	Rooms []Entry `json:"rooms"`
	Next  *string `json:"next"`
}

// Request is a parsed page request.
type Request struct {
	// Limit is how many rooms at most, 1 to MaxLimit.
	Limit int
	// After is the Seq the page starts after (0: the first room).
	After int64
}

// ParseRequest reads the limit and cursor parameters (query parameters
// or SUBSCRIBE headers; "" when absent). A limit above MaxLimit is
// capped; a bad one, or a cursor this server did not give, is an error
// for the client.
func ParseRequest(limit, cursor string) (Request, error) {
	req := Request{Limit: DefaultLimit}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 {
			return Request{}, fmt.Errorf("limit must be an integer from 1 to %d", MaxLimit)
		}
		req.Limit = min(n, MaxLimit)
	}
	if cursor != "" {
		n, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || n < 1 {
			return Request{}, fmt.Errorf("cursor must be a \"next\" value of an earlier page")
		}
		req.After = n
	}
	return req, nil
}

// Pager pages through rooms (a rooms.Store is one).
type Pager interface {
	Page(after int64, limit int, keep func(rooms.Room) bool) ([]rooms.Room, bool)
}

// SyncWait bounds how long Fresh waits for the store's view.
const SyncWait = 2 * time.Second

// Fresh readies a list: it brings a store's view, which can lag behind
// other replicas' changes, up to them (sync is rooms.Syncer's Sync; nil
// for a view that cannot lag), waiting at most SyncWait. A list built
// after it misses no room created, on any replica, before Fresh was
// called; so a client that subscribes to Topic, gets its RECEIPT, and
// then lists misses no room at all. Past the bound (the broker slow or
// down) the list is built from the view as it is: a stale list beats
// none.
func Fresh(ctx context.Context, sync func(context.Context) error) {
	if sync == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, SyncWait)
	defer cancel()
	_ = sync(ctx)
}

// envelope is the JSON around the entries, with room to spare.
const envelope = len(`{"rooms":[],"next":"9223372036854775807"}`) + 8

// Build returns the page req asks for among the rooms keep admits (nil:
// all), with online(id) members online each and summary(room) (nil, or
// nil for a room: none) the user's unread count and last message. The
// page's JSON stays within maxBytes (0: no bound): a page cut short by it
// has a next cursor like one cut by the limit. Its first entry is always
// included.
func Build(p Pager, req Request, keep func(rooms.Room) bool, online func(id string) int, summary func(rooms.Room) *readstate.Summary, maxBytes int) Page {
	list, more := p.Page(req.After, req.Limit, keep)
	page := Page{Rooms: make([]Entry, 0, len(list))}
	size := envelope
	var last int64
	for i, r := range list {
		e := Entry{ID: r.ID, Name: r.Name, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy, Private: r.Private, Direct: r.Direct}
		if r.Direct {
			e.Members = r.Members
		}
		if online != nil {
			e.Online = online(r.ID)
		}
		if summary != nil {
			e.Summary = summary(r)
		}
		b, _ := json.Marshal(e) // plain data: cannot fail
		if maxBytes > 0 && i > 0 && size+len(b)+1 > maxBytes {
			more = true
			break
		}
		size += len(b) + 1
		page.Rooms = append(page.Rooms, e)
		last = r.Seq
	}
	if more && len(page.Rooms) > 0 {
		next := strconv.FormatInt(last, 10)
		page.Next = &next
	}
	return page
}
