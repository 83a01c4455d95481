package rooms

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseAttachments(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		rules    AttachmentRules
		want     []Attachment
	}{
		{"absent", ``, AttachmentRules{}, nil},
		{"null", `null`, AttachmentRules{}, nil},
		{"empty", `[]`, AttachmentRules{}, nil},
		{"full", `[{"url":"https://cdn.example.com/a.png","name":"a.png","type":"Image/PNG","size":1234}]`, AttachmentRules{},
			[]Attachment{{URL: "https://cdn.example.com/a.png", Name: "a.png", Type: "image/png", Size: 1234}}},
		{"sanitized", `[{"url":"HTTPS://cdn.example.com/x?y=1#z","name":" ../../etc/passwd\u0000\u202e ","type":"application/pdf"}]`, AttachmentRules{},
			[]Attachment{{URL: "https://cdn.example.com/x?y=1#z", Name: ".._.._etc_passwd__", Type: "application/pdf"}}},
		{"http when allowed", `[{"url":"http://files.example.com/1"}]`, AttachmentRules{AllowHTTP: true},
			[]Attachment{{URL: "http://files.example.com/1"}}},
		{"Korean name", `[{"url":"https://example.com/%ED%95%9C","name":"사진.jpg","type":"image/jpeg","size":10}]`, AttachmentRules{},
			[]Attachment{{URL: "https://example.com/%ED%95%9C", Name: "사진.jpg", Type: "image/jpeg", Size: 10}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAttachments(json.RawMessage(tt.in), tt.rules)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseAttachmentsRefuses(t *testing.T) {
	eleven := "[" + strings.TrimSuffix(strings.Repeat(`{"url":"https://e.com/x"},`, 11), ",") + "]"
	for _, tt := range []struct{ name, in, want string }{
		{"not an array", `{"url":"https://e.com/x"}`, "must be an array"},
		{"too many", eleven, "at most 10"},
		{"not an object", `["https://e.com/x"]`, "must be an object"},
		{"unknown field", `[{"url":"https://e.com/x","href":"y"}]`, "must be an object"},
		{"no url", `[{"name":"a"}]`, "url is missing"},
		{"http", `[{"url":"http://e.com/x"}]`, "must be https"},
		{"javascript", `[{"url":"javascript:alert(1)"}]`, "must be https"},
		{"data", `[{"url":"data:text/html,<script>"}]`, "must be https"},
		{"relative", `[{"url":"/etc/passwd"}]`, "must be https"},
		{"no host", `[{"url":"https:///x"}]`, "no host"},
		{"user info", `[{"url":"https://u:p@e.com/x"}]`, "user name"},
		{"space", `[{"url":"https://e.com/a b"}]`, "spaces"},
		{"newline", `[{"url":"https://e.com/a\nb"}]`, "control"},
		{"long url", `[{"url":"https://e.com/` + strings.Repeat("a", MaxAttachmentURLBytes) + `"}]`, "longer than"},
		{"long name", `[{"url":"https://e.com/x","name":"` + strings.Repeat("n", MaxAttachmentNameBytes+1) + `"}]`, "name is longer"},
		{"bad type", `[{"url":"https://e.com/x","type":"image png"}]`, "media type"},
		{"type with parameters", `[{"url":"https://e.com/x","type":"text/html; charset=utf-8"}]`, "media type"},
		{"negative size", `[{"url":"https://e.com/x","size":-1}]`, "size"},
		{"huge size", `[{"url":"https://e.com/x","size":9007199254740992}]`, "size"},
		{"fractional size", `[{"url":"https://e.com/x","size":1.5}]`, "must be an object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAttachments(json.RawMessage(tt.in), AttachmentRules{})
			if !errors.Is(err, ErrBadAttachment) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %+v, %v; want an error containing %q", got, err, tt.want)
			}
		})
	}
}

// TestPostCarriesAttachments: a message's attachments survive the JSON
// round trip its history makes, and a message without any has no
// "attachments" key (older readers see the same bytes as before).
func TestPostCarriesAttachments(t *testing.T) {
	p := Post{ID: "1", RoomID: "r", Type: Talk, Sender: "ann", Attachments: []Attachment{{URL: "https://e.com/x", Name: "x", Size: 3}}}
	b, _ := json.Marshal(p)
	var back Post
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, p) {
		t.Fatalf("round trip %s: %+v %v", b, back, err)
	}
	b, _ = json.Marshal(Post{ID: "2"})
	if strings.Contains(string(b), "attachments") {
		t.Fatalf("a message without attachments encodes %s", b)
	}
}

// FuzzParseAttachments: whatever a client sends, what is accepted is at
// most MaxAttachments https links of bounded length, with names free of
// control characters and path separators.
func FuzzParseAttachments(f *testing.F) {
	for _, seed := range []string{
		`[{"url":"https://e.com/x","name":"a/b","type":"image/png","size":1}]`,
		`[{"url":"javascript:alert(1)"}]`, `[{"url":"https://u@e.com"}]`, `null`, `[]`, `[1]`, `{"url":"x"}`,
		`[{"url":"https://e.com/%zz"}]`, `[{"url":"https://[::1]:443/x","name":"\u202e\u0000"}]`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseAttachments(json.RawMessage(in), AttachmentRules{})
		if err != nil {
			if !errors.Is(err, ErrBadAttachment) {
				t.Fatalf("error %v is not ErrBadAttachment", err)
			}
			return
		}
		if len(got) > MaxAttachments {
			t.Fatalf("%d attachments accepted", len(got))
		}
		for _, a := range got {
			if !strings.HasPrefix(a.URL, "https://") || len(a.URL) > MaxAttachmentURLBytes {
				t.Fatalf("accepted url %q", a.URL)
			}
			if strings.ContainsAny(a.Name, "/\\\x00\n\r") || len(a.Name) > MaxAttachmentNameBytes {
				t.Fatalf("accepted name %q", a.Name)
			}
			if a.Size < 0 {
				t.Fatalf("accepted size %d", a.Size)
			}
		}
	})
}
