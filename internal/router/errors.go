package router

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Error codes a handler's *Error may carry.
const (
	CodeBadRequest = "bad_request"
	CodeNotFound   = "not_found"
	CodeForbidden  = "forbidden"
	CodeInternal   = "internal"
)

// internalMessage is what the sender sees for any error that is not an
// *Error: internals are not leaked.
const internalMessage = "internal error"

// Error is a handler error meant for the sender, who sees its Code and
// Message on /user/queue/errors.
type Error struct {
	Code    string
	Message string
}

// Error implements error.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// BadRequest returns an *Error with code bad_request.
func BadRequest(format string, a ...any) *Error {
	return &Error{Code: CodeBadRequest, Message: fmt.Sprintf(format, a...)}
}

// NotFound returns an *Error with code not_found.
func NotFound(format string, a ...any) *Error {
	return &Error{Code: CodeNotFound, Message: fmt.Sprintf(format, a...)}
}

// Forbidden returns an *Error with code forbidden.
func Forbidden(format string, a ...any) *Error {
	return &Error{Code: CodeForbidden, Message: fmt.Sprintf(format, a...)}
}

// errorBody is the JSON sent on /user/queue/errors.
type errorBody struct {
	Code        string `json:"code"`
	Message     string `json:"message"`
	Destination string `json:"destination"`
	// Receipt is the receipt id of the frame that failed, when it asked
	// for one and the error replaces its RECEIPT.
	Receipt string `json:"receipt,omitempty"`
}

// ErrorBody turns err into the JSON body sent to the sender on
// /user/queue/errors: {"code","message","destination"}. An *Error (even
// wrapped) with a code keeps its code and message; ErrNoHandler becomes not_found;
// anything else becomes code internal with a generic message.
func ErrorBody(destination string, err error) []byte {
	return ReceiptErrorBody(destination, "", err)
}

// ReceiptErrorBody is ErrorBody for an error that replaces the RECEIPT of
// a frame: the body also carries its receipt id as "receipt" (none when
// receipt is empty).
func ReceiptErrorBody(destination, receipt string, err error) []byte {
	body := errorBody{Destination: destination, Receipt: receipt}
	body.Code, body.Message = Describe(err)
	b, mErr := json.Marshal(body)
	if mErr != nil { // unreachable: the struct holds only strings
		return []byte(`{"code":"internal","message":"internal error"}`)
	}
	return b
}

// NoHandlerMessage is the message of ErrNoHandler as the sender sees it.
const NoHandlerMessage = "no handler for this destination"

// Describe returns the code and English message the sender of a frame
// that failed with err sees: an *Error (even wrapped) with a code keeps
// its code and message; ErrNoHandler becomes not_found; anything else
// becomes code internal with a generic message.
func Describe(err error) (code, message string) {
	var e *Error
	switch {
	case errors.As(err, &e) && e != nil && e.Code != "":
		return e.Code, e.Message
	case errors.Is(err, ErrNoHandler):
		return CodeNotFound, NoHandlerMessage
	}
	return CodeInternal, internalMessage
}
