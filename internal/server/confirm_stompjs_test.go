package server

import (
	"encoding/json"
	"testing"
	"time"

	"chatrelay/internal/chat"
	"chatrelay/internal/jsclient"
)

// TestStompJSConfirmedReceipts: (e) @stomp/stompjs sends to a room with
// receipts and gets them; a SEND whose message is lost at first gets its
// RECEIPT once the message is stored; one that cannot be stored in time
// gets a not_stored MESSAGE on /user/queue/errors with its receipt id,
// and the client goes on.
func TestStompJSConfirmedReceipts(t *testing.T) {
	const timeout = 3 * time.Second
	r := start(t, confirmConfig(t, timeout))
	room := createRoom(t, r, unique(t))
	c := jsClient(t, r, "js-ann")
	c.Timeout = 15 * time.Second
	if err := c.Subscribe("e", "/user/queue/errors", map[string]string{"receipt": "sub-e"}); err != nil {
		t.Fatal(err)
	}
	reader := connect(t, r, "reader")
	if err := reader.Subscribe("s", "/topic/room."+room); err != nil {
		t.Fatal(err)
	}
	send := func(text, receipt string) error {
		body, _ := json.Marshal(map[string]string{"roomId": room, "message": text})
		return c.Send("/app/chat.send", string(body), map[string]string{"receipt": receipt})
	}
	for _, text := range []string{"one", "two"} {
		if err := send(text, "r-"+text); err != nil {
			t.Fatal(err)
		}
	}

	setBinding(t, room, false)
	rebound := false
	defer func() {
		if !rebound {
			setBinding(t, room, true)
		}
	}()
	sent := make(chan error, 1)
	go func() {
		// owns nothing: waits for the RECEIPT of the lost SEND
		sent <- send("three", "r-three")
	}()
	waitRepublished(t, r, 1)
	select {
	case err := <-sent:
		t.Fatalf("the SEND returned while its message was stored nowhere: %v", err)
	default:
	}
	setBinding(t, room, true)
	rebound = true
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if got := texts(readRoom(t, reader, "s", 3)); len(got) != 3 || got[2] != "three" {
		t.Fatalf("reader got %v", got)
	}

	setBinding(t, room, false)
	rebound = false
	c.Timeout = timeout + 5*time.Second
	go func() {
		// owns nothing: this SEND gets no RECEIPT
		sent <- send("never", "r-never")
	}()
	e, err := c.WaitMessage(timeout+5*time.Second, func(e jsclient.Event) bool { return e.Subscription == "e" })
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Code, Receipt string }
	if err := json.Unmarshal([]byte(e.Body), &body); err != nil || body.Code != chat.CodeNotStored ||
		body.Receipt != "r-never" || e.Headers["receipt-id"] != "r-never" {
		t.Fatalf("error message %+v: %v", e, err)
	}
	if err := <-sent; err == nil {
		t.Fatal("a RECEIPT came for a message that was not stored")
	}
	setBinding(t, room, true)
	rebound = true
	c.Timeout = 15 * time.Second
	if err := send("four", "r-four"); err != nil {
		t.Fatal(err)
	}
	if got := texts(readRoom(t, reader, "s", 1)); got[0] != "four" {
		t.Fatalf("reader got %v", got)
	}
}
