package router

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"chatrelay/internal/pathpattern"
)

// Segment ranks, most specific first: they decide which of several
// matching patterns wins, segment by segment from the left.
const (
	rankRest    = iota // trailing "**"
	rankVar            // a whole segment "{id}" or "*"
	rankMixed          // literal text with variables: "room.{id}"
	rankLiteral        // plain text
)

// segment is one "/"-separated part of a route pattern.
type segment struct {
	lit    string         // the text, for rankLiteral
	re     *regexp.Regexp // for rankVar and rankMixed
	vars   []string
	rank   int
	litLen int // literal bytes, to break ties
}

// route is a compiled pattern with its handler.
type route struct {
	pattern string
	shape   string // the pattern with every variable written "*"
	segs    []segment
	rest    bool
	literal bool // no variables, wildcards or rest
	order   int
	h       Handler
}

// compileRoute parses a pattern: "/app/" followed by "/"-separated
// segments of literal text, "{name}" variables (a non-empty run of
// characters except "/") and "*" (any run except "/"), optionally ending
// in "/**" (the rest of the path).
func compileRoute(pattern string) (*route, error) {
	if !strings.HasPrefix(pattern, "/app/") {
		return nil, fmt.Errorf("router: pattern %q must start with /app/", pattern)
	}
	rt := &route{pattern: pattern, shape: pathpattern.Shape(pattern), literal: true}
	parts := strings.Split(pattern[1:], "/")
	if parts[len(parts)-1] == "**" {
		rt.rest, rt.literal = true, false
		parts = parts[:len(parts)-1]
	}
	seen := map[string]bool{}
	for _, p := range parts {
		seg, err := compileSegment(pattern, p)
		if err != nil {
			return nil, err
		}
		for _, v := range seg.vars {
			if seen[v] {
				return nil, fmt.Errorf("router: pattern %q: variable {%s} appears twice", pattern, v)
			}
			seen[v] = true
		}
		if seg.rank != rankLiteral {
			rt.literal = false
		}
		rt.segs = append(rt.segs, seg)
	}
	return rt, nil
}

// compileSegment compiles one segment of pattern.
func compileSegment(pattern, p string) (segment, error) {
	if p == "" {
		return segment{}, fmt.Errorf("router: pattern %q: empty segment", pattern)
	}
	if strings.Contains(p, "**") {
		return segment{}, fmt.Errorf("router: pattern %q: ** is only allowed as a trailing /**", pattern)
	}
	if !strings.ContainsAny(p, "*{}") {
		return segment{lit: p, rank: rankLiteral, litLen: len(p)}, nil
	}
	fr, err := pathpattern.Translate(p, false)
	if err != nil {
		var pe *pathpattern.Error
		if errors.As(err, &pe) && pe.Kind == pathpattern.UnbalancedClose {
			return segment{}, fmt.Errorf("router: pattern %q: unbalanced } in %q", pattern, p)
		}
		return segment{}, fmt.Errorf("router: pattern %q: bad variable in %q", pattern, p)
	}
	seg := segment{rank: rankMixed, vars: fr.Vars, litLen: fr.LitLen}
	if seg.litLen == 0 && len(seg.vars)+fr.Stars == 1 {
		seg.rank = rankVar
	}
	seg.re = regexp.MustCompile(`^` + fr.Regexp + `$`)
	return seg, nil
}

// match matches the destination's segments and returns the variables.
func (rt *route) match(parts []string) (map[string]string, bool) {
	if len(parts) < len(rt.segs) || !rt.rest && len(parts) != len(rt.segs) {
		return nil, false
	}
	vars := map[string]string{}
	for i, seg := range rt.segs {
		if seg.re == nil {
			if parts[i] != seg.lit {
				return nil, false
			}
			continue
		}
		m := seg.re.FindStringSubmatch(parts[i])
		if m == nil {
			return nil, false
		}
		for j, v := range seg.vars {
			vars[v] = m[j+1]
		}
	}
	return vars, true
}

// moreSpecific reports whether a should win over b when both match: the
// first segment where their ranks differ decides; then a pattern without
// a trailing "/**" wins; then more literal text; then the earlier one.
func moreSpecific(a, b *route) bool {
	for i := 0; i < len(a.segs) && i < len(b.segs); i++ {
		if ra, rb := a.segs[i].rank, b.segs[i].rank; ra != rb {
			return ra > rb
		}
	}
	if len(a.segs) != len(b.segs) {
		// Both match the same path, so the shorter one ends in "/**".
		return len(a.segs) > len(b.segs)
	}
	if a.rest != b.rest {
		return !a.rest
	}
	if la, lb := a.litLen(), b.litLen(); la != lb {
		return la > lb
	}
	return a.order < b.order
}

// litLen counts the route's literal bytes.
func (rt *route) litLen() int {
	n := 0
	for _, s := range rt.segs {
		n += s.litLen
	}
	return n
}
