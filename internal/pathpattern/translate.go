// Package pathpattern compiles the path patterns of the relay's
// configuration and of the /app router: "/"-separated text with "*" (any
// run of characters except "/"), "{name}" (a non-empty run except "/",
// captured) and an optional trailing "/**" (the rest of the path). It is
// the one reading of that syntax; destination and router build on it and
// keep their own error texts.
package pathpattern

import (
	"fmt"
	"regexp"
	"strings"
)

// Kind says what is wrong with a pattern body.
type Kind int

// The kinds of Error that Translate returns.
const (
	UnbalancedClose Kind = iota // a "}" with no "{"
	UnclosedVar                 // a "{" with no "}"
	BadVarName                  // "{...}" whose name is not [A-Za-z_][A-Za-z0-9_]*
	DuplicateVar                // the same "{name}" twice
)

// Error is a malformed pattern body. Callers turn it into their own
// message.
type Error struct {
	Kind Kind
	Name string // the variable's name, for BadVarName and DuplicateVar
}

// Error returns a short description without the pattern.
func (e *Error) Error() string {
	switch e.Kind {
	case UnbalancedClose:
		return "unbalanced }"
	case UnclosedVar:
		return "unbalanced {"
	case BadVarName:
		return fmt.Sprintf("bad variable name %q", e.Name)
	default:
		return fmt.Sprintf("variable {%s} appears twice", e.Name)
	}
}

// Fragment is a translated pattern body: a regexp source without anchors,
// with one capture group per variable, in order.
type Fragment struct {
	Regexp string
	Vars   []string // variable names, in capture order
	LitLen int      // bytes of literal text
	Stars  int      // "*" wildcards
}

// Translate turns body (a pattern or one segment of it, without a
// trailing "/**") into a regexp fragment: literal text quoted, "*" as
// [^/]*, "{name}" as ([^/]+). With checkDup a variable seen twice is a
// DuplicateVar error where it occurs; without, the caller checks.
func Translate(body string, checkDup bool) (Fragment, error) {
	var fr Fragment
	var b strings.Builder
	for i := 0; i < len(body); {
		switch body[i] {
		case '*':
			b.WriteString(`[^/]*`)
			fr.Stars++
			i++
		case '{':
			name, n, err := ParseVar(body[i:])
			if err != nil {
				return Fragment{}, err
			}
			if checkDup {
				for _, v := range fr.Vars {
					if v == name {
						return Fragment{}, &Error{Kind: DuplicateVar, Name: name}
					}
				}
			}
			fr.Vars = append(fr.Vars, name)
			b.WriteString(`([^/]+)`)
			i += n
		case '}':
			return Fragment{}, &Error{Kind: UnbalancedClose}
		default:
			j := i
			for j < len(body) && !strings.ContainsRune("*{}", rune(body[j])) {
				j++
			}
			b.WriteString(regexp.QuoteMeta(body[i:j]))
			fr.LitLen += j - i
			i = j
		}
	}
	fr.Regexp = b.String()
	return fr, nil
}

// varRE finds well-formed {name} variables.
var varRE = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Shape returns the pattern with every well-formed "{name}" written "*",
// so that patterns differing only in their variables' names compare
// equal.
func Shape(pattern string) string { return varRE.ReplaceAllString(pattern, "*") }

// ParseVar parses "{name}" at the start of s and returns the name and the
// number of bytes consumed; its error is an *Error of kind UnclosedVar or
// BadVarName.
func ParseVar(s string) (string, int, error) {
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return "", 0, &Error{Kind: UnclosedVar}
	}
	name := s[1:end]
	if !isIdent(name) {
		return "", 0, &Error{Kind: BadVarName, Name: name}
	}
	return name, end + 1, nil
}

// isIdent reports whether s is a non-empty [A-Za-z_][A-Za-z0-9_]* name.
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}
