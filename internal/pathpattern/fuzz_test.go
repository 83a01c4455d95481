package pathpattern

import (
	"strings"
	"testing"
)

// FuzzCompile checks that any pattern either fails to compile or compiles
// to one that matches its own literal text and captures every variable.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{"/app/**", "/topic/room.{id}", "/a/*/b", "/a/{x}/{y}/**", "/a/}", "/a/{x"} {
		f.Add(s, "/app/x")
	}
	f.Fuzz(func(t *testing.T, src, s string) {
		p, err := Compile(src)
		if err != nil {
			return
		}
		if p.Literal() && !p.Matches(src) {
			t.Fatalf("literal %q does not match itself", src)
		}
		if !strings.HasPrefix(src, p.Prefix()) {
			t.Fatalf("prefix %q of %q", p.Prefix(), src)
		}
		vars, _, ok := p.Match(s)
		if ok != p.Matches(s) {
			t.Fatalf("Match and Matches disagree on %q %q", src, s)
		}
		if ok && len(vars) != len(p.Vars()) {
			t.Fatalf("%q on %q: vars %v, want %v", src, s, vars, p.Vars())
		}
	})
}
