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
	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
)

// allHistory pages GET /api/rooms/{id}/messages back to the room's start
// and returns every message, oldest first.
func allHistory(t testing.TB, r *replica, room string) []rooms.Message {
	t.Helper()
	var out []rooms.Message
	before := ""
	for pages := 0; pages < 100; pages++ {
		resp, err := http.Get(fmt.Sprintf("%s/api/rooms/%s/messages?limit=500%s", r.HTTP(), room, before))
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Messages []rooms.Message
			Next     *int64
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("history: %d %v", resp.StatusCode, err)
		}
		out = append(out, page.Messages...)
		if page.Next == nil {
			break
		}
		before = fmt.Sprintf("&before=%d", *page.Next)
	}
	slices.Reverse(out)
	return out
}

// TestResumeCatchUpPaced resumes a room from offset 0 when its history
// is many times limits.send_queue_bytes (32 KiB here; 3,000 messages, with
// RabbitMQ most of them older than the feed's ring, so they are read back
// from the room's stream; the embedded broker keeps the newest 1,000): the
// client, reading normally, receives every message after offset 0 exactly
// once and in order, then live ones, and keeps its session. Before, the
// whole replay was queued at once and the session closed as a slow
// consumer.
func TestResumeCatchUpPaced(t *testing.T) { forEachBroker(t, testResumeCatchUpPaced) }

func testResumeCatchUpPaced(t *testing.T, cfg config.Config) {
	const total = 3000
	cfg.Limits.MaxFrameBytes = 16 << 10 // the send queue may not be smaller
	cfg.Limits.SendQueueBytes = 32 << 10
	r := start(t, cfg)
	room := createRoom(t, r, unique(t))
	// in bursts of 250: the embedded broker (go-stomp's server) can stall
	// under a burst of thousands of SENDs, a known gap it has
	writer := connect(t, r, "writer")
	for i := 0; i < total; i += 250 {
		sendNumbered(t, writer, room, "m", i, 250)
	}
	last := fmt.Sprintf("m-%d", total-1)
	if err := rabbittest.WaitFor(30*time.Second, func() (bool, error) {
		h := history(t, r, room, 1)
		return len(h) == 1 && h[0].Message == last, nil
	}); err != nil {
		t.Fatalf("%s never reached the room's history: %v", last, err)
	}
	// all of it with RabbitMQ; the embedded broker keeps the newest 1,000
	all := allHistory(t, r, room)
	var want []rooms.Message
	size := 0
	for _, m := range all {
		if m.Offset > 0 {
			want = append(want, m)
			b, _ := json.Marshal(m)
			size += len(b)
		}
	}
	if size < 4*cfg.Limits.SendQueueBytes {
		t.Fatalf("the replay is %d bytes, not many times the %d-byte send queue: the test proves nothing", size, cfg.Limits.SendQueueBytes)
	}

	c := connect(t, r, "resumer")
	began := time.Now()
	if err := c.Send(stomp.New(stomp.SUBSCRIBE, "id", "room", "destination", "/topic/room."+room, "x-resume-after", "0", "receipt", "resumed")); err != nil {
		t.Fatal(err)
	}
	got := make([]rooms.Message, 0, len(want))
	receipted := false
	for len(got) < len(want) || !receipted {
		f, err := c.Read(30 * time.Second)
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(got), len(want), err)
		}
		switch {
		case f.Command == stomp.RECEIPT && f.Header("receipt-id") == "resumed":
			receipted = true
		case f.Command == stomp.MESSAGE && f.Header("subscription") == "room":
			var m rooms.Message
			if err := json.Unmarshal(f.Body, &m); err != nil {
				t.Fatalf("room message %q: %v", f.Body, err)
			}
			if k := len(got); k >= len(want) || m.ID != want[k].ID || m.Offset != want[k].Offset {
				t.Fatalf("message %d is %q at offset %d, want %+v", k, m.Message, m.Offset, want[min(k, len(want)-1)])
			}
			got = append(got, m)
		default:
			t.Fatalf("after %d of %d messages: %s %q %q", len(got), len(want), f.Command, f.Header("message"), f.Body)
		}
	}
	t.Logf("replayed %d messages (%d KiB) through a %d KiB send queue in %v", len(got), size>>10, cfg.Limits.SendQueueBytes>>10, time.Since(began).Round(time.Millisecond))
	stillOpen(t, c)
	chatRoundTrip(t, c, "room", room, "live after the replay")
}
