package apispec

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"chatrelay/internal/chat"
	"chatrelay/internal/moderation"
	"chatrelay/internal/readstate"
	"chatrelay/internal/revision"
	"chatrelay/internal/roomlist"
	"chatrelay/internal/rooms"
	"chatrelay/internal/router"
	"chatrelay/internal/typing"
)

// jsonFields returns the JSON names of t's fields (embedded structs
// inlined) and whether each is left out when empty.
func jsonFields(t reflect.Type) map[string]bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	out := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if f.Anonymous && name == "" {
			inner := f.Type
			omit := inner.Kind() == reflect.Pointer // a nil embedded pointer adds nothing
			for n, o := range jsonFields(inner) {
				out[n] = o || omit
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = strings.Contains(opts, "omitempty") // a nil pointer without it is written as null
	}
	return out
}

// TestAsyncAPISchemasMatchGoTypes: each message schema names exactly the
// JSON fields of the Go type that goes on the wire, and for what the
// server sends, a field the type always writes is required.
func TestAsyncAPISchemasMatchGoTypes(t *testing.T) {
	schemas := load(t).Components.Schemas
	cases := []struct {
		schema string
		value  any
		sent   bool // the server writes it: always-written fields are required
	}{
		{"Message", rooms.Message{}, true},
		{"Attachment", rooms.Attachment{}, true},
		{"Room", rooms.Room{}, true},
		{"TypingEvent", typing.Event{}, true},
		{"ReadEvent", readstate.Event{}, true},
		{"ReadView", readstate.View{}, true},
		{"RoomPage", roomlist.Page{}, true},
		{"RoomEntry", roomlist.Entry{}, true},
		{"OnlineEvent", roomlist.OnlineEvent{}, true},
		{"DirectMessage", chat.DirectMessage{}, true},
		{"Moderate", moderation.Request{}, false},
		{"Revise", revision.Request{}, false},
	}
	for _, c := range cases {
		s, ok := schemas[c.schema]
		if !ok {
			t.Errorf("no schema %s", c.schema)
			continue
		}
		fields := jsonFields(reflect.TypeOf(c.value))
		var inSchema, inGo []string
		for n := range s.Properties {
			inSchema = append(inSchema, n)
		}
		for n := range fields {
			inGo = append(inGo, n)
		}
		slices.Sort(inSchema)
		slices.Sort(inGo)
		if !slices.Equal(inSchema, inGo) {
			t.Errorf("schema %s has properties %v; %T writes %v", c.schema, inSchema, c.value, inGo)
			continue
		}
		for _, r := range s.Required {
			if fields[r] && c.sent {
				t.Errorf("schema %s requires %s, which %T leaves out when empty", c.schema, r, c.value)
			}
		}
		if c.sent {
			for n, omit := range fields {
				if !omit && !slices.Contains(s.Required, n) {
					t.Errorf("schema %s: %T always writes %s; make it required", c.schema, c.value, n)
				}
			}
		}
	}
	// the lastMessage preview of a room entry
	preview := schemas["RoomEntry"].Properties["lastMessage"]
	var names []string
	for n := range preview.Properties {
		names = append(names, n)
	}
	slices.Sort(names)
	var want []string
	for n := range jsonFields(reflect.TypeOf(readstate.Preview{})) {
		want = append(want, n)
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("RoomEntry.lastMessage has %v; readstate.Preview writes %v", names, want)
	}
}

// TestAsyncAPIErrorPayload: the body the router writes on
// /user/queue/errors has the fields of the UserError schema, its
// required ones included.
func TestAsyncAPIErrorPayload(t *testing.T) {
	s := load(t).Components.Schemas["UserError"]
	var body map[string]any
	if err := json.Unmarshal(router.ErrorBody("/app/chat.send", router.BadRequest("x")), &body); err != nil {
		t.Fatal(err)
	}
	for n := range body {
		if _, ok := s.Properties[n]; !ok {
			t.Errorf("an error body has %q, which the UserError schema does not name", n)
		}
	}
	for _, r := range s.Required {
		if _, ok := body[r]; !ok {
			t.Errorf("the UserError schema requires %q; an error body %v has none", r, body)
		}
	}
}
