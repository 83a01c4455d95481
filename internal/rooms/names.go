package rooms

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of a room name: at most MaxNameLen characters and MaxNameBytes
// bytes of UTF-8, so that a name of many-byte characters cannot make a
// room list several times longer than its character count suggests.
const (
	MaxNameLen   = 100
	MaxNameBytes = 300
)

// CleanName trims name and checks it: 1 to MaxNameLen printable
// characters, at most MaxNameBytes bytes.
func CleanName(name string) (string, bool) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > MaxNameBytes || !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameLen {
		return "", false
	}
	for _, c := range name {
		if !unicode.IsPrint(c) {
			return "", false
		}
	}
	return name, true
}

// NameKey is the form of a room name that duplicates share: two rooms
// whose names have the same key may not exist at once. It lowercases
// (strings.ToLower), and it is the one rule for every Store, so a name is
// refused alike in embedded and RabbitMQ mode.
func NameKey(name string) string { return strings.ToLower(name) }

// idEncoding spells room ids: lowercase base32, no padding.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a random room id of 8 characters (40 bits): short enough
// for URLs and queue names, and always ValidID.
func NewID() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}
