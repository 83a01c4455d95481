package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/readstate"
	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/rabbitstore"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// sendRead SENDs the user's read position in room and waits for its
// RECEIPT.
func sendRead(t testing.TB, c *stomptest.Client, room string, offset int64) {
	t.Helper()
	receipt := fmt.Sprintf("read-%d", offset)
	f := stomp.New(stomp.SEND, "destination", "/app/rooms/"+room+"/read", "receipt", receipt)
	f.Body = []byte(fmt.Sprintf(`{"offset":%d}`, offset))
	if err := c.Send(f); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Expect(stomp.RECEIPT, 10*time.Second); err != nil || r.Header("receipt-id") != receipt {
		t.Fatalf("read position %d in %s: %v %v", offset, room, r, err)
	}
}

// listEntry returns user's entry for room in r's REST room list (nil when
// the room is not listed).
func listEntry(t testing.TB, r *replica, user, room string) map[string]any {
	t.Helper()
	status, page := rest(t, r, "GET", "/api/rooms?limit=100", user, nil)
	if status != http.StatusOK {
		t.Fatalf("room list for %s: %d %v", user, status, page)
	}
	for _, e := range page["rooms"].([]any) {
		if m := e.(map[string]any); m["id"] == room {
			return m
		}
	}
	return nil
}

// historyAs is GET /api/rooms/{id}/messages?limit=N as user, newest
// first.
func historyAs(t testing.TB, r *replica, user, room string, limit int) []rooms.Message {
	t.Helper()
	status, body := rest(t, r, "GET", fmt.Sprintf("/api/rooms/%s/messages?limit=%d", room, limit), user, nil)
	if status != http.StatusOK {
		t.Fatalf("history of %s as %s: %d %v", room, user, status, body)
	}
	raw, _ := json.Marshal(body["messages"])
	var msgs []rooms.Message
	if err := json.Unmarshal(raw, &msgs); err != nil {
		t.Fatal(err)
	}
	return msgs
}

// readView is GET /api/rooms/{id}/reads as user.
func readView(t testing.TB, r *replica, user, room string) readstate.View {
	t.Helper()
	status, body := rest(t, r, "GET", "/api/rooms/"+room+"/reads", user, nil)
	if status != http.StatusOK {
		t.Fatalf("reads of %s for %s: %d %v", room, user, status, body)
	}
	raw, _ := json.Marshal(body)
	var v readstate.View
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// unreadCounts is the per-message unread counts of KakaoTalk, as a client
// computes them from a room's read positions: for each message, the
// members other than its sender who have not read it.
func unreadCounts(v readstate.View, msgs []rooms.Message) []int {
	out := make([]int, len(msgs))
	for i, m := range msgs {
		for _, u := range v.Members {
			if pos, ok := v.Positions[u]; u != m.Sender && (!ok || pos < m.Offset) {
				out[i]++
			}
		}
	}
	return out
}

// TestReadState: in a 10-member private room with 100 messages, members
// read to different points on both replicas (STOMP and REST); every
// member's unread count in the room list and every message's unread count
// are exact on both replicas, reach the other members live, and survive
// a restart of both replicas and of RabbitMQ. A direct conversation
// shows its unread count to the recipient back on the other replica.
// Bad positions are refused, positions never go back or past the room's
// newest message, and outsiders see nothing.
func TestReadState(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		rabbitMode := cfg.Broker.Mode == config.BrokerRabbitMQ
		if rabbitMode {
			cfg.Broker.VHost = freshVHost(t)
		}
		cfg.Rooms.Reads.Flush = 200 * time.Millisecond
		a := start(t, cfg)
		b := a
		if rabbitMode {
			b = start(t, cfg)
		}
		members := make([]string, 10)
		for i := range members {
			members[i] = fmt.Sprintf("m%d", i)
		}
		status, created := rest(t, a, "POST", "/api/rooms", "m0", map[string]any{"name": unique(t), "private": true, "members": members[1:]})
		if status != http.StatusCreated {
			t.Fatalf("create: %d %v", status, created)
		}
		room := created["id"].(string)
		waitRoom(t, b, room)

		// m0..m4 on a, m5..m9 on b, each with a session that sends and
		// one that watches the room's reads (so that events never come
		// between a SEND and its RECEIPT)
		clients := make([]*stomptest.Client, len(members))
		watchers := make([]*stomptest.Client, len(members))
		for i, m := range members {
			r := a
			if i >= 5 {
				r = b
			}
			clients[i] = errorsQueue(t, r, m)
			watchers[i] = connect(t, r, m)
			if err := watchers[i].Subscribe("reads", readstate.Topic(room)); err != nil {
				t.Fatal(err)
			}
		}
		// 100 messages: m0 sends 60, m3 sends 40
		sendNumbered(t, clients[0], room, "a", 1, 60)
		sendNumbered(t, clients[3], room, "b", 1, 40)
		msgs := historyAs(t, a, "m0", room, 200)
		slices.Reverse(msgs) // oldest first
		if len(msgs) != 100 {
			t.Fatalf("history has %d messages, want 100", len(msgs))
		}

		// nobody has read anything: every other member's count is every
		// message they did not send
		expectUnread := func(r *replica, user string, read int) {
			t.Helper()
			want := 0
			for _, m := range msgs[read:] {
				if m.Sender != user {
					want++
				}
			}
			err := rabbittest.WaitFor(10*time.Second, func() (bool, error) {
				e := listEntry(t, r, user, room)
				return e != nil && e["unread"] == float64(want), nil
			})
			if err != nil {
				t.Fatalf("%s on %s: room list entry %v, want unread %d", user, r.addr, listEntry(t, r, user, room), want)
			}
		}
		expectUnread(b, "m7", 0)
		if e := listEntry(t, b, "m7", room); e["lastMessage"].(map[string]any)["text"] != "b-40" {
			t.Fatalf("last message %v, want b-40", e["lastMessage"])
		}

		// member i reads the first 10*i messages, over STOMP on its own
		// replica, or (odd members) over REST on the other one; m9's
		// reads come one by one, as a client that follows a busy room
		readTo := make(map[string]int)
		var m9Took time.Duration
		for i, m := range members {
			n := 10 * i
			if n == 0 {
				continue
			}
			readTo[m] = n
			off := msgs[n-1].Offset
			switch {
			case i == 9:
				began := time.Now()
				for _, msg := range msgs[:n] {
					sendRead(t, clients[i], room, msg.Offset)
				}
				m9Took = time.Since(began)
			case i%2 == 1:
				other := b
				if i >= 5 {
					other = a
				}
				status, ans := rest(t, other, "PUT", "/api/rooms/"+room+"/read", m, map[string]any{"offset": off})
				if status != http.StatusOK || ans["offset"] != float64(off) {
					t.Fatalf("%s PUT read %d: %d %v", m, off, status, ans)
				}
			default:
				sendRead(t, clients[i], room, off)
			}
		}
		// m2 goes back: the position stays
		sendRead(t, clients[2], room, msgs[0].Offset)

		// every position reaches every member live, on both replicas
		for i, c := range watchers {
			seen := make(map[string]int64)
			m9Events := 0
			deadline := time.Now().Add(10 * time.Second)
			for len(seen) < len(readTo) || !allRead(seen, readTo, msgs) {
				f, err := c.Expect(stomp.MESSAGE, time.Until(deadline))
				if err != nil {
					t.Fatalf("%s saw positions %v, want %v: %v", members[i], seen, readTo, err)
				}
				var ev readstate.Event
				if f.Header("subscription") != "reads" || json.Unmarshal(f.Body, &ev) != nil || ev.Type != readstate.EventType || ev.RoomID != room {
					t.Fatalf("%s got %q on %q, want read events", members[i], f.Body, f.Header("subscription"))
				}
				for u, o := range ev.Positions {
					seen[u] = max(seen[u], o)
				}
				if _, ok := ev.Positions["m9"]; ok {
					m9Events++
				}
			}
			// many reads, few events: m9's 90 positions are one event per
			// flush at most, not one per read
			if limit := int(m9Took/cfg.Rooms.Reads.Flush) + 2; m9Events > limit {
				t.Fatalf("%s got %d events of m9's 90 reads in %v, want at most %d", members[i], m9Events, m9Took, limit)
			}
		}

		// exact counts on both replicas: each member's unread count, and
		// the per-message counts computed from the positions
		want := make([]int, len(msgs))
		for j, msg := range msgs {
			for _, m := range members {
				if m != msg.Sender && readTo[m] <= j {
					want[j]++
				}
			}
		}
		check := func(rs ...*replica) {
			t.Helper()
			for _, r := range rs {
				for _, m := range members {
					expectUnread(r, m, readTo[m])
				}
				var got []int
				err := rabbittest.WaitFor(10*time.Second, func() (bool, error) {
					got = unreadCounts(readView(t, r, "m4", room), msgs)
					return slices.Equal(got, want), nil
				})
				if err != nil {
					t.Fatalf("per-message unread counts on %s:\n got %v\nwant %v", r.addr, got, want)
				}
			}
		}
		check(a, b)
		if want[0] != 0 || want[99] != 9 || want[50] != 5 {
			t.Fatalf("expected counts are not what the test means: %v", want)
		}

		// refusals, and nothing lost by them
		outsider := errorsQueue(t, a, "mallory")
		f := stomp.New(stomp.SEND, "destination", "/app/rooms/"+room+"/read")
		f.Body = []byte(`{"offset":5}`)
		if err := outsider.Send(f); err != nil {
			t.Fatal(err)
		}
		expectUserError(t, outsider, "forbidden", "may not read")
		if status, _ := rest(t, a, "GET", "/api/rooms/"+room+"/reads", "mallory", nil); status != http.StatusForbidden {
			t.Fatalf("outsider GET reads: %d", status)
		}
		if status, _ := rest(t, a, "GET", "/api/rooms/"+room+"/reads", "", nil); status != http.StatusUnauthorized {
			t.Fatalf("anonymous GET reads: %d", status)
		}
		if status, _ := rest(t, a, "PUT", "/api/rooms/"+room+"/read", "", map[string]any{"offset": 1}); status != http.StatusUnauthorized {
			t.Fatalf("anonymous PUT read: %d", status)
		}
		second := errorsQueue(t, b, "m1")
		for _, body := range []string{`{}`, `{"offset":-1}`, `{"offset":"7"}`, `{"offset":1,"x":2}`, `nonsense`} {
			f := stomp.New(stomp.SEND, "destination", "/app/rooms/"+room+"/read")
			f.Body = []byte(body)
			if err := second.Send(f); err != nil {
				t.Fatal(err)
			}
			expectUserError(t, second, "bad_request", "offset")
		}
		sub := stomp.New(stomp.SUBSCRIBE, "id", "x", "destination", readstate.Topic(room), "receipt", "x")
		spy := connect(t, b, "mallory")
		if err := spy.Send(sub); err != nil {
			t.Fatal(err)
		}
		expectError(t, spy, "forbidden")
		// past the newest message: lowered to it
		status, ans := rest(t, a, "PUT", "/api/rooms/"+room+"/read", "m0", map[string]any{"offset": 1 << 40})
		if status != http.StatusOK || ans["offset"] != float64(msgs[99].Offset) {
			t.Fatalf("read past the end: %d %v, want offset %d", status, ans, msgs[99].Offset)
		}
		readTo["m0"] = 100
		for j := range want {
			if msgs[j].Sender != "m0" {
				want[j] = max(0, want[j]-1)
			}
		}
		// the others still work after the refusals
		check(a, b)

		if rabbitMode {
			// every replica and RabbitMQ restart: the positions stay
			a.stop()
			b.stop()
			if err := rabbit.Restart(); err != nil {
				t.Fatal(err)
			}
			a, b = start(t, cfg), start(t, cfg)
			check(a, b)
		}

		// a direct conversation: two messages to an offline user, who
		// finds them unread on the other replica
		ann := errorsQueue(t, a, "dmann")
		sendDM(t, ann, "dmbob", "one")
		sendDM(t, ann, "dmbob", "two")
		dm := rooms.DirectID("dmann", "dmbob")
		waitRoom(t, b, dm)
		expectDM := func(user string, unread int) {
			t.Helper()
			err := rabbittest.WaitFor(10*time.Second, func() (bool, error) {
				e := listEntry(t, b, user, dm)
				return e != nil && e["unread"] == float64(unread) && e["direct"] == true, nil
			})
			if err != nil {
				t.Fatalf("%s's conversation: %v, want unread %d", user, listEntry(t, b, user, dm), unread)
			}
		}
		expectDM("dmbob", 2)
		expectDM("dmann", 0)
		got := historyAs(t, b, "dmbob", dm, 10)
		bob := errorsQueue(t, b, "dmbob")
		if err := bob.Subscribe("mine", "/user/queue/reads"); err != nil {
			t.Fatal(err)
		}
		status, _ = rest(t, a, "PUT", "/api/rooms/"+dm+"/read", "dmbob", map[string]any{"offset": got[0].Offset})
		if status != http.StatusOK {
			t.Fatalf("dmbob read: %d", status)
		}
		// his other session learns it
		m, err := bob.Expect(stomp.MESSAGE, 10*time.Second)
		var ev readstate.Event
		if err != nil || json.Unmarshal(m.Body, &ev) != nil || ev.RoomID != dm || ev.Positions["dmbob"] != got[0].Offset {
			t.Fatalf("dmbob's session: %v %v, want his position", m, err)
		}
		expectDM("dmbob", 0)
		if v := readView(t, b, "dmann", dm); !slices.Equal(v.Members, []string{"dmann", "dmbob"}) || v.Positions["dmbob"] != got[0].Offset {
			t.Fatalf("dmann's view of the conversation: %+v", v)
		}
	})
}

// allRead reports whether seen holds every position of readTo.
func allRead(seen map[string]int64, readTo map[string]int, msgs []rooms.Message) bool {
	for u, n := range readTo {
		if seen[u] < msgs[n-1].Offset {
			return false
		}
	}
	return true
}

// TestReadPositionsBounded: a replica admits rooms.reads.max_positions
// user-and-room pairs; a new pair beyond is refused with rate_limited over
// STOMP and 429 over REST, while positions already held keep moving and
// other users' requests keep working.
func TestReadPositionsBounded(t *testing.T) {
	cfg := testConfig(t, config.BrokerEmbedded)
	cfg.Rooms.Reads.MaxPositions = 2
	r := start(t, cfg)
	ids := make([]string, 3)
	ann := errorsQueue(t, r, "ann")
	for i := range ids {
		ids[i] = createRoom(t, r, unique(t)+fmt.Sprint(i))
		sendNumbered(t, ann, ids[i], "x", 1, 2)
	}
	offsets := make([]int64, 3)
	for i, id := range ids {
		offsets[i] = history(t, r, id, 1)[0].Offset
	}
	sendRead(t, ann, ids[0], offsets[0]-1)
	sendRead(t, ann, ids[1], offsets[1])
	f := stomp.New(stomp.SEND, "destination", "/app/rooms/"+ids[2]+"/read")
	f.Body = []byte(fmt.Sprintf(`{"offset":%d}`, offsets[2]))
	if err := ann.Send(f); err != nil {
		t.Fatal(err)
	}
	expectUserError(t, ann, "rate_limited", "too many read positions")
	status, body := rest(t, r, "PUT", "/api/rooms/"+ids[2]+"/read", "bob", map[string]any{"offset": offsets[2]})
	if status != http.StatusTooManyRequests || body["key"] != "rooms.reads.max_positions" {
		t.Fatalf("bob beyond the bound: %d %v", status, body)
	}
	// a position held moves on, and the session still works
	sendRead(t, ann, ids[0], offsets[0])
	if e := listEntry(t, r, "ann", ids[0]); e == nil || e["read"] != float64(offsets[0]) {
		t.Fatalf("ann's entry %v, want read %d", e, offsets[0])
	}
	if e := listEntry(t, r, "ann", ids[2]); e == nil || e["unread"] != nil {
		t.Fatalf("ann's entry of the refused room %v, want no summary", e)
	}
}

// TestReadsStreamDeleted: an operator deletes the chatrelay.reads stream
// under two running replicas. They follow a new one, a position set
// afterwards reaches the other replica, and the positions from before
// are written into the new stream, so a replica started later has them.
func TestReadsStreamDeleted(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	cfg.Broker.VHost = freshVHost(t)
	cfg.Rooms.Reads.Flush = 100 * time.Millisecond
	a, b := start(t, cfg), start(t, cfg)
	status, created := rest(t, a, "POST", "/api/rooms", "ra", map[string]any{"name": unique(t), "private": true, "members": []string{"rb"}})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, created)
	}
	room := created["id"].(string)
	waitRoom(t, b, room)
	sendNumbered(t, errorsQueue(t, a, "ra"), room, "m", 1, 3)
	msgs := historyAs(t, a, "ra", room, 3) // newest first
	if st, _ := rest(t, a, "PUT", "/api/rooms/"+room+"/read", "ra", map[string]any{"offset": msgs[2].Offset}); st != http.StatusOK {
		t.Fatalf("ra's read: %d", st)
	}
	waitReads := func(r *replica, want map[string]int64) {
		t.Helper()
		var v readstate.View
		err := rabbittest.WaitFor(30*time.Second, func() (bool, error) {
			v = readView(t, r, "ra", room)
			for u, o := range want {
				if got, ok := v.Positions[u]; !ok || got != o {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil {
			t.Fatalf("positions on %s: %v, want %v", r.addr, v.Positions, want)
		}
	}
	waitReads(b, map[string]int64{"ra": msgs[2].Offset})

	req, _ := http.NewRequest(http.MethodDelete, rabbit.MgmtURL()+"/api/queues/"+cfg.Broker.VHost+"/"+rabbitstore.ReadsStream, nil)
	req.SetBasicAuth("guest", "guest")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("delete %s: %s", rabbitstore.ReadsStream, resp.Status)
	}
	if st, _ := rest(t, b, "PUT", "/api/rooms/"+room+"/read", "rb", map[string]any{"offset": msgs[0].Offset}); st != http.StatusOK {
		t.Fatalf("rb's read after the delete: %d", st)
	}
	both := map[string]int64{"ra": msgs[2].Offset, "rb": msgs[0].Offset}
	waitReads(a, both)
	c := start(t, cfg)
	waitReads(c, both)
}
