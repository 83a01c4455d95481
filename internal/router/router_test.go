package router

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// named returns a handler that replies with its name and the vars.
func named(name string) Handler {
	return func(c *Context) (any, error) { return name, nil }
}

func TestDispatchMatching(t *testing.T) {
	r := New()
	for _, p := range []string{
		"/app/chat.send",
		"/app/rooms/{id}",
		"/app/rooms/new",
		"/app/rooms/{id}/members/{user}",
		"/app/rooms/{id}/**",
		"/app/{a}/new/x",
		"/app/room.{id}.typing",
		"/app/room.*",
		"/app/files/*",
		"/app/**",
	} {
		r.Handle(p, named(p))
	}
	tests := []struct {
		dest, want string
		vars       map[string]string
	}{
		{"/app/chat.send", "/app/chat.send", map[string]string{}},
		{"/app/rooms/7", "/app/rooms/{id}", map[string]string{"id": "7"}},
		{"/app/rooms/new", "/app/rooms/new", map[string]string{}},
		{"/app/rooms/7/members/bob", "/app/rooms/{id}/members/{user}", map[string]string{"id": "7", "user": "bob"}},
		{"/app/rooms/7/other", "/app/rooms/{id}/**", map[string]string{"id": "7"}},
		{"/app/rooms/new/x", "/app/rooms/{id}/**", map[string]string{"id": "new"}},
		{"/app/things/new/x", "/app/{a}/new/x", map[string]string{"a": "things"}},
		{"/app/room.7.typing", "/app/room.{id}.typing", map[string]string{"id": "7"}},
		{"/app/room.7", "/app/room.*", map[string]string{}},
		{"/app/files/a.txt", "/app/files/*", map[string]string{}},
		{"/app/unknown/deep/path", "/app/**", map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.dest, func(t *testing.T) {
			c := &Context{Destination: tt.dest}
			got, err := r.Dispatch(c)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Dispatch(%q) ran %v, want %q", tt.dest, got, tt.want)
			}
			if !reflect.DeepEqual(c.Vars, tt.vars) {
				t.Errorf("vars %v, want %v", c.Vars, tt.vars)
			}
			if c.Context == nil {
				t.Error("Context left nil")
			}
		})
	}
}

func TestPrecedenceIndependentOfOrder(t *testing.T) {
	pats := []string{"/app/rooms/{id}", "/app/rooms/new", "/app/{x}/new", "/app/rooms/**"}
	for _, order := range [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {2, 0, 3, 1}} {
		r := New()
		for _, i := range order {
			r.Handle(pats[i], named(pats[i]))
		}
		if got, _ := r.Dispatch(&Context{Destination: "/app/rooms/new"}); got != "/app/rooms/new" {
			t.Errorf("order %v: got %v, want literal", order, got)
		}
		if got, _ := r.Dispatch(&Context{Destination: "/app/rooms/7"}); got != "/app/rooms/{id}" {
			t.Errorf("order %v: got %v, want /app/rooms/{id}", order, got)
		}
		if got, _ := r.Dispatch(&Context{Destination: "/app/rooms/7/x"}); got != "/app/rooms/**" {
			t.Errorf("order %v: got %v, want /app/rooms/**", order, got)
		}
	}
}

func TestNoHandler(t *testing.T) {
	r := New()
	r.Handle("/app/chat.send", named("x"))
	r.Handle("/app/rooms/{id}", named("y"))
	for _, dest := range []string{"/app/chat.sendx", "/app/rooms", "/app/rooms/7/x", "/app/rooms/", "", "app/chat.send"} {
		_, err := r.Dispatch(&Context{Destination: dest})
		if !errors.Is(err, ErrNoHandler) || !strings.Contains(err.Error(), dest) {
			t.Errorf("Dispatch(%q) = %v, want ErrNoHandler naming it", dest, err)
		}
	}
	if _, err := r.Dispatch(nil); err == nil {
		t.Error("Dispatch(nil) succeeded")
	}
}

func TestHandlerErrorAndPanic(t *testing.T) {
	r := New()
	r.Handle("/app/bad", func(*Context) (any, error) { return nil, BadRequest("room %q", "x y") })
	r.Handle("/app/panic", func(*Context) (any, error) { panic("secret internals") })
	r.Handle("/app/nilmap", func(c *Context) (any, error) {
		var m map[string]int
		m["x"] = 1
		return nil, nil
	})
	_, err := r.Dispatch(&Context{Destination: "/app/bad"})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeBadRequest || e.Message != `room "x y"` {
		t.Errorf("bad: %v", err)
	}
	for _, dest := range []string{"/app/panic", "/app/nilmap"} {
		reply, err := r.Dispatch(&Context{Destination: dest})
		if reply != nil || !errors.As(err, &e) || e.Code != CodeInternal || strings.Contains(e.Message, "secret") {
			t.Errorf("%s: reply %v err %v, want internal *Error", dest, reply, err)
		}
	}
}

func TestHandleInvalid(t *testing.T) {
	tests := []struct {
		name, first, second string
	}{
		{"not /app", "", "/topic/x"},
		{"bare /app/", "", "/app/"},
		{"empty segment", "", "/app/a//b"},
		{"inner **", "", "/app/**/x"},
		{"bad var", "", "/app/{1}"},
		{"unbalanced", "", "/app/{id"},
		{"stray }", "", "/app/id}"},
		{"duplicate var", "", "/app/{id}/{id}"},
		{"duplicate literal", "/app/chat.send", "/app/chat.send"},
		{"duplicate shape", "/app/rooms/{id}", "/app/rooms/{roomId}"},
		{"star equals var", "/app/rooms/{id}", "/app/rooms/*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New()
			if tt.first != "" {
				r.Handle(tt.first, named("a"))
			}
			defer func() {
				if recover() == nil {
					t.Errorf("Handle(%q) did not panic", tt.second)
				}
			}()
			r.Handle(tt.second, named("b"))
		})
	}
	t.Run("nil handler", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("no panic")
			}
		}()
		New().Handle("/app/x", nil)
	})
}

func TestConcurrentDispatch(t *testing.T) {
	r := New()
	r.Handle("/app/rooms/{id}", func(c *Context) (any, error) { return c.Vars["id"], nil })
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if got, err := r.Dispatch(&Context{Destination: "/app/rooms/r"}); err != nil || got != "r" {
					t.Errorf("goroutine %d: %v %v", i, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
