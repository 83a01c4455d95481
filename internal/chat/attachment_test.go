package chat

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"chatrelay/internal/rooms"
	"chatrelay/internal/router"
)

// TestSendAttachments: chat.send publishes a TALK's checked attachments
// (text optional then), and refuses bad ones, and attachments on other
// types, with bad_request and nothing published.
func TestSendAttachments(t *testing.T) {
	send := func(body string) (*fakeBroker, error) {
		b := &fakeBroker{}
		_, err := newRouter(0).Dispatch(&router.Context{Context: context.Background(), User: "alice", Destination: "/app/chat.send",
			Body: []byte(body), Broker: b})
		return b, err
	}
	b, err := send(`{"roomId":"7","attachments":[{"url":"HTTPS://cdn.example.com/p.png","name":"p.png","type":"image/png","size":5}]}`)
	if err != nil || len(b.got) != 1 {
		t.Fatalf("a TALK with an attachment and no text: %v, published %d", err, len(b.got))
	}
	var got rooms.Post
	if err := json.Unmarshal(b.got[0].body, &got); err != nil {
		t.Fatal(err)
	}
	want := []rooms.Attachment{{URL: "https://cdn.example.com/p.png", Name: "p.png", Type: "image/png", Size: 5}}
	if !reflect.DeepEqual(got.Attachments, want) || got.Type != Talk {
		t.Fatalf("published %s, want the attachment %+v", b.got[0].body, want)
	}
	for _, tt := range []struct{ body, want string }{
		{`{"roomId":"7","message":"x","attachments":[{"url":"http://e.com/x"}]}`, "must be https"},
		{`{"roomId":"7","message":"x","attachments":[{"url":"javascript:alert(1)"}]}`, "must be https"},
		{`{"roomId":"7","message":"x","attachments":"https://e.com/x"}`, "array"},
		{`{"roomId":"7","type":"ENTER","attachments":[{"url":"https://e.com/x"}]}`, "only TALK"},
		{`{"roomId":"7","attachments":[]}`, "needs text or attachments"},
	} {
		b, err := send(tt.body)
		var rerr *router.Error
		if !errors.As(err, &rerr) || rerr.Code != router.CodeBadRequest || !strings.Contains(rerr.Message, tt.want) {
			t.Errorf("%s: %v, want bad_request containing %q", tt.body, err, tt.want)
		}
		if len(b.got) != 0 {
			t.Errorf("%s: published %d", tt.body, len(b.got))
		}
	}
}
