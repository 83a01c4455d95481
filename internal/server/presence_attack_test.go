package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// defaultPresenceConfig is testConfig with what the presence attacks
// need at its default: ENTER/LEAVE messages on, the presence limits and
// the SEND rate as shipped.
func defaultPresenceConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := testConfig(t, config.BrokerRabbitMQ)
	d := config.Defaults()
	cfg.Rooms.Presence = d.Rooms.Presence
	cfg.Limits.SendRate = d.Limits.SendRate
	// presence coalescing must hold on its own: the default
	// limits.subscribe_rate would close a churner after ~90 pairs (that
	// defence has its own tests, and TestCombinedFlood runs both), and
	// these tests poll /app/rooms faster than a person would
	cfg.Limits.SubscribeRate = 0
	return cfg
}

// readUntil reads room messages from c on subscription sub until one
// satisfies stop (returned last), failing after timeout.
func readUntil(t *testing.T, c *stomptest.Client, sub string, timeout time.Duration, stop func(rooms.Message) bool) []rooms.Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var out []rooms.Message
	for {
		f, err := c.Expect(stomp.MESSAGE, time.Until(deadline))
		if err != nil {
			t.Fatalf("after %d messages %v: %v", len(out), summary(out), err)
		}
		if f.Header("subscription") != sub {
			continue
		}
		var m rooms.Message
		if err := json.Unmarshal(f.Body, &m); err != nil {
			t.Fatalf("room message %q: %v", f.Body, err)
		}
		out = append(out, m)
		if stop(m) {
			return out
		}
	}
}

// summary shortens messages to "TYPE sender text" for failure messages.
func summary(ms []rooms.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = strings.TrimSpace(fmt.Sprintf("%s %s %s", m.Type, m.Sender, m.Message))
	}
	return out
}

// presenceOf counts ENTER and LEAVE messages in ms.
func presenceOf(ms []rooms.Message) int {
	n := 0
	for _, m := range ms {
		if m.Type == rooms.Enter || m.Type == rooms.Leave {
			n++
		}
	}
	return n
}

// streamMessages reads the room stream's message count from the
// management API (0 while the stream is not listed yet).
func streamMessages(t *testing.T, room string) int {
	t.Helper()
	qs, err := rabbit.Queues()
	if err != nil {
		t.Fatal(err)
	}
	if q, ok := rabbittest.RoomStream(qs, "/", room); ok {
		return q.Messages
	}
	return 0
}

// TestPresenceChurnDoesNotFloodHistory performs issue 12's attack with
// the default presence config (no SUBSCRIBE rate): one client churns 300 SUBSCRIBE/UNSUBSCRIBE pairs
// on a room topic while another user talks. The room's history holds at
// most a few ENTER/LEAVE (the attacker's one ENTER and one LEAVE), every
// TALK sent before and during the churn is still within x-history and
// REST history, a member on another replica keeps its session and gets
// every TALK, and RabbitMQ's stream holds no more than that.
func TestPresenceChurnDoesNotFloodHistory(t *testing.T) {
	cfg := defaultPresenceConfig(t)
	a, b := start(t, cfg), start(t, cfg)
	room := createRoom(t, a, unique(t))
	waitRoom(t, b, room)
	before := streamMessages(t, room)

	wendy := connect(t, b, "wendy")
	if err := wendy.Subscribe("w", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	readUntil(t, wendy, "w", 20*time.Second, func(m rooms.Message) bool { return m.Type == rooms.Enter && m.Sender == "wendy" })
	tom := connect(t, a, "tom")
	sendNumbered(t, tom, room, "talk", 0, 5)

	mallory := connect(t, a, "mallory")
	deadline := time.Now().Add(60 * time.Second)
	talks := 5
	for i := 0; i < 300 && time.Now().Before(deadline); i++ {
		for _, f := range []*stomp.Frame{
			stomp.New(stomp.SUBSCRIBE, "id", "c", "destination", "/topic/room."+room),
			stomp.New(stomp.UNSUBSCRIBE, "id", "c"),
		} {
			if err := mallory.Send(f); err != nil {
				t.Fatalf("pair %d: %v", i, err)
			}
		}
		if i%30 == 29 {
			sendNumbered(t, tom, room, "talk", talks, 1)
			talks++
		}
	}
	// the last UNSUBSCRIBE's receipt: the server has handled all 600
	// (room messages reach mallory's subscriptions meanwhile)
	if err := mallory.Send(stomp.New(stomp.UNSUBSCRIBE, "id", "c", "receipt", "done")); err != nil {
		t.Fatal(err)
	}
	cutOff := false
	for {
		f, err := mallory.Read(60 * time.Second)
		if err != nil {
			t.Fatalf("churn not handled: %v", err)
		}
		if f.Command == stomp.ERROR {
			// a SUBSCRIBE rate limit may end the attacker's session
			t.Logf("the churning client was cut off: %s", f.Header("message"))
			cutOff = true
			break
		}
		if f.Command == stomp.RECEIPT && f.Header("receipt-id") == "done" {
			break
		}
	}
	if talks != 15 {
		t.Fatalf("the churn ran out of time after %d talks", talks-5)
	}

	// wendy gets every TALK; mallory's LEAVE comes after the grace
	got := readUntil(t, wendy, "w", 30*time.Second, func(m rooms.Message) bool { return m.Type == rooms.Leave && m.Sender == "mallory" })
	var said []rooms.Message
	for _, m := range got {
		if m.Type == rooms.Talk {
			said = append(said, m)
		}
	}
	expectTexts(t, said, "talk", 0, 14)
	if n := presenceOf(got); n > 2 {
		t.Fatalf("wendy got %d ENTER/LEAVE during the churn, want at most mallory's ENTER and LEAVE: %v", n, summary(got))
	}
	if n := a.srv.announcer.Pending(); n != 0 {
		t.Fatalf("%d announcements still pending after the LEAVE", n)
	}

	// x-history: 20 (wendy's ENTER, 15 TALKs, mallory's ENTER and LEAVE)
	late := connect(t, b, "late")
	if err := late.Subscribe("h", "/topic/room."+room, "x-history", "20"); err != nil {
		t.Fatal(err)
	}
	replay := readUntil(t, late, "h", 20*time.Second, func(m rooms.Message) bool { return m.Type == rooms.Leave && m.Sender == "mallory" })
	said = said[:0]
	for _, m := range replay {
		if m.Type == rooms.Talk {
			said = append(said, m)
		}
	}
	expectTexts(t, said, "talk", 0, 14)
	// REST: the 15 TALKs and at most 4 ENTER/LEAVE (wendy's, late's
	// and mallory's ENTER, mallory's LEAVE)
	rest := history(t, a, room, 100) // newest first
	said = said[:0]
	for i := len(rest) - 1; i >= 0; i-- {
		if rest[i].Type == rooms.Talk {
			said = append(said, rest[i])
		}
	}
	expectTexts(t, said, "talk", 0, 14)
	if n := presenceOf(rest); n > 4 || len(rest) > 19 {
		t.Fatalf("REST history: %d messages, %d ENTER/LEAVE, want at most 19 and 4: %v", len(rest), n, summary(rest))
	}

	// RabbitMQ's stream holds what the history shows, nothing more
	if err := rabbittest.WaitFor(30*time.Second, func() (bool, error) {
		return streamMessages(t, room)-before >= len(rest), nil
	}); err != nil {
		t.Logf("management API still counts %d messages in room.%s (history %d)", streamMessages(t, room), room, len(rest))
	}
	if n := streamMessages(t, room) - before; n > 19 {
		t.Fatalf("stream room.%s holds %d messages after the churn, want at most 19", room, n)
	}
	// wendy's session and the attacker's are both still up
	sendNumbered(t, tom, room, "after", 0, 1)
	readUntil(t, wendy, "w", 20*time.Second, func(m rooms.Message) bool { return m.Message == "after-0" })
	if !cutOff {
		if err := mallory.Send(stomp.New(stomp.SUBSCRIBE, "id", "again", "destination", "/app/rooms")); err != nil {
			t.Fatalf("the churning client's own session: %v", err)
		}
	}
}

// TestPresenceQuickRejoinPublishesNothing: a user who leaves a room and
// re-joins within rooms.presence.leave_grace (default config) publishes
// neither LEAVE nor ENTER; the room's members see only the talk.
func TestPresenceQuickRejoinPublishesNothing(t *testing.T) {
	cfg := defaultPresenceConfig(t)
	a := start(t, cfg)
	room := createRoom(t, a, unique(t))
	watcher := connect(t, a, "watcher")
	if err := watcher.Subscribe("w", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	readUntil(t, watcher, "w", 20*time.Second, func(m rooms.Message) bool { return m.Sender == "watcher" })
	nina := connect(t, a, "nina")
	if err := nina.Subscribe("n", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	readUntil(t, watcher, "w", 20*time.Second, func(m rooms.Message) bool { return m.Type == rooms.Enter && m.Sender == "nina" })

	// a reload: unsubscribe, subscribe again
	unsubscribe(t, nina, "n")
	if n := a.srv.announcer.Pending(); n != 1 {
		t.Fatalf("%d announcements pending after the UNSUBSCRIBE, want nina's held LEAVE", n)
	}
	if err := nina.Subscribe("n2", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	if n := a.srv.announcer.Pending(); n != 0 {
		t.Fatalf("%d announcements pending after the re-join, want the LEAVE cancelled", n)
	}
	// tom is in no room: his RECEIPT is the next frame he gets
	tom := connect(t, a, "tom")
	sendNumbered(t, tom, room, "back", 0, 1)
	got := readUntil(t, watcher, "w", 20*time.Second, func(m rooms.Message) bool { return m.Type == rooms.Talk })
	if len(got) != 1 || got[0].Message != "back-0" {
		t.Fatalf("watcher got %v, want only tom's talk", summary(got))
	}
	if m := members(t, a, room); !contains(m, "nina") || !contains(m, "watcher") {
		t.Fatalf("members %v", m)
	}
}

// TestPresenceBigRoomIsSilent fills a room past the default
// rooms.presence.max_broadcast_members (200) from two replicas: later
// joins and leaves publish no ENTER or LEAVE, while the REST members,
// /app/rooms/{id}/members and /app/rooms online counts follow them.
func TestPresenceBigRoomIsSilent(t *testing.T) {
	cfg := defaultPresenceConfig(t)
	if cfg.Rooms.Presence.MaxBroadcastMembers != 200 {
		t.Fatalf("default max_broadcast_members %d", cfg.Rooms.Presence.MaxBroadcastMembers)
	}
	a, b := start(t, cfg), start(t, cfg)
	room := createRoom(t, a, unique(t))
	waitRoom(t, b, room)
	const crowd = 201
	var wg sync.WaitGroup
	errs := make(chan error, crowd)
	sem := make(chan struct{}, 16)
	for i := 0; i < crowd; i++ {
		r := a
		if i%2 == 1 {
			r = b
		}
		c := dial(t, r)
		wg.Add(1)
		sem <- struct{}{}
		// one goroutine per member joining (16 at a time): it owns c
		// until it has subscribed
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := c.Connect("login", fmt.Sprintf("crowd-%03d", i)); err != nil {
				errs <- err
				return
			}
			if err := c.Subscribe("s", "/topic/room."+room); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	count := func(r *replica) int { return len(members(t, r, room)) }
	if err := rabbittest.WaitFor(10*time.Second, func() (bool, error) { return count(a) == crowd && count(b) == crowd, nil }); err != nil {
		t.Fatalf("members %d on A, %d on B, want %d", count(a), count(b), crowd)
	}

	watcher := connect(t, b, "watcher")
	if err := watcher.Subscribe("w", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	// counter is in no room: it sends the mark and asks /app/...
	counter := connect(t, a, "counter")
	// whatever the crowd's joins published is before this mark: the
	// ENTER messages of a room without a stream are posted in order, a
	// registry round trip each, so they may still be queued
	if err := rabbittest.WaitFor(20*time.Second, func() (bool, error) {
		return a.srv.announcer.Pending()+b.srv.announcer.Pending()+postsQueued(a)+postsQueued(b) == 0, nil
	}); err != nil {
		t.Fatalf("presence messages still queued: %d on A, %d on B", postsQueued(a), postsQueued(b))
	}
	sendNumbered(t, counter, room, "mark", 0, 1)
	readUntil(t, watcher, "w", 20*time.Second, func(m rooms.Message) bool { return m.Message == "mark-0" })
	pending := a.srv.announcer.Pending() + b.srv.announcer.Pending()
	if pending != 0 {
		t.Fatalf("%d announcements pending for joins into a room of %d", pending, crowd)
	}
	zed := connect(t, a, "zed")
	if err := zed.Subscribe("z", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	if err := rabbittest.WaitFor(10*time.Second, func() (bool, error) { return contains(members(t, b, room), "zed"), nil }); err != nil {
		t.Fatal("zed not listed on B")
	}
	if err := rabbittest.WaitFor(10*time.Second, func() (bool, error) { return online(t, counter, room) == crowd+2, nil }); err != nil {
		t.Fatalf("/app/rooms says %d online, want %d (REST: %d on A, %d on B)", online(t, counter, room), crowd+2, count(a), count(b))
	}
	unsubscribe(t, zed, "z")
	if n := a.srv.announcer.Pending(); n != 0 {
		t.Fatalf("%d announcements pending after zed left a room of %d", n, crowd+2)
	}
	if err := rabbittest.WaitFor(10*time.Second, func() (bool, error) { return !contains(members(t, b, room), "zed"), nil }); err != nil {
		t.Fatal("zed still listed on B")
	}
	if err := rabbittest.WaitFor(10*time.Second, func() (bool, error) { return appMembers(t, counter, room) == crowd+1, nil }); err != nil {
		t.Fatalf("/app/rooms/%s/members lists %d, want %d", room, appMembers(t, counter, room), crowd+1)
	}
	sendNumbered(t, zed, room, "hi", 0, 1) // zed has left: no room message precedes the RECEIPT
	got := readUntil(t, watcher, "w", 20*time.Second, func(m rooms.Message) bool { return m.Type == rooms.Talk })
	if len(got) != 1 {
		t.Fatalf("watcher got %v, want zed's talk alone (no ENTER or LEAVE)", summary(got))
	}
}

// unsubscribe ends subscription id and waits for the receipt, skipping
// the room messages that arrive meanwhile.
func unsubscribe(t *testing.T, c *stomptest.Client, id string) {
	t.Helper()
	if err := c.Send(stomp.New(stomp.UNSUBSCRIBE, "id", id, "receipt", "unsub-"+id)); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := c.Read(10 * time.Second)
		if err != nil {
			t.Fatalf("UNSUBSCRIBE %s: %v", id, err)
		}
		if f.Command == stomp.RECEIPT && f.Header("receipt-id") == "unsub-"+id {
			return
		}
		if f.Command != stomp.MESSAGE {
			t.Fatalf("UNSUBSCRIBE %s: got %s %q", id, f.Command, f.Header("message"))
		}
	}
}

// online answers the room's online count from SUBSCRIBE /app/rooms.
func online(t *testing.T, c *stomptest.Client, room string) int {
	t.Helper()
	body := appAnswer(t, c, "/app/rooms")
	var list struct {
		Rooms []struct {
			ID     string `json:"id"`
			Online int    `json:"online"`
		} `json:"rooms"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("/app/rooms %q: %v", body, err)
	}
	for _, r := range list.Rooms {
		if r.ID == room {
			return r.Online
		}
	}
	t.Fatalf("room %s not in /app/rooms", room)
	return 0
}

// appMembers answers the room's member count from SUBSCRIBE
// /app/rooms/{id}/members.
func appMembers(t *testing.T, c *stomptest.Client, room string) int {
	t.Helper()
	body := appAnswer(t, c, "/app/rooms/"+room+"/members")
	var v struct{ Members []string }
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("members %q: %v", body, err)
	}
	return len(v.Members)
}

// appAnswer subscribes c to an /app destination and returns the one
// answer, skipping anything else.
func appAnswer(t *testing.T, c *stomptest.Client, dest string) []byte {
	t.Helper()
	id := "app-" + dest
	if err := c.Send(stomp.New(stomp.SUBSCRIBE, "id", id, "destination", dest)); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Send(stomp.New(stomp.UNSUBSCRIBE, "id", id)) }()
	for {
		f, err := c.Expect(stomp.MESSAGE, 10*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", dest, err)
		}
		if f.Header("subscription") == id {
			return f.Body
		}
	}
}

// postsQueued returns how many messages r's store has been handed for a
// room without a stream and not yet posted or published (0 without one).
func postsQueued(r *replica) int {
	if r.srv.poster == nil {
		return 0
	}
	return r.srv.poster.Queued()
}
