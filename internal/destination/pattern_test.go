package destination

import (
	"reflect"
	"testing"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		s       string
		ok      bool
		vars    map[string]string
		rest    string
	}{
		{"/app/**", "/app/chat.send", true, nil, "/chat.send"},
		{"/app/**", "/app/a/b/c", true, nil, "/a/b/c"},
		{"/app/**", "/app", true, nil, ""},
		{"/app/**", "/application", false, nil, ""},
		{"/**", "/anything/at/all", true, nil, "/anything/at/all"},
		{"/topic/room.*", "/topic/room.7", true, nil, ""},
		{"/topic/room.*", "/topic/room.", true, nil, ""},
		{"/topic/room.*", "/topic/room/7", false, nil, ""},
		{"/topic/room.{id}", "/topic/room.7", true, map[string]string{"id": "7"}, ""},
		{"/topic/room.{id}", "/topic/room.", false, nil, ""},
		{"/a/{x}/b/{y}", "/a/1/b/2", true, map[string]string{"x": "1", "y": "2"}, ""},
		{"/a/{x}/**", "/a/1/b/2", true, map[string]string{"x": "1"}, "/b/2"},
		{"/a.b", "/aXb", false, nil, ""},
		{"/a", "/a\n", false, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.s, func(t *testing.T) {
			p, err := compilePattern(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			vars, rest, ok := p.match(tt.s)
			if ok != tt.ok || !reflect.DeepEqual(vars, tt.vars) || rest != tt.rest {
				t.Errorf("match = %v %q %v, want %v %q %v", vars, rest, ok, tt.vars, tt.rest, tt.ok)
			}
		})
	}
}

func TestPatternPrefix(t *testing.T) {
	tests := map[string]string{
		"/exchange/**":            "/exchange/",
		"/exchange/amq.fanout/**": "/exchange/amq.fanout/",
		"/amq/queue/room.*":       "/amq/queue/room.",
		"/topic/{id}":             "/topic/",
		"/app/chat.send":          "/app/chat.send",
	}
	for src, want := range tests {
		p, err := compilePattern(src)
		if err != nil {
			t.Fatal(err)
		}
		if p.prefix != want {
			t.Errorf("prefix(%q) = %q, want %q", src, p.prefix, want)
		}
	}
}

func TestAliasApply(t *testing.T) {
	tests := []struct {
		from, to, in, want string
		ok                 bool
	}{
		{"/pub/chat/message", "/app/chat.send", "/pub/chat/message", "/app/chat.send", true},
		{"/pub/chat/message", "/app/chat.send", "/pub/chat/message/x", "", false},
		{"/sub/chat/room/{id}", "/topic/room.{id}", "/sub/chat/room/42", "/topic/room.42", true},
		{"/sub/chat/room/{id}", "/topic/room.{id}", "/sub/chat/room/42/x", "", false},
		{"/sub/**", "/topic/**", "/sub/a/b", "/topic/a/b", true},
		{"/sub/**", "/topic/**", "/sub", "/topic", true},
		{"/r/{a}/{b}/**", "/topic/{b}.{a}/**", "/r/1/2/3/4", "/topic/2.1/3/4", true},
		{"/**", "/app/**", "/x/y", "/app/x/y", true},
	}
	for _, tt := range tests {
		a, err := compileAlias(Alias{From: tt.from, To: tt.to})
		if err != nil {
			t.Fatal(err)
		}
		got, ok := a.apply(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("%s -> %s on %q = %q %v, want %q %v", tt.from, tt.to, tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
