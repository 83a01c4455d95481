package server

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
)

// TestAttachments: a TALK's attachments, sent over STOMP on one replica,
// reach a subscriber on the other (RabbitMQ) checked and re-encoded, and
// come back from REST history and from an x-history replay; a push with
// attachments is stored the same way. A bad attachment is refused with
// bad_request (STOMP) or 400 (REST), nothing is stored, and the session
// goes on.
func TestAttachments(t *testing.T) {
	forEachBroker(t, func(t *testing.T, cfg config.Config) {
		cfg.HTTP.APIKey = "attach-key"
		a, b, room, bob := pairWithRoom(t, cfg)
		ann := errorsQueue(t, a, "ann")
		want := []rooms.Attachment{{URL: "https://cdn.example.com/%ED%95%9C.png", Name: "사진.png", Type: "image/png", Size: 2048}}

		// refused first: nothing published, the session goes on
		for _, bad := range []string{
			`[{"url":"http://cdn.example.com/x"}]`,
			`[{"url":"javascript:alert(1)"}]`,
			`[{"url":"https://cdn.example.com/x","size":-5}]`,
		} {
			f := stomp.New(stomp.SEND, "destination", "/app/chat.send")
			f.Body = []byte(fmt.Sprintf(`{"roomId":%q,"message":"bad","attachments":%s}`, room, bad))
			if err := ann.Send(f); err != nil {
				t.Fatal(err)
			}
			expectUserError(t, ann, "bad_request", "attachment")
		}
		f := stomp.New(stomp.SEND, "destination", "/app/chat.send", "receipt", "photo")
		f.Body = []byte(fmt.Sprintf(`{"roomId":%q,"message":"","attachments":[{"url":"HTTPS://cdn.example.com/%%ED%%95%%9C.png","name":"사진.png","type":"Image/PNG","size":2048}]}`, room))
		if err := ann.Send(f); err != nil {
			t.Fatal(err)
		}
		if _, err := ann.Expect(stomp.RECEIPT, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		live := readRoom(t, bob, "room", 1)[0]
		if !reflect.DeepEqual(live.Attachments, want) || live.Sender != "ann" || live.Message != "" {
			t.Fatalf("bob got %+v, want ann's photo %+v", live, want)
		}

		// a push: 400 for a bad link, 201 and stored for a good one
		if code := push(t, b, "/api/rooms/"+room+"/messages", "attach-key", `{"type":"SYSTEM","attachments":[{"url":"ftp://e.com/x"}]}`); code != http.StatusBadRequest {
			t.Fatalf("push with an ftp link: %d, want 400", code)
		}
		if code := push(t, b, "/api/rooms/"+room+"/messages", "attach-key", `{"type":"SYSTEM","message":"notice","attachments":[{"url":"https://e.com/terms.pdf","type":"application/pdf"}]}`); code != http.StatusCreated {
			t.Fatalf("push with an attachment: %d, want 201", code)
		}
		pushed := readRoom(t, bob, "room", 1)[0]
		if len(pushed.Attachments) != 1 || pushed.Attachments[0].URL != "https://e.com/terms.pdf" {
			t.Fatalf("pushed message %+v", pushed)
		}

		h := history(t, b, room, 50) // newest first
		if len(h) != 2 || !reflect.DeepEqual(h[1].Attachments, want) || len(h[0].Attachments) != 1 || h[0].Message != "notice" {
			t.Fatalf("history %+v, want the pushed notice and, before it, the photo (no refused message)", h)
		}
		carol := connect(t, a, "carol")
		if err := carol.Subscribe("replay", "/topic/room."+room, "x-history", "10"); err != nil {
			t.Fatal(err)
		}
		if got := readRoom(t, carol, "replay", 2); !reflect.DeepEqual(got[0].Attachments, want) {
			t.Fatalf("x-history replay %+v, want the photo first", got)
		}
	})
}
