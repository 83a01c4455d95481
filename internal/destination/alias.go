package destination

import (
	"fmt"
	"slices"
	"strings"

	"chatrelay/internal/pathpattern"
)

// alias is a compiled Alias: From as a pattern, To as a template.
type alias struct {
	from   *pattern
	to     string // To without its trailing "/**"
	toRest bool
}

// compileAlias validates and compiles an Alias. To may hold literal text,
// variables captured by From and a trailing "/**" when From has one.
func compileAlias(a Alias) (alias, error) {
	from, err := compilePattern(a.From)
	if err != nil {
		return alias{}, fmt.Errorf("alias From: %w", err)
	}
	body, rest, err := pathpattern.Split(a.To)
	if err != nil {
		return alias{}, fmt.Errorf("alias To: %w", err)
	}
	if rest && !from.Rest() {
		return alias{}, fmt.Errorf("alias %q -> %q: To ends in /** but From does not", a.From, a.To)
	}
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '*':
			return alias{}, fmt.Errorf("alias To %q: * is not allowed", a.To)
		case '}':
			return alias{}, fmt.Errorf("alias To %q: unbalanced }", a.To)
		case '{':
			name, n, err := pathpattern.ParseVar(body[i:])
			if err != nil {
				return alias{}, fmt.Errorf("alias To: pattern %q: %w", a.To, err)
			}
			if !slices.Contains(from.Vars(), name) {
				return alias{}, fmt.Errorf("alias %q -> %q: {%s} is not captured by From", a.From, a.To, name)
			}
			i += n - 1
		}
	}
	return alias{from: from, to: body, toRest: rest}, nil
}

// apply rewrites dest when it matches the alias.
func (a alias) apply(dest string) (string, bool) {
	vars, rest, ok := a.from.Match(dest)
	if !ok {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(a.to); {
		if a.to[i] != '{' {
			j := strings.IndexByte(a.to[i:], '{')
			if j < 0 {
				j = len(a.to) - i
			}
			b.WriteString(a.to[i : i+j])
			i += j
			continue
		}
		end := i + strings.IndexByte(a.to[i:], '}')
		b.WriteString(vars[a.to[i+1:end]])
		i = end + 1
	}
	if a.toRest {
		b.WriteString(rest)
	}
	return b.String(), true
}
