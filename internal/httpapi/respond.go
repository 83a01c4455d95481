package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// httpError is an error answer: its status, the text of {"error"} and,
// for a limit's refusal, its code, config key and Retry-After.
type httpError struct {
	status     int
	msg        string
	code, key  string
	retryAfter time.Duration
}

// write answers the error.
func (e *httpError) write(w http.ResponseWriter) {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.retryAfter.Seconds()))))
	}
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="chatrelay"`)
	}
	writeJSON(w, e.status, errorBody{Error: e.msg, Code: e.code, Key: e.key})
}

// Error implements error.
func (e *httpError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

// errorf returns an *httpError with a formatted message.
func errorf(status int, format string, a ...any) *httpError {
	return &httpError{status: status, msg: fmt.Sprintf(format, a...)}
}

// errRoomNotFound is the answer for an unknown room or an id that could not
// name one.
var errRoomNotFound = &httpError{status: http.StatusNotFound, msg: "room not found"}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
	Key   string `json:"key,omitempty"`
}

// writeJSON answers status with v encoded as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // unreachable: only plain data types are answered
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// writeError answers status with {"error": msg}. A 401 also names the
// scheme the client must use.
func writeError(w http.ResponseWriter, status int, msg string) {
	(&httpError{status: status, msg: msg}).write(w)
}

// decodeBody reads one JSON value of at most MaxBodyBytes into v. Unknown
// fields are ignored; anything after the value is refused.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = errTrailing
			if errors.As(extra, &tooLarge) {
				err = extra
			}
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errTrailing):
		return errorf(http.StatusBadRequest, "body must hold a single JSON object")
	case errors.As(err, &tooLarge):
		return errorf(http.StatusBadRequest, "body is larger than %d bytes", MaxBodyBytes)
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, "body is required")
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return errorf(http.StatusBadRequest, "%s has the wrong type", typeErr.Field)
	case errors.As(err, &typeErr):
		return errorf(http.StatusBadRequest, "body must be a JSON object")
	default:
		return errorf(http.StatusBadRequest, "body is not valid JSON")
	}
}

// errTrailing marks data after the body's JSON value.
var errTrailing = errors.New("data after the JSON value")

// errUnauthorized is the answer for a missing or wrong API key.
var errUnauthorized = &httpError{status: http.StatusUnauthorized, msg: "missing or wrong API key"}

// requireKey checks the request's "Authorization: Bearer <key>" against
// the API key. With no key configured every request is refused: server
// push is off unless an operator turns it on.
func (a *api) requireKey(r *http.Request) error {
	if a.keySum == nil {
		return &httpError{status: http.StatusUnauthorized, msg: "server push is disabled: no API key is configured"}
	}
	if !a.hasKey(r) {
		return errUnauthorized
	}
	return nil
}

// hasKey reports whether the request carries "Authorization: Bearer
// <key>" with the configured API key, compared in constant time (false
// when no key is configured).
func (a *api) hasKey(r *http.Request) bool {
	if a.keySum == nil {
		return false
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	// Comparing digests keeps the time independent of the key's length.
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(sum[:], a.keySum[:]) == 1
}
