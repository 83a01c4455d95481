package rooms

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on a message's attachments. The server stores no files: an
// attachment is a link the sender's app uploaded somewhere, described.
const (
	// MaxAttachments is the most attachments one message carries.
	MaxAttachments = 10
	// MaxAttachmentURLBytes bounds one attachment's URL.
	MaxAttachmentURLBytes = 2048
	// MaxAttachmentNameBytes bounds one attachment's file name.
	MaxAttachmentNameBytes = 255
	// maxMediaTypeBytes bounds one attachment's media type (RFC 6838's
	// 127 characters).
	maxMediaTypeBytes = 127
	// maxAttachmentSize is the largest size an attachment may claim: the
	// largest integer a JSON number holds exactly in JavaScript.
	maxAttachmentSize = 1<<53 - 1
)

// Attachment is a file a message links to: its URL (https, or http when
// AttachmentRules.AllowHTTP), and, as the sender described them, its
// name, media type and size in bytes.
type Attachment struct {
	URL  string `json:"url"`
	Name string `json:"name,omitempty"`
	Type string `json:"type,omitempty"`
	Size int64  `json:"size,omitempty"`
}

// AttachmentRules are what ParseAttachments accepts beyond its fixed
// bounds.
type AttachmentRules struct {
	// AllowHTTP accepts http URLs too (https only when false).
	AllowHTTP bool
}

// ErrBadAttachment is returned (wrapped, with the reason) for attachments
// ParseAttachments refuses.
var ErrBadAttachment = errors.New("bad attachment")

// mediaTypeRE matches a media type without parameters: type/subtype.
var mediaTypeRE = regexp.MustCompile(`^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$`)

// ParseAttachments reads a message's "attachments" (absent or null: none)
// and returns them checked and sanitized: at most MaxAttachments; each
// URL absolute, with a host, no user info, of an allowed scheme, within
// MaxAttachmentURLBytes, and re-encoded (so what is stored is what a
// browser would request); each name valid UTF-8 without control
// characters or path separators (they are replaced by "_"), within
// MaxAttachmentNameBytes; each media type type/subtype in lower case; each
// size from 0 to 2^53-1. Unknown fields are an error, so that a typo does
// not silently drop what the sender meant.
func ParseAttachments(raw json.RawMessage, rules AttachmentRules) ([]Attachment, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var in []json.RawMessage
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("%w: attachments must be an array of {url, name, type, size}", ErrBadAttachment)
	}
	if len(in) > MaxAttachments {
		return nil, fmt.Errorf("%w: at most %d attachments per message", ErrBadAttachment, MaxAttachments)
	}
	out := make([]Attachment, 0, len(in))
	for i, item := range in {
		a, err := parseAttachment(item, rules)
		if err != nil {
			return nil, fmt.Errorf("%w: attachment %d: %s", ErrBadAttachment, i+1, err)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// parseAttachment checks one attachment; its error is the reason alone.
func parseAttachment(item json.RawMessage, rules AttachmentRules) (Attachment, error) {
	var a Attachment
	dec := json.NewDecoder(bytes.NewReader(item))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return Attachment{}, errors.New("must be an object of url, name, type and size")
	}
	u, err := checkURL(a.URL, rules)
	if err != nil {
		return Attachment{}, err
	}
	a.URL = u
	if len(a.Name) > MaxAttachmentNameBytes {
		return Attachment{}, fmt.Errorf("name is longer than %d bytes", MaxAttachmentNameBytes)
	}
	a.Name = sanitizeName(a.Name)
	a.Type = strings.ToLower(strings.TrimSpace(a.Type))
	if a.Type != "" && (len(a.Type) > maxMediaTypeBytes || !mediaTypeRE.MatchString(a.Type)) {
		return Attachment{}, errors.New("type must be a media type like image/png")
	}
	if a.Size < 0 || a.Size > maxAttachmentSize {
		return Attachment{}, errors.New("size must be a number of bytes")
	}
	return a, nil
}

// checkURL returns raw re-encoded, or why it is refused.
func checkURL(raw string, rules AttachmentRules) (string, error) {
	if raw == "" {
		return "", errors.New("url is missing")
	}
	if len(raw) > MaxAttachmentURLBytes {
		return "", fmt.Errorf("url is longer than %d bytes", MaxAttachmentURLBytes)
	}
	if strings.IndexFunc(raw, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0 {
		return "", errors.New("url has spaces or control characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("url is not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme == "https":
	case scheme == "http" && rules.AllowHTTP:
	default:
		if rules.AllowHTTP {
			return "", errors.New("url must be https or http")
		}
		return "", errors.New("url must be https")
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", errors.New("url has no host")
	}
	if u.User != nil {
		return "", errors.New("url must not carry a user name or password")
	}
	u.Scheme = scheme
	s := u.String()
	if len(s) > MaxAttachmentURLBytes {
		return "", fmt.Errorf("url is longer than %d bytes once encoded", MaxAttachmentURLBytes)
	}
	return s, nil
}

// sanitizeName makes a file name safe to show and to save as: invalid
// UTF-8, control characters and path separators become "_", and leading
// and trailing spaces go.
func sanitizeName(name string) string {
	if !utf8.ValidString(name) {
		name = strings.ToValidUTF8(name, "_")
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '/' || r == '\\' || unicode.Is(unicode.Bidi_Control, r) {
			return '_'
		}
		return r
	}, name)
	return strings.TrimSpace(name)
}
