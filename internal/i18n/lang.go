// Package i18n holds the languages chatrelay speaks to people (Korean and
// English), how a session's language is chosen from Accept-Language
// values, and the catalogue of texts sent on /user/queue/errors, keyed by
// their stable code.
package i18n

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/text/language"
)

// Lang is a supported language, as its ISO 639-1 code.
type Lang string

// The supported languages.
const (
	En Lang = "en"
	Ko Lang = "ko"
)

// Default is the language of a session that names no supported one, unless
// the configuration (stomp.default_language) says otherwise: English, the
// language of the server's logs and of the texts clients that send no
// Accept-Language (programs rather than browsers) got before.
const Default = En

// Supported lists the supported languages.
func Supported() []Lang { return []Lang{En, Ko} }

// Parse returns the supported language named s ("en", "ko", or a tag such
// as "ko-KR" whose language is one of them), for configuration values.
func Parse(s string) (Lang, error) {
	if l, ok := fromTag(strings.TrimSpace(s)); ok {
		return l, nil
	}
	return "", fmt.Errorf("language %q: want one of en, ko", s)
}

// fromTag returns the supported language of one BCP 47 tag.
func fromTag(s string) (Lang, bool) {
	if s == "" || s == "*" {
		return "", false
	}
	tag, err := language.Parse(s)
	if err != nil {
		// an unknown but well-formed subtag still gives a usable tag
		if _, ok := err.(language.ValueError); !ok {
			return "", false
		}
	}
	base, _ := tag.Base()
	for _, l := range Supported() {
		if base.String() == string(l) {
			return l, true
		}
	}
	return "", false
}

// weighted is one Accept-Language entry.
type weighted struct {
	tag string
	q   float64
}

// Negotiate returns the supported language a person asking with header
// (an Accept-Language value, RFC 9110 §12.5.4: "ko-KR,ko;q=0.9,en;q=0.8")
// prefers most: entries are tried by descending q-value, ties in the order
// written; q=0 means "not this one". Malformed entries (a bad tag, a bad
// q-value) are skipped, never an error. It reports false when no entry
// names a supported language ("*" names none in particular).
func Negotiate(header string) (Lang, bool) {
	var entries []weighted
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(part, ";")
		w := weighted{tag: strings.TrimSpace(tag), q: 1}
		ok := w.tag != ""
		for _, p := range strings.Split(params, ";") {
			k, v, found := strings.Cut(strings.TrimSpace(p), "=")
			if !found || !strings.EqualFold(strings.TrimSpace(k), "q") {
				continue
			}
			q, valid := parseQ(strings.TrimSpace(v))
			w.q, ok = q, ok && valid
		}
		if ok && w.q > 0 {
			entries = append(entries, w)
		}
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].q > entries[j].q })
	for _, e := range entries {
		if l, ok := fromTag(e.tag); ok {
			return l, true
		}
	}
	return "", false
}

// parseQ parses a qvalue: 0 to 1 with at most three decimals.
func parseQ(s string) (float64, bool) {
	if s == "" || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	if len(s) > 1 && s[1] != '.' {
		return 0, false
	}
	q, err := strconv.ParseFloat(s, 64)
	if err != nil || q < 0 || q > 1 {
		return 0, false
	}
	return q, true
}

// Choose returns a session's language: the first of connect (a CONNECT
// frame's accept-language header) and handshake (the WebSocket or SockJS
// handshake's Accept-Language) that names a supported language, else def.
func Choose(connect, handshake string, def Lang) Lang {
	for _, h := range []string{connect, handshake} {
		if l, ok := Negotiate(h); ok {
			return l
		}
	}
	if def == "" {
		return Default
	}
	return def
}
