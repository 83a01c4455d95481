package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/confirm"
	"chatrelay/internal/router"
)

// recordingConfirmer keeps what chat.send hands to the Confirmer; the
// test decides the verdict. (The Confirmer itself is tested against
// RabbitMQ in package confirm, and the whole path in package server.)
type recordingConfirmer struct {
	room, id string
	body     []byte
	done     func(error)
}

func (r *recordingConfirmer) Send(roomID, msgID string, body []byte, done func(error)) {
	r.room, r.id, r.body, r.done = roomID, msgID, body, done
}

func (r *recordingConfirmer) Timeout() time.Duration { return 10 * time.Second }

// TestSendWithConfirmer: with a Confirmer chat.send publishes nothing
// itself, hands the message to the Confirmer, and finishes the frame with
// the Confirmer's verdict as the sender's error.
func TestSendWithConfirmer(t *testing.T) {
	for _, tt := range []struct {
		verdict error
		code    string // "" for none
	}{
		{nil, ""},
		{fmt.Errorf("%w: gave up", confirm.ErrNotStored), CodeNotStored},
		{rooms.ErrNotFound, router.CodeNotFound},
		{confirm.ErrClosed, CodeUnavailable},
		{errors.New("boom"), router.CodeInternal},
	} {
		rc := &recordingConfirmer{}
		r := router.New()
		Register(r, Options{Now: func() time.Time { return fixedNow }, NewID: func() string { return "id-9" }, Confirm: rc})
		fb := &fakeBroker{}
		finished := 0
		var got error
		c := &router.Context{User: "alice", Destination: "/app/chat.send", Body: []byte(`{"roomId":"7","message":"hi"}`), Broker: fb,
			Later: func() func(error) { return func(err error) { finished++; got = err } }}
		if _, err := r.Dispatch(c); err != nil {
			t.Fatal(err)
		}
		if len(fb.got) != 0 || rc.room != "7" || rc.id != "id-9" || finished != 0 {
			t.Fatalf("published %d, confirmer %q %q, finished %d", len(fb.got), rc.room, rc.id, finished)
		}
		var m ChatMessage
		if err := json.Unmarshal(rc.body, &m); err != nil || m.ID != "id-9" || m.Sender != "alice" || m.Message != "hi" {
			t.Fatalf("body %s: %v", rc.body, err)
		}
		rc.done(tt.verdict)
		if finished != 1 {
			t.Fatalf("finished %d times", finished)
		}
		var body struct{ Code string }
		if got != nil {
			_ = json.Unmarshal(router.ErrorBody("/app/chat.send", got), &body)
		}
		if (got == nil) != (tt.code == "") || body.Code != tt.code {
			t.Fatalf("verdict %v: sender sees %v (code %q), want code %q", tt.verdict, got, body.Code, tt.code)
		}
	}
}
