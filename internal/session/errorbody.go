package session

import (
	"encoding/json"
	"errors"

	"chatrelay/internal/i18n"
	"chatrelay/internal/router"
)

// Every message on /user/queue/errors is one JSON object (errorPayload):
// a stable machine code, a human message in the session's language
// (language.go) and, when that language is not English, the English
// wording as detail. Errors the session words itself (errorText) take
// both texts from the i18n catalogue; a handler's error (router.Error)
// keeps its English message, and in another language shows the
// catalogue's text for its code with the handler's message as detail.

// errorText is an error the session words itself, from the i18n
// catalogue.
type errorText struct {
	code string   // the stable code clients match on
	key  string   // the catalogue key: code, or code.variant
	args []string // the {name} values of the text, as name, value pairs
}

// Error implements error, in English.
func (e *errorText) Error() string { return e.code + ": " + e.text(i18n.En) }

// text returns the error's text in l.
func (e *errorText) text(l i18n.Lang) string { return i18n.Text(l, e.key, e.args...) }

// errorPayload is the JSON body of a /user/queue/errors message.
type errorPayload struct {
	Code        string `json:"code"`
	Message     string `json:"message"`
	Destination string `json:"destination"`
	// Subscription is the id of the subscription a SUBSCRIBE refusal or
	// an ended subscription is about.
	Subscription string `json:"subscription,omitempty"`
	// Receipt is the receipt id of the frame that failed, when it asked
	// for one and the error replaces its RECEIPT.
	Receipt string `json:"receipt,omitempty"`
	// Detail is the English wording, when Message is in another
	// language.
	Detail string `json:"detail,omitempty"`
}

// describe returns the payload of err, about destination dest, in the
// session's language.
func (s *Session) describe(dest string, err error) errorPayload {
	return describeIn(s.language(), dest, err)
}

// describeIn returns the payload of err, about destination dest, in
// lang.
func describeIn(lang i18n.Lang, dest string, err error) errorPayload {
	p := errorPayload{Destination: dest}
	var et *errorText
	if errors.As(err, &et) {
		p.Code, p.Message = et.code, et.text(lang)
		if lang != i18n.En {
			p.Detail = et.text(i18n.En)
		}
		return p
	}
	code, en := router.Describe(err)
	p.Code, p.Message = code, en
	if lang == i18n.En {
		return p
	}
	key := code
	if errors.Is(err, router.ErrNoHandler) {
		key = code + ".no_handler"
	}
	if t := i18n.Text(lang, key); t != "" {
		p.Message, p.Detail = t, en
	}
	return p
}

// encode returns p as JSON.
func (p errorPayload) encode() []byte {
	b, err := json.Marshal(p)
	if err != nil { // unreachable: the struct holds only strings
		return []byte(`{"code":"internal","message":"internal error"}`)
	}
	return b
}

// userFacing reports whether err was made for the client to read (a
// handler's router.Error or the session's errorText), rather than an
// internal failure worth logging.
func userFacing(err error) bool {
	var rerr *router.Error
	var et *errorText
	return errors.As(err, &rerr) || errors.As(err, &et)
}
