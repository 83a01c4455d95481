package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestNone(t *testing.T) {
	u, err := None{}.Authenticate(Credentials{Login: "alice"})
	if err != nil || u.User != "alice" || !u.Expires.IsZero() || u.Anonymous {
		t.Fatalf("%+v %v", u, err)
	}
	a, _ := None{}.Authenticate(Credentials{})
	b, _ := None{}.Authenticate(Credentials{})
	if !strings.HasPrefix(a.User, "anon-") || a == b || !a.Anonymous || !b.Anonymous {
		t.Fatalf("generated names %+v %+v", a, b)
	}
	for _, bad := range []string{"a b", "x/y", "line\nbreak", strings.Repeat("x", 65), "a:b"} {
		if _, err := (None{}).Authenticate(Credentials{Login: bad}); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("login %q accepted", bad)
		}
	}
}

func TestStatic(t *testing.T) {
	s := Static{Users: map[string]string{"alice": "pw"}}
	if u, err := s.Authenticate(Credentials{Login: "alice", Passcode: "pw"}); err != nil || u.User != "alice" || !u.Expires.IsZero() {
		t.Fatalf("%+v %v", u, err)
	}
	for _, c := range []Credentials{{Login: "alice", Passcode: "nope"}, {Login: "bob", Passcode: "pw"}, {}} {
		if _, err := s.Authenticate(c); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("%+v accepted", c)
		}
	}
}
