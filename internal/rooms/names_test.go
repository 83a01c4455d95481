package rooms

import "testing"

func TestNameKey(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"Lobby", "LOBBY", true},
		{"lobby", "lobby", true},
		{"Straße", "STRASSE", false},
		{"lobby", "lobby2", false},
	} {
		if got := NameKey(tc.a) == NameKey(tc.b); got != tc.same {
			t.Errorf("NameKey(%q) == NameKey(%q) is %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}
