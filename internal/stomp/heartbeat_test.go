package stomp

import "testing"

func TestParseHeartBeat(t *testing.T) {
	for _, tc := range []struct {
		in     string
		cx, cy int
		ok     bool
	}{
		{"0,0", 0, 0, true},
		{"10000,5000", 10000, 5000, true},
		{" 1 , 2 ", 1, 2, true},
		{"+5,0", 5, 0, true},
		{"", 0, 0, false},
		{"5", 0, 0, false},
		{"-1,0", 0, 0, false},
		{"0,x", 0, 0, false},
		{"1,2,3", 0, 0, false},
	} {
		cx, cy, err := ParseHeartBeat(tc.in)
		if (err == nil) != tc.ok || cx != tc.cx || cy != tc.cy {
			t.Errorf("ParseHeartBeat(%q) = %d, %d, %v; want %d, %d, ok=%v", tc.in, cx, cy, err, tc.cx, tc.cy, tc.ok)
		}
	}
}
