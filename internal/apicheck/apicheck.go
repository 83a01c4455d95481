// Package apicheck is a test kit: an http.RoundTripper that checks every
// REST request a test makes to a chatrelay replica, and the replica's
// answer, against the API's OpenAPI document (httpapi.OpenAPI), with
// kin-openapi. A test package installs it once (TestMain) and fails when
// any exchange disagreed with the document.
//
// The contract it holds the server to: an answer must be one the
// document lists for the operation, status included; a request the
// document refuses must be refused by the server too (4xx), never
// served; and a route the document does not list may only be answered
// 404 or 405.
package apicheck

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"chatrelay/internal/httpapi"
)

// maxViolations bounds the violations a Checker keeps.
const maxViolations = 100

// Checker checks exchanges with the replicas it watches.
type Checker struct {
	router routers.Router

	mu         sync.Mutex
	hosts      map[string]bool // host:port of the replicas watched
	violations []string
	checked    map[string]int // operation → exchanges checked
}

// New loads and validates the document and returns a Checker watching
// no replica yet.
func New() (*Checker, error) {
	doc, err := Load()
	if err != nil {
		return nil, err
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("apicheck: router: %w", err)
	}
	return &Checker{router: router, hosts: map[string]bool{}, checked: map[string]int{}}, nil
}

// Load parses and validates the API's OpenAPI document.
func Load() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPI())
	if err != nil {
		return nil, fmt.Errorf("apicheck: openapi document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("apicheck: openapi document: %w", err)
	}
	return doc, nil
}

// Watch checks the exchanges with the replica at hostport from now on.
func (c *Checker) Watch(hostport string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hosts[hostport] = true
}

// Violations returns the disagreements found so far, sorted.
func (c *Checker) Violations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]string(nil), c.violations...)
	sort.Strings(out)
	return out
}

// Checked returns how many exchanges of each operation were checked.
func (c *Checker) Checked() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.checked))
	for k, v := range c.checked {
		out[k] = v
	}
	return out
}

func (c *Checker) violate(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.violations) < maxViolations {
		c.violations = append(c.violations, fmt.Sprintf(format, args...))
	}
}

// watched reports whether r goes to a watched replica's REST side.
func (c *Checker) watched(r *http.Request) bool {
	c.mu.Lock()
	ok := c.hosts[r.URL.Host]
	c.mu.Unlock()
	p := r.URL.Path
	return ok && (strings.HasPrefix(p, "/api/") || p == "/api" || strings.HasPrefix(p, "/chat/") || p == "/healthz" || p == "/readyz")
}

// Transport returns next (http.DefaultTransport when nil) checking every
// exchange with a watched replica.
func (c *Checker) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper{c: c, next: next}
}

// roundTripper is Checker.Transport's.
type roundTripper struct {
	c    *Checker
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (rt roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	if !rt.c.watched(r) {
		return rt.next.RoundTrip(r)
	}
	var reqBody []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := rt.next.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	respBody, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	rt.c.check(r, reqBody, resp, respBody)
	return resp, nil
}

// check compares one exchange with the document.
func (c *Checker) check(r *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	what := r.Method + " " + r.URL.Path
	// a copy to validate: the one sent has been read
	req := r.Clone(context.Background())
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			c.violate("%s: not in the document, but answered %d", what, resp.StatusCode)
		}
		return
	}
	op := r.Method + " " + route.Path
	c.mu.Lock()
	c.checked[op]++
	c.mu.Unlock()
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	if reqErr != nil && resp.StatusCode < 400 {
		c.violate("%s: the server answered %d to a request the document refuses: %v", what, resp.StatusCode, short(reqErr))
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(respBody)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		c.violate("%s (%s): answer %d %s disagrees with the document: %v", what, op, resp.StatusCode, clip(respBody), short(err))
	}
}

// short is err's first line.
func short(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// clip is a body for a message.
func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
