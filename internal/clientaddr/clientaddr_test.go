package clientaddr

import "testing"

func TestKey(t *testing.T) {
	cases := []struct{ in, want string }{
		{"127.0.0.1:5555", "127.0.0.1"},
		{"192.0.2.7", "192.0.2.7"},
		{"[::1]:80", "::/64"},
		{"[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::99", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:1", "fe80::/64"},
		{"[::ffff:198.51.100.4]:9", "198.51.100.4"},
		{"pipe", "pipe"},
		{"@:0", "@:0"},
		{"", ""},
	}
	for _, c := range cases {
		if got := Key(c.in); got != c.want {
			t.Errorf("Key(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestKeyGroupsSlash64 is the property the limits rely on: every address
// of one /64 is one client, and the next /64 is another.
func TestKeyGroupsSlash64(t *testing.T) {
	a := Key("[2001:db8:0:1::1]:1")
	for _, addr := range []string{"[2001:db8:0:1:ffff:ffff:ffff:ffff]:2", "[2001:db8:0:1:1234::]:3"} {
		if got := Key(addr); got != a {
			t.Errorf("Key(%q) = %q, want %q (same /64)", addr, got, a)
		}
	}
	if got := Key("[2001:db8:0:2::1]:1"); got == a {
		t.Errorf("Key of another /64 = %q, same as %q", got, a)
	}
}
