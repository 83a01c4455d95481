package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// reviseOver SENDs body to /app/rooms/{room}/{route} (edit or delete)
// with a receipt and waits for the RECEIPT; a sender subscribed to the
// room may get its own change first: the room messages that came before
// the RECEIPT are returned.
func reviseOver(t testing.TB, c *stomptest.Client, room, route, body string) []rooms.Message {
	t.Helper()
	f := stomp.New(stomp.SEND, "destination", "/app/rooms/"+room+"/"+route, "receipt", "rev")
	f.Body = []byte(body)
	if err := c.Send(f); err != nil {
		t.Fatal(err)
	}
	var early []rooms.Message
	for {
		r, err := c.Read(15 * time.Second)
		if err != nil {
			t.Fatalf("%s %s: %v", route, body, err)
		}
		if r.Command == stomp.RECEIPT && r.Header("receipt-id") == "rev" {
			return early
		}
		var m rooms.Message
		if r.Command != stomp.MESSAGE || r.Header("destination") == "/user/queue/errors" || json.Unmarshal(r.Body, &m) != nil {
			t.Fatalf("%s %s: got %s %s, want its RECEIPT", route, body, r.Command, r.Body)
		}
		early = append(early, m)
	}
}

// readRest reads the room messages of c that reviseOver did not, n in
// all.
func readRest(t testing.TB, c *stomptest.Client, early []rooms.Message, n int) []rooms.Message {
	t.Helper()
	if n > len(early) {
		early = append(early, readRoom(t, c, "room", n-len(early))...)
	}
	return early
}

// readRaw reads n room MESSAGE frames of c on sub and returns their
// messages and bodies.
func readRaw(t testing.TB, c *stomptest.Client, sub string, n int) ([]rooms.Message, string) {
	t.Helper()
	var all strings.Builder
	ms := readRoom(t, c, sub, n)
	for _, m := range ms {
		fmt.Fprintf(&all, "%+v\n", m)
	}
	return ms, all.String()
}

// TestEditAndDelete: a sender edits and deletes their own messages, a
// moderator (and the API key) deletes anyone's, everyone else is refused;
// live subscribers on the other replica get each EDIT and DELETE; a
// client resuming from before them, one joining with x-history, REST
// history and a replica started afterwards all see the current version,
// and no replayed frame carries a deleted or replaced text.
func TestEditAndDelete(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		cfg.HTTP.APIKey = testAPIKey
		a, b, room, bob := pairWithRoom(t, cfg)
		ann := errorsQueue(t, a, "ann")
		if err := ann.Subscribe("room", "/topic/room."+room); err != nil {
			t.Fatal(err)
		}
		if st, got := restKey(t, a, "PUT", "/api/rooms/"+room+"/moderators", map[string]any{"moderators": []string{"carol"}}); st != http.StatusOK {
			t.Fatalf("moderators: %d %v", st, got)
		}
		readSystem(t, ann, "room", "moderators", "")
		readSystem(t, bob, "room", "moderators", "")

		// bob writes four messages
		for _, text := range []string{"first draft", "secret-two", "secret-three", "fourth"} {
			sendOver(t, bob, room, text)
		}
		sent := readRoom(t, ann, "room", 4)
		readRoom(t, bob, "room", 4)
		before := sent[0].Offset - 1
		at := func(i int) string { return fmt.Sprintf(`"offset":%d,"id":%q`, sent[i].Offset, sent[i].ID) }

		// bob edits the first; ann, on the other replica, gets the EDIT
		early := reviseOver(t, bob, room, "edit", `{`+at(0)+`,"message":"first, edited"}`)
		ev := readRoom(t, ann, "room", 1)[0]
		if ev.Type != rooms.Edit || ev.Ref != sent[0].ID || *ev.RefOffset != sent[0].Offset || ev.Message != "first, edited" || ev.Sender != "bob" {
			t.Fatalf("ann got %+v, want bob's EDIT of %s", ev, sent[0].ID)
		}
		readRest(t, bob, early, 1)

		// refused: someone else's edit or delete, bad requests
		for _, bad := range []struct {
			c                       *stomptest.Client
			route, body, code, want string
		}{
			{ann, "edit", `{` + at(1) + `,"message":"x"}`, "forbidden", "only the sender"},
			{ann, "delete", `{` + at(1) + `}`, "forbidden", "owner or a moderator"},
			{bob, "edit", `{"message":"x"}`, "bad_request", "offset is required"},
			{bob, "edit", `{` + at(1) + `}`, "bad_request", "message is required"},
			{bob, "delete", `{` + at(1) + `,"message":"x"}`, "bad_request", "takes no message"},
			{bob, "edit", fmt.Sprintf(`{"offset":%d,"id":"not-it","message":"x"}`, sent[1].Offset), "bad_request", "is not message"},
			{bob, "edit", fmt.Sprintf(`{"offset":%d,"message":"x"}`, ev.Offset), "bad_request", "cannot be changed"},
			{bob, "edit", fmt.Sprintf(`{"offset":%d,"message":"x"}`, ev.Offset+1000), "bad_request", "cannot be changed"},
			{bob, "edit", `{` + at(1) + `,"message":"` + strings.Repeat("x", cfg.Rooms.MaxMessageBytes+1) + `"}`, "bad_request", "longer than"},
			{bob, "edit", `{` + at(1) + `,"message":"  "}`, "bad_request", "needs text"},
		} {
			refusedOver(t, bad.c, room, bad.route, bad.body, bad.code, bad.want)
		}
		refusedOver(t, bob, "nosuchroom", "edit", `{`+at(1)+`,"message":"x"}`, "not_found", "does not exist")

		// carol, a moderator, deletes bob's second over REST; bob his
		// third over STOMP
		if st, got := rest(t, b, "DELETE", fmt.Sprintf("/api/rooms/%s/messages/%d?id=%s", room, sent[1].Offset, sent[1].ID), "carol", nil); st != http.StatusOK || got["type"] != "DELETE" || got["sender"] != "carol" {
			t.Fatalf("carol deletes: %d %v", st, got)
		}
		early = reviseOver(t, bob, room, "delete", `{`+at(2)+`}`)
		for _, c := range []*stomptest.Client{ann, bob} {
			got := early
			if c == ann {
				got = nil
			}
			for i, m := range readRest(t, c, got, 2) {
				if m.Type != rooms.Delete || m.Ref != sent[1+i].ID || m.Message != "" {
					t.Fatalf("got %+v, want the DELETE of %s", m, sent[1+i].ID)
				}
			}
		}
		refusedOver(t, bob, room, "edit", `{`+at(2)+`,"message":"undo"}`, "bad_request", "cannot be changed")

		// REST: the sender edits; anonymous and the API key may not edit;
		// the API key may delete
		path := fmt.Sprintf("/api/rooms/%s/messages/%d", room, sent[3].Offset)
		if st, got := rest(t, a, "PUT", path, "", map[string]string{"message": "x"}); st != http.StatusUnauthorized {
			t.Fatalf("anonymous edit: %d %v", st, got)
		}
		if st, got := restKey(t, a, "PUT", path, map[string]string{"message": "x"}); st != http.StatusForbidden {
			t.Fatalf("the API key edits: %d %v", st, got)
		}
		if st, got := rest(t, a, "PUT", path, "ann", map[string]string{"message": "x"}); st != http.StatusForbidden {
			t.Fatalf("ann edits bob's: %d %v", st, got)
		}
		if st, got := rest(t, a, "PUT", "/api/rooms/"+room+"/messages/x", "bob", map[string]string{"message": "x"}); st != http.StatusBadRequest {
			t.Fatalf("a bad offset: %d %v", st, got)
		}
		if st, got := rest(t, a, "PUT", path, "bob", map[string]string{"message": "fourth, edited"}); st != http.StatusOK || got["type"] != "EDIT" {
			t.Fatalf("bob edits over REST: %d %v", st, got)
		}
		readRoom(t, ann, "room", 1)
		readRoom(t, bob, "room", 1)

		// everyone who reads now gets the current version
		check := func(what string, ms []rooms.Message, raw string) {
			t.Helper()
			byID := map[string]rooms.Message{}
			for _, m := range ms {
				if !m.Type.IsRevision() {
					byID[m.ID] = m
				}
			}
			if m := byID[sent[0].ID]; m.Message != "first, edited" || m.EditedAt == nil {
				t.Fatalf("%s: the first is %+v", what, m)
			}
			for _, i := range []int{1, 2} {
				if m := byID[sent[i].ID]; !m.Deleted || m.Message != "" {
					t.Fatalf("%s: message %d is %+v, want a tombstone", what, i, m)
				}
			}
			if m := byID[sent[3].ID]; m.Message != "fourth, edited" {
				t.Fatalf("%s: the fourth is %+v", what, m)
			}
			for _, secret := range []string{"secret-two", "secret-three", "first draft"} {
				if strings.Contains(raw, secret) {
					t.Fatalf("%s carries %q: %s", what, secret, raw)
				}
			}
		}
		// resuming from before the edits: 4 messages and 4 revisions
		dave := connect(t, b, "dave")
		if err := dave.Subscribe("room", "/topic/room."+room, "x-resume-after", fmt.Sprint(before)); err != nil {
			t.Fatal(err)
		}
		ms, raw := readRaw(t, dave, "room", 8)
		check("x-resume-after", ms, raw)
		// joining with x-history 4: the four messages (the revisions
		// come along, not counted)
		erin := connect(t, a, "erin")
		if err := erin.Subscribe("room", "/topic/room."+room, "x-history", "4"); err != nil {
			t.Fatal(err)
		}
		ms, raw = readRaw(t, erin, "room", 8)
		check("x-history", ms, raw)
		// REST history: messages only
		h := history(t, b, room, 4)
		var sb strings.Builder
		for _, m := range h {
			if m.Type.IsRevision() {
				t.Fatalf("history lists a revision: %+v", m)
			}
			fmt.Fprintf(&sb, "%+v\n", m)
		}
		check("history", h, sb.String())
		if cfg.Broker.Mode == config.BrokerRabbitMQ {
			// a replica started afterwards reads it all from the stream
			c := start(t, cfg)
			waitRoom(t, c, room)
			h := history(t, c, room, 4)
			sb.Reset()
			for _, m := range h {
				fmt.Fprintf(&sb, "%+v\n", m)
			}
			check("history on a new replica", h, sb.String())
		}
		// the room goes on
		sendOver(t, bob, room, "after")
		if m := readRoom(t, ann, "room", 1)[0]; m.Message != "after" {
			t.Fatalf("ann got %+v", m)
		}
	})
}
