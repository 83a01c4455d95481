package destination

import (
	"fmt"
	"regexp"
	"strings"
)

// pattern is a compiled destination pattern. Its syntax:
//
//   - literal text matches itself;
//   - "*" matches any run of characters except "/" (possibly empty);
//   - "{name}" matches a non-empty run of characters except "/" and
//     captures it;
//   - a trailing "/**" matches the rest of the path: nothing, or "/"
//     followed by anything (slashes included), and captures it.
type pattern struct {
	src    string
	re     *regexp.Regexp
	vars   []string // variable names, in capture order
	rest   bool     // ends in "/**"
	prefix string   // literal text before the first "*" or "{"
}

// compilePattern parses and compiles a pattern.
func compilePattern(src string) (*pattern, error) {
	body, rest, err := splitPattern(src)
	if err != nil {
		return nil, err
	}
	p := &pattern{src: src, rest: rest, prefix: src}
	if i := strings.IndexAny(src, "*{"); i >= 0 {
		p.prefix = src[:i]
	}
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for i := 0; i < len(body); {
		switch c := body[i]; c {
		case '*':
			b.WriteString(`[^/]*`)
			i++
		case '{':
			name, n, err := parseVar(src, body[i:])
			if err != nil {
				return nil, err
			}
			for _, v := range p.vars {
				if v == name {
					return nil, fmt.Errorf("pattern %q: variable {%s} appears twice", src, name)
				}
			}
			p.vars = append(p.vars, name)
			b.WriteString(`([^/]+)`)
			i += n
		case '}':
			return nil, fmt.Errorf("pattern %q: unbalanced }", src)
		default:
			j := i
			for j < len(body) && !strings.ContainsRune("*{}", rune(body[j])) {
				j++
			}
			b.WriteString(regexp.QuoteMeta(body[i:j]))
			i = j
		}
	}
	if rest {
		b.WriteString(`(/.*)?`)
	}
	b.WriteString(`$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %v", src, err)
	}
	p.re = re
	return p, nil
}

// splitPattern checks the overall shape of a pattern and splits off a
// trailing "/**".
func splitPattern(src string) (body string, rest bool, err error) {
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

// parseVar parses "{name}" at the start of s and returns the name and the
// number of bytes consumed.
func parseVar(src, s string) (string, int, error) {
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return "", 0, fmt.Errorf("pattern %q: unbalanced {", src)
	}
	name := s[1:end]
	if !isIdent(name) {
		return "", 0, fmt.Errorf("pattern %q: bad variable name %q", src, name)
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

// match matches s against the pattern. It returns the captured variables
// and the rest matched by a trailing "/**" ("" or "/...").
func (p *pattern) match(s string) (vars map[string]string, rest string, ok bool) {
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

// matchAny reports whether s matches one of the patterns.
func matchAny(ps []*pattern, s string) bool {
	for _, p := range ps {
		if p.re.MatchString(s) {
			return true
		}
	}
	return false
}

// explicit reports whether one of the patterns literally starts with
// prefix, i.e. whether the configuration opts into that prefix by name.
func explicit(ps []*pattern, prefix string) bool {
	for _, p := range ps {
		if strings.HasPrefix(p.prefix, prefix) {
			return true
		}
	}
	return false
}

// literal reports whether the pattern is plain text: no "*", no
// "{name}", no trailing "/**". It then matches exactly its source.
func (p *pattern) literal() bool { return p.prefix == p.src }
