package server

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/router"
	"chatrelay/internal/session"
	"chatrelay/internal/stomp"
)

// TestAppReplyTooLarge: an /app handler whose answer is larger than one
// reply may be (limits.max_frame_bytes, and the send queue) does not get
// the session closed as a slow consumer: the client gets a
// reply_too_large error on /user/queue/errors and goes on, and so does
// another client.
func TestAppReplyTooLarge(t *testing.T) {
	cfg := testConfig(t, config.BrokerEmbedded)
	r := start(t, cfg)
	huge := strings.Repeat("x", cfg.Limits.MaxFrameBytes+1)
	r.srv.Router().Handle("/app/huge", func(*router.Context) (any, error) { return map[string]string{"x": huge}, nil })
	r.srv.Router().Handle("/app/small", func(*router.Context) (any, error) { return "ok", nil })
	room := createRoom(t, r, unique(t))
	bystander := connect(t, r, "bystander")
	if err := bystander.Subscribe("room", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	c := errorsQueue(t, r, "asker")
	for i := 0; i < 20; i++ {
		if err := c.Send(stomp.New(stomp.SUBSCRIBE, "id", "big", "destination", "/app/huge", "receipt", "r")); err != nil {
			t.Fatal(err)
		}
		expectUserError(t, c, session.CodeReplyTooLarge, "ask for less")
		if f, err := c.Expect(stomp.RECEIPT, 5*time.Second); err != nil || f.Header("receipt-id") != "r" {
			t.Fatalf("receipt: %v %v", f, err)
		}
		if err := c.Send(stomp.New(stomp.UNSUBSCRIBE, "id", "big")); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Send(stomp.New(stomp.SUBSCRIBE, "id", "small", "destination", "/app/small")); err != nil {
		t.Fatal(err)
	}
	m, err := c.Expect(stomp.MESSAGE, 5*time.Second)
	var got string
	if err != nil || m.Header("subscription") != "small" || json.Unmarshal(m.Body, &got) != nil || got != "ok" {
		t.Fatalf("small reply after the refusals: %v %v", m, err)
	}
	sender := connect(t, r, "sender")
	sendNumbered(t, sender, room, "still", 1, 1)
	expectTexts(t, readRoom(t, bystander, "room", 1), "still", 1, 1)
	if n := r.srv.SlowConsumers(); n != 0 {
		t.Fatalf("%d sessions closed as slow consumers", n)
	}
}
