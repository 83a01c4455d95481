package pathpattern

import (
	"reflect"
	"testing"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		s       string
		ok      bool
		vars    map[string]string
		rest    string
	}{
		{"/app/**", "/app/chat.send", true, nil, "/chat.send"},
		{"/app/**", "/app/a/b/c", true, nil, "/a/b/c"},
		{"/app/**", "/app", true, nil, ""},
		{"/app/**", "/application", false, nil, ""},
		{"/**", "/anything/at/all", true, nil, "/anything/at/all"},
		{"/topic/room.*", "/topic/room.7", true, nil, ""},
		{"/topic/room.*", "/topic/room.", true, nil, ""},
		{"/topic/room.*", "/topic/room/7", false, nil, ""},
		{"/topic/room.{id}", "/topic/room.7", true, map[string]string{"id": "7"}, ""},
		{"/topic/room.{id}", "/topic/room.", false, nil, ""},
		{"/a/{x}/b/{y}", "/a/1/b/2", true, map[string]string{"x": "1", "y": "2"}, ""},
		{"/a/{x}/**", "/a/1/b/2", true, map[string]string{"x": "1"}, "/b/2"},
		{"/a.b", "/aXb", false, nil, ""},
		{"/a", "/a\n", false, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.s, func(t *testing.T) {
			p, err := Compile(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			vars, rest, ok := p.Match(tt.s)
			if ok != tt.ok || !reflect.DeepEqual(vars, tt.vars) || rest != tt.rest {
				t.Errorf("match = %v %q %v, want %v %q %v", vars, rest, ok, tt.vars, tt.rest, tt.ok)
			}
		})
	}
}

func TestPatternPrefix(t *testing.T) {
	tests := map[string]string{
		"/exchange/**":            "/exchange/",
		"/exchange/amq.fanout/**": "/exchange/amq.fanout/",
		"/amq/queue/room.*":       "/amq/queue/room.",
		"/topic/{id}":             "/topic/",
		"/app/chat.send":          "/app/chat.send",
	}
	for src, want := range tests {
		p, err := Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		if p.Prefix() != want {
			t.Errorf("prefix(%q) = %q, want %q", src, p.Prefix(), want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := map[string]string{
		"app/x":      `pattern "app/x": must start with /`,
		"/a/**/b":    `pattern "/a/**/b": ** is only allowed as a trailing /**`,
		"/a//b":      `pattern "/a//b": empty path segment`,
		"/a/":        `pattern "/a/": empty path segment`,
		"/a/}":       `pattern "/a/}": unbalanced }`,
		"/a/{x":      `pattern "/a/{x": unbalanced {`,
		"/a/{1x}":    `pattern "/a/{1x}": bad variable name "1x"`,
		"/a/{x}/{x}": `pattern "/a/{x}/{x}": variable {x} appears twice`,
		"/a/{x}{x}}": `pattern "/a/{x}{x}}": variable {x} appears twice`,
	}
	for src, want := range tests {
		if _, err := Compile(src); err == nil || err.Error() != want {
			t.Errorf("Compile(%q) = %v, want %s", src, err, want)
		}
	}
}

func TestTranslate(t *testing.T) {
	fr, err := Translate("room.{id}*x", false)
	if err != nil {
		t.Fatal(err)
	}
	if fr.Regexp != `room\.([^/]+)[^/]*x` || !reflect.DeepEqual(fr.Vars, []string{"id"}) || fr.LitLen != 6 || fr.Stars != 1 {
		t.Errorf("Translate = %+v", fr)
	}
	if _, err := Translate("{a}{a}", false); err != nil {
		t.Errorf("Translate without checkDup: %v", err)
	}
	var pe *Error
	if _, err := Translate("{a}{a}", true); !errorsAs(err, &pe) || pe.Kind != DuplicateVar {
		t.Errorf("Translate with checkDup: %v", err)
	}
}

func errorsAs(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}

func TestShape(t *testing.T) {
	for in, want := range map[string]string{
		"/app/room.{id}/{x}/**": "/app/room.*/*/**",
		"/app/{1x}":             "/app/{1x}",
		"/app/plain":            "/app/plain",
	} {
		if got := Shape(in); got != want {
			t.Errorf("Shape(%q) = %q, want %q", in, got, want)
		}
	}
}
