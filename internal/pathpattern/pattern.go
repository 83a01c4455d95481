package pathpattern

import (
	"fmt"
	"regexp"
	"strings"
)

// Pattern is a compiled whole pattern, matched against a full path. A
// trailing "/**" matches nothing, or "/" followed by anything (slashes
// included), and captures it.
type Pattern struct {
	src    string
	re     *regexp.Regexp
	vars   []string
	rest   bool
	prefix string
}

// Compile parses and compiles a whole pattern, which must start with "/"
// and have no empty segment. Its errors read "pattern %q: ...".
func Compile(src string) (*Pattern, error) {
	body, rest, err := Split(src)
	if err != nil {
		return nil, err
	}
	p := &Pattern{src: src, rest: rest, prefix: src}
	if i := strings.IndexAny(src, "*{"); i >= 0 {
		p.prefix = src[:i]
	}
	fr, err := Translate(body, true)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %v", src, err)
	}
	p.vars = fr.Vars
	expr := `(?s)^` + fr.Regexp
	if rest {
		expr += `(/.*)?`
	}
	re, err := regexp.Compile(expr + `$`)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %v", src, err)
	}
	p.re = re
	return p, nil
}

// Split checks the overall shape of a pattern (it starts with "/", has no
// empty segment and no "**" but a trailing "/**") and splits off that
// trailing "/**". Its errors read "pattern %q: ...".
func Split(src string) (body string, rest bool, err error) {
	if !strings.HasPrefix(src, "/") {
		return "", false, fmt.Errorf("pattern %q: must start with /", src)
	}
	body = src
	if strings.HasSuffix(body, "/**") {
		body, rest = strings.TrimSuffix(body, "/**"), true
	}
	if strings.Contains(body, "**") {
		return "", false, fmt.Errorf("pattern %q: ** is only allowed as a trailing /**", src)
	}
	if body == "" && rest {
		return "", true, nil
	}
	if strings.Contains(body, "//") || strings.HasSuffix(body, "/") {
		return "", false, fmt.Errorf("pattern %q: empty path segment", src)
	}
	return body, rest, nil
}

// Source returns the pattern as written.
func (p *Pattern) Source() string { return p.src }

// Vars returns the variable names in capture order.
func (p *Pattern) Vars() []string { return p.vars }

// Rest reports whether the pattern ends in "/**".
func (p *Pattern) Rest() bool { return p.rest }

// Prefix returns the literal text before the first "*" or "{".
func (p *Pattern) Prefix() string { return p.prefix }

// Literal reports whether the pattern is plain text: no "*", no "{name}",
// no trailing "/**". It then matches exactly its source.
func (p *Pattern) Literal() bool { return p.prefix == p.src }

// Match matches s against the pattern. It returns the captured variables
// and the rest matched by a trailing "/**" ("" or "/...").
func (p *Pattern) Match(s string) (vars map[string]string, rest string, ok bool) {
	m := p.re.FindStringSubmatch(s)
	if m == nil {
		return nil, "", false
	}
	if len(p.vars) > 0 {
		vars = make(map[string]string, len(p.vars))
		for i, name := range p.vars {
			vars[name] = m[i+1]
		}
	}
	if p.rest {
		rest = m[len(m)-1]
	}
	return vars, rest, true
}

// Matches reports whether s matches the pattern, without captures.
func (p *Pattern) Matches(s string) bool { return p.re.MatchString(s) }
