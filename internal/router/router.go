// Package router dispatches client frames addressed to /app destinations to
// Go handlers chosen by destination pattern: the counterpart of Spring's
// @MessageMapping and @SubscribeMapping.
package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
)

// ErrNoHandler is returned, wrapped with the destination, when no pattern
// matches.
var ErrNoHandler = errors.New("router: no handler")

// Router maps /app destination patterns to handlers. It is safe for
// concurrent use; register handlers before serving.
type Router struct {
	mu      sync.RWMutex
	exact   map[string]*route // patterns without variables
	routes  []*route          // the other patterns
	byShape map[string]string // shape -> pattern, to refuse duplicates
}

// New returns an empty Router.
func New() *Router {
	return &Router{exact: map[string]*route{}, byShape: map[string]string{}}
}

// Handle registers h for pattern, e.g. "/app/chat.send" or
// "/app/rooms/{id}". A literal pattern beats one with variables; among
// patterns with variables the leftmost more literal segment wins. Handle
// panics on an invalid pattern, a nil handler, or a pattern that matches
// exactly what another one does.
func (r *Router) Handle(pattern string, h Handler) {
	if h == nil {
		panic(fmt.Sprintf("router: nil handler for %q", pattern))
	}
	rt, err := compileRoute(pattern)
	if err != nil {
		panic(err.Error())
	}
	rt.h = h
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, dup := r.byShape[rt.shape]; dup {
		panic(fmt.Sprintf("router: pattern %q duplicates %q", pattern, prev))
	}
	r.byShape[rt.shape] = pattern
	rt.order = len(r.byShape)
	if rt.literal {
		r.exact[pattern] = rt
		return
	}
	r.routes = append(r.routes, rt)
}

// lookup finds the route for a destination and its variables.
func (r *Router) lookup(dest string) (*route, map[string]string) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if rt, ok := r.exact[dest]; ok {
		return rt, map[string]string{}
	}
	if !strings.HasPrefix(dest, "/") {
		return nil, nil
	}
	parts := strings.Split(dest[1:], "/")
	var best *route
	var bestVars map[string]string
	for _, rt := range r.routes {
		vars, ok := rt.match(parts)
		if ok && (best == nil || moreSpecific(rt, best)) {
			best, bestVars = rt, vars
		}
	}
	return best, bestVars
}

// Dispatch runs the handler whose pattern matches c.Destination, after
// setting c.Vars (and c.Context to context.Background() when nil). It
// returns an error wrapping ErrNoHandler when nothing matches, and turns a
// handler panic into an *Error with code internal (the panic is logged).
func (r *Router) Dispatch(c *Context) (reply any, err error) {
	if c == nil {
		return nil, errors.New("router: nil context")
	}
	rt, vars := r.lookup(c.Destination)
	if rt == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoHandler, c.Destination)
	}
	c.Vars = vars
	if c.Context == nil {
		c.Context = context.Background()
	}
	defer func() {
		if p := recover(); p != nil {
			slog.Error("router: handler panicked", "destination", c.Destination,
				"pattern", rt.pattern, "panic", p, "stack", string(debug.Stack()))
			reply, err = nil, &Error{Code: CodeInternal, Message: internalMessage}
		}
	}()
	return rt.h(c)
}

// Patterns returns the patterns registered, sorted: what a description of
// the /app routes must cover.
func (r *Router) Patterns() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.byShape))
	for _, p := range r.byShape {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}
