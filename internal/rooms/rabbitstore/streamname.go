package rabbitstore

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"chatrelay/internal/rooms"
)

// Stream names and arguments that let operators recognise a room in the
// management UI.
//
// A room created by this version gets the stream room.<slug>.<id>: the
// slug is an ASCII rendering of its name (lower-case letters, digits and
// "-"; Hangul romanized syllable by syllable, accents dropped, at most
// maxSlugBytes), so that the name stays safe in every tool an operator
// types it into (URLs, shells, policy patterns, STOMP destinations). A
// name with nothing to render (only symbols, or a script other than Latin
// and Hangul) gets room.<id>. Its exact UTF-8 name and id ride along as
// the stream's arguments roomNameArg and roomIDArg, which the queue's page
// in the management UI shows. The registry's created event records the
// stream name; rooms created before carry none and keep room.<id>
// (rooms.StreamName): no stream is ever renamed.
const (
	// maxSlugBytes bounds the slug: room.<slug>.<id> stays far below
	// RabbitMQ's 255-byte queue names (ids are at most 64 bytes).
	maxSlugBytes = 40
	// roomNameArg is the stream argument holding the room's name.
	roomNameArg = "x-chatrelay-room-name"
	// roomIDArg is the stream argument holding the room's id.
	roomIDArg = "x-chatrelay-room-id"
)

// streamFor returns the stream name of a new room.
func streamFor(room rooms.Room) string {
	if s := slugOf(room.Name); s != "" {
		return "room." + s + "." + room.ID
	}
	return rooms.StreamName(room.ID)
}

// streamOf returns the stream of a stored room: the one its created event
// recorded, else the name rooms had before events recorded one.
func streamOf(room rooms.Room) string {
	if room.Stream != "" {
		return room.Stream
	}
	return rooms.StreamName(room.ID)
}

// validStream reports whether a created event may name stream for the
// room with id: room.<slug>.<id> with a slug as slugOf makes them, or
// room.<id>. A record that names another queue (the registry itself, a
// queue of someone else) is refused: Delete deletes the room's stream.
func validStream(id, stream string) bool {
	if stream == rooms.StreamName(id) {
		return true
	}
	rest, ok1 := strings.CutPrefix(stream, "room.")
	slug, ok2 := strings.CutSuffix(rest, "."+id)
	if !ok1 || !ok2 || slug == "" || len(slug) > maxSlugBytes {
		return false
	}
	for i := 0; i < len(slug); i++ {
		if c := slug[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// slugOf returns an ASCII rendering of a room name for its stream name:
// lower-case ASCII letters and digits kept, Hangul syllables romanized
// (Revised Romanization, syllable by syllable), letters with accents
// without them, every other run of characters one "-", no "-" at either
// end, cut to maxSlugBytes at a "-" when there is one. "" when nothing is
// left.
func slugOf(name string) string {
	var b strings.Builder
	dash := false
	add := func(s string) {
		if dash && b.Len() > 0 {
			b.WriteByte('-')
		}
		dash = false
		b.WriteString(s)
	}
	for _, c := range name {
		switch {
		case c < 0x80 && (unicode.IsLetter(c) || unicode.IsDigit(c)):
			add(string(unicode.ToLower(c)))
		case c >= hangulFirst && c <= hangulLast:
			add(romanize(c))
		default:
			if s := unaccented(c); s != "" {
				add(s)
			} else {
				dash = true
			}
		}
		if b.Len() > maxSlugBytes {
			break
		}
	}
	s := b.String()
	if len(s) > maxSlugBytes {
		s = s[:maxSlugBytes]
		if i := strings.LastIndexByte(s, '-'); i > maxSlugBytes/2 {
			s = s[:i]
		}
		s = strings.TrimRight(s, "-")
	}
	return s
}

// unaccented returns the ASCII letters or digits of c without its
// accents (é → e), lower-cased; "" when c has none.
func unaccented(c rune) string {
	var out []byte
	for _, d := range norm.NFKD.String(string(c)) {
		if d < 0x80 && (unicode.IsLetter(d) || unicode.IsDigit(d)) {
			out = append(out, byte(unicode.ToLower(d)))
		}
	}
	return string(out)
}

// The Hangul syllables block and the romanization of its parts.
const (
	hangulFirst = 0xAC00
	hangulLast  = 0xD7A3
)

var (
	hangulInitials = [...]string{"g", "kk", "n", "d", "tt", "r", "m", "b", "pp", "s", "ss", "", "j", "jj", "ch", "k", "t", "p", "h"}
	hangulVowels   = [...]string{"a", "ae", "ya", "yae", "eo", "e", "yeo", "ye", "o", "wa", "wae", "oe", "yo", "u", "wo", "we", "wi", "yu", "eu", "ui", "i"}
	hangulFinals   = [...]string{"", "k", "k", "k", "n", "n", "n", "t", "l", "k", "m", "p", "t", "t", "p", "l", "m", "p", "p", "t", "t", "ng", "t", "t", "k", "t", "p", "t"}
)

// romanize spells one Hangul syllable in Latin letters (채 → chae).
func romanize(c rune) string {
	i := int(c - hangulFirst)
	return hangulInitials[i/(21*28)] + hangulVowels[i/28%21] + hangulFinals[i%28]
}
