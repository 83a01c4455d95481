package rooms

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// Direct conversations. Private messages between two users are kept in a
// room of their own, like any room's messages: a private, direct room
// whose id both users' names determine (DirectID), so that either of them,
// on any replica, finds the same one. A direct room admits its two users
// only; nobody changes its members, moderates it or (but the API key)
// deletes it, and its name is its id (no other room's name can block it).

// DirectPrefix starts every direct room's id, and no other room's.
const DirectPrefix = "dm-"

// directEncoding spells the hash of a direct room's id in the room id
// alphabet.
var directEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// DirectID returns the id of the direct room of users a and b (in either
// order; a user may write to themselves: a == b).
func DirectID(a, b string) string {
	if b < a {
		a, b = b, a
	}
	sum := sha256.Sum256([]byte(a + "\x00" + b))
	return DirectPrefix + directEncoding.EncodeToString(sum[:])[:32]
}

// IsDirectID reports whether id is reserved for direct rooms.
func IsDirectID(id string) bool { return strings.HasPrefix(id, DirectPrefix) }

// DirectSpec describes the direct room of from and to, created by from.
func DirectSpec(from, to string) Spec {
	id := DirectID(from, to)
	var members []string
	if to != from {
		members = []string{to}
	}
	return Spec{ID: id, Name: id, CreatedBy: from, Private: true, Members: members, Direct: true}
}

// Peer returns the other user of a direct room, seen from user (user
// themselves for a room of one).
func (r Room) Peer(user string) string {
	if !r.Direct {
		return ""
	}
	if user == r.CreatedBy && len(r.Members) == 1 {
		return r.Members[0]
	}
	return r.CreatedBy
}

// ValidDirect reports whether r is a well-formed direct room: private,
// its id the DirectID of its creator and its one member (or of its
// creator alone), its name its id.
func (r Room) ValidDirect() bool {
	if !r.Private || r.CreatedBy == "" || len(r.Members) > 1 || r.Name != r.ID {
		return false
	}
	peer := r.CreatedBy
	if len(r.Members) == 1 {
		peer = r.Members[0]
	}
	return r.ID == DirectID(r.CreatedBy, peer)
}
