package destination

import (
	"testing"
)

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
