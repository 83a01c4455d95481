package router

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

func TestErrorBody(t *testing.T) {
	tests := []struct {
		name          string
		err           error
		code, message string
	}{
		{"bad request", BadRequest("roomId %q is invalid", "a b"), CodeBadRequest, `roomId "a b" is invalid`},
		{"not found", NotFound("room %s", "7"), CodeNotFound, "room 7"},
		{"forbidden", Forbidden("no"), CodeForbidden, "no"},
		{"wrapped", fmt.Errorf("ctx: %w", BadRequest("x")), CodeBadRequest, "x"},
		{"no handler", fmt.Errorf("%w: /app/x", ErrNoHandler), CodeNotFound, "no handler for this destination"},
		{"plain error hides internals", errors.New("dial tcp 10.0.0.1:61613: refused"), CodeInternal, "internal error"},
		{"empty code", &Error{Message: "leak"}, CodeInternal, "internal error"},
		{"nil", nil, CodeInternal, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got map[string]string
			if err := json.Unmarshal(ErrorBody("/app/chat.send", tt.err), &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"code": tt.code, "message": tt.message, "destination": "/app/chat.send"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("ErrorBody = %v, want %v", got, want)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	if got := BadRequest("bad %d", 1).Error(); got != "bad_request: bad 1" {
		t.Errorf("Error() = %q", got)
	}
}
