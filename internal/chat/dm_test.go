package chat

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/router"
	"chatrelay/internal/stomp"
)

// dmPublication is one call to dmBroker.PublishToUser.
type dmPublication struct {
	user, queue string
	headers     stomp.Headers
	body        []byte
}

// dmBroker records private messages and fails on the user named in fail.
type dmBroker struct {
	mu     sync.Mutex
	got    []dmPublication
	failOn string
	err    error
}

func (b *dmBroker) Publish(string, stomp.Headers, []byte) error {
	return errors.New("unexpected Publish")
}

func (b *dmBroker) PublishToUser(user, queue string, h stomp.Headers, body []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if user == b.failOn {
		return b.err
	}
	b.got = append(b.got, dmPublication{user, queue, h, body})
	return nil
}

var dmNow = time.Date(2024, 5, 1, 21, 0, 0, 5, time.FixedZone("KST", 9*3600))

// newDMRouter registers the DM handler with fixed time and ids.
func newDMRouter(max int) *router.Router {
	r := router.New()
	RegisterDM(r, Options{
		Now:             func() time.Time { return dmNow },
		NewID:           func() string { return "dm-1" },
		MaxMessageBytes: max,
	})
	return r
}

func TestDMDelivers(t *testing.T) {
	tests := []struct {
		name, user, body string
		wantUsers        []string
		wantTo, wantText string
	}{
		{"to another user echoes to sender", "alice", `{"to":"bob","message":"hi"}`,
			[]string{"bob", "alice"}, "bob", "hi"},
		{"to self once", "alice", `{"to":"alice","message":"note"}`,
			[]string{"alice"}, "alice", "note"},
		{"unicode name and text", "alice", `{"to":"김철수","message":"안녕"}`,
			[]string{"김철수", "alice"}, "김철수", "안녕"},
		{"punctuated name", "alice", `{"to":"b.o_b@x+y~z-1","message":"x","extra":1}`,
			[]string{"b.o_b@x+y~z-1", "alice"}, "b.o_b@x+y~z-1", "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &dmBroker{}
			reply, err := newDMRouter(0).Dispatch(&router.Context{
				User: tt.user, Destination: "/app/chat.dm", Body: []byte(tt.body), Broker: b,
			})
			if err != nil || reply != nil {
				t.Fatalf("Dispatch = %v, %v", reply, err)
			}
			if len(b.got) != len(tt.wantUsers) {
				t.Fatalf("%d publications, want %d", len(b.got), len(tt.wantUsers))
			}
			want := DirectMessage{ID: "dm-1", From: tt.user, To: tt.wantTo, Message: tt.wantText, SentAt: dmNow.UTC()}
			for i, p := range b.got {
				if p.user != tt.wantUsers[i] || p.queue != DMQueue {
					t.Errorf("publication %d to %s/%s, want %s/%s", i, p.user, p.queue, tt.wantUsers[i], DMQueue)
				}
				if ct := p.headers.Value("content-type"); ct != "application/json" {
					t.Errorf("content-type %q", ct)
				}
				var got DirectMessage
				if err := json.Unmarshal(p.body, &got); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("message %+v, want %+v", got, want)
				}
				var raw map[string]any
				if err := json.Unmarshal(p.body, &raw); err != nil {
					t.Fatal(err)
				}
				if raw["sentAt"] != "2024-05-01T12:00:00.000000005Z" || len(raw) != 5 {
					t.Errorf("wire form %v", raw)
				}
			}
		})
	}
}

func TestDMRejects(t *testing.T) {
	tests := []struct {
		name, user, body string
		subscribe        bool
		max              int
		code             string
	}{
		{"malformed", "alice", `{"to":`, false, 0, router.CodeBadRequest},
		{"not an object", "alice", `["bob"]`, false, 0, router.CodeBadRequest},
		{"empty body", "alice", ``, false, 0, router.CodeBadRequest},
		{"missing to", "alice", `{"message":"hi"}`, false, 0, router.CodeBadRequest},
		{"empty to", "alice", `{"to":"","message":"hi"}`, false, 0, router.CodeBadRequest},
		{"numeric to", "alice", `{"to":7,"message":"hi"}`, false, 0, router.CodeBadRequest},
		{"to with space", "alice", `{"to":"bo b","message":"hi"}`, false, 0, router.CodeBadRequest},
		{"to with slash", "alice", `{"to":"bob/queue","message":"hi"}`, false, 0, router.CodeBadRequest},
		{"to wildcard", "alice", `{"to":"*","message":"hi"}`, false, 0, router.CodeBadRequest},
		{"to too long", "alice", `{"to":"` + strings.Repeat("b", 65) + `","message":"hi"}`, false, 0, router.CodeBadRequest},
		{"blank message", "alice", `{"to":"bob","message":" \n"}`, false, 0, router.CodeBadRequest},
		{"no message", "alice", `{"to":"bob"}`, false, 0, router.CodeBadRequest},
		{"too long", "alice", `{"to":"bob","message":"12345"}`, false, 4, router.CodeBadRequest},
		{"subscribe", "alice", ``, true, 0, router.CodeBadRequest},
		{"anonymous", "", `{"to":"bob","message":"hi"}`, false, 0, router.CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &dmBroker{}
			_, err := newDMRouter(tt.max).Dispatch(&router.Context{
				User: tt.user, Destination: "/app/chat.dm", Body: []byte(tt.body), Broker: b, Subscribe: tt.subscribe,
			})
			var e *router.Error
			if !errors.As(err, &e) || e.Code != tt.code {
				t.Fatalf("err = %v, want code %s", err, tt.code)
			}
			if len(b.got) != 0 {
				t.Errorf("published %d messages on error", len(b.got))
			}
		})
	}
}

func TestDMMaxLengthAccepted(t *testing.T) {
	b := &dmBroker{}
	_, err := newDMRouter(4).Dispatch(&router.Context{
		User: "alice", Destination: "/app/chat.dm", Body: []byte(`{"to":"bob","message":"1234"}`), Broker: b,
	})
	if err != nil || len(b.got) != 2 {
		t.Fatalf("err = %v, %d publications; want nil, 2", err, len(b.got))
	}
}

func TestDMPublishErrors(t *testing.T) {
	tests := []struct {
		name, failOn string
		wantPubs     int
	}{
		{"recipient fails: no echo", "bob", 0},
		{"echo fails after delivery", "alice", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &dmBroker{failOn: tt.failOn, err: errors.New("broker down")}
			_, err := newDMRouter(0).Dispatch(&router.Context{
				User: "alice", Destination: "/app/chat.dm", Body: []byte(`{"to":"bob","message":"hi"}`), Broker: b,
			})
			if !errors.Is(err, b.err) {
				t.Fatalf("err = %v, want wrapped broker error", err)
			}
			if len(b.got) != tt.wantPubs {
				t.Errorf("%d publications, want %d", len(b.got), tt.wantPubs)
			}
			var body map[string]string
			if err := json.Unmarshal(router.ErrorBody("/app/chat.dm", err), &body); err != nil {
				t.Fatal(err)
			}
			if body["code"] != router.CodeInternal || body["message"] != "internal error" {
				t.Errorf("error body %v leaks or misclassifies", body)
			}
		})
	}
}

func TestValidUserName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"alice", true},
		{"a", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("가", 64), true},
		{"A.b_c@d+e~f-9", true},
		{"", false},
		{strings.Repeat("x", 65), false},
		{"a b", false},
		{"a/b", false},
		{"a#b", false},
		{"a*b", false},
		{"a\nb", false},
		{"a:b", false},
	}
	for _, tt := range tests {
		if got := ValidUserName(tt.name); got != tt.ok {
			t.Errorf("ValidUserName(%q) = %v, want %v", tt.name, got, tt.ok)
		}
	}
}
