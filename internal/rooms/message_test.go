package rooms

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestMessageJSON: a Message is its Post's fields, inlined in order, then
// offset; a Post (chat.ChatMessage, what is published) has no offset. The
// wire format clients parse is byte-for-byte the one before Post existed.
func TestMessageJSON(t *testing.T) {
	p := Post{ID: "m1", RoomID: "r1", Type: Talk, Sender: "kim", Message: "안녕", SentAt: time.Date(2026, 12, 6, 1, 2, 3, 4, time.UTC)}
	const post = `{"id":"m1","roomId":"r1","type":"TALK","sender":"kim","message":"안녕","sentAt":"2026-12-06T01:02:03.000000004Z"`
	b, err := json.Marshal(p)
	if err != nil || string(b) != post+"}" {
		t.Fatalf("Post: %s %v", b, err)
	}
	b, err = json.Marshal(Message{Post: p, Offset: 7})
	if err != nil || string(b) != post+`,"offset":7}` {
		t.Fatalf("Message: %s %v", b, err)
	}
	var back Message
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back.Post, p) || back.Offset != 7 {
		t.Fatalf("decoded %+v %v", back, err)
	}
}
