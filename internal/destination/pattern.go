package destination

import (
	"strings"

	"chatrelay/internal/pathpattern"
)

// pattern is a compiled destination pattern (see pathpattern for the
// syntax: literal text, "*", "{name}", a trailing "/**").
type pattern = pathpattern.Pattern

// compilePattern parses and compiles a pattern.
func compilePattern(src string) (*pattern, error) { return pathpattern.Compile(src) }

// matchAny reports whether s matches one of the patterns.
func matchAny(ps []*pattern, s string) bool {
	for _, p := range ps {
		if p.Matches(s) {
			return true
		}
	}
	return false
}

// explicit reports whether one of the patterns literally starts with
// prefix, i.e. whether the configuration opts into that prefix by name.
func explicit(ps []*pattern, prefix string) bool {
	for _, p := range ps {
		if strings.HasPrefix(p.Prefix(), prefix) {
			return true
		}
	}
	return false
}
