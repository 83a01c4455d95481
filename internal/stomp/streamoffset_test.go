package stomp

import "testing"

func TestValidStreamOffset(t *testing.T) {
	for v, want := range map[string]bool{
		"first": true, "last": true, "next": true,
		"offset=0": true, "offset=42": true, "timestamp=1700000000": true,
		"": false, "First": false, "offset=": false, "offset=-1": false,
		"offset=x": false, "timestamp=9223372036854775808": false, "42": false,
	} {
		if got := ValidStreamOffset(v); got != want {
			t.Errorf("ValidStreamOffset(%q) = %v, want %v", v, got, want)
		}
	}
}
