package rooms

import (
	"context"
	"slices"
	"strings"
)

// Bounds of a room's roles and sanctions.
const (
	// MaxModerators bounds a room's moderators.
	MaxModerators = 100
	// MaxSanctioned bounds each of a room's ban and mute lists.
	MaxSanctioned = 10000
)

// The actions a Change makes: the room state moderation keeps. (A kick
// changes no state: it is an event in the room's history only.)
const (
	// ChangeBan adds Change.User to the room's banned users (and takes
	// a moderator's role away).
	ChangeBan = "ban"
	// ChangeUnban lifts Change.User's ban.
	ChangeUnban = "unban"
	// ChangeMute adds Change.User to the room's muted users.
	ChangeMute = "mute"
	// ChangeUnmute lifts Change.User's mute.
	ChangeUnmute = "unmute"
	// ChangeModerators replaces the room's moderators with
	// Change.Moderators.
	ChangeModerators = "moderators"
)

// Change is one change of a room's roles or sanctions, applied in the
// one order every replica sees (Room.Apply).
type Change struct {
	// Action is one of the Change* constants.
	Action string `json:"action"`
	// User is whom a ban, unban, mute or unmute is about.
	User string `json:"user,omitempty"`
	// Moderators is the new moderator list of ChangeModerators.
	Moderators []string `json:"moderators,omitempty"`
}

// Moderated is a Store that keeps rooms' roles and sanctions (both
// stores are).
type Moderated interface {
	// Moderate applies ch to room id and returns the room as changed
	// (ErrNotFound; ErrInvalid when Room.Apply refuses ch). It returns
	// once this replica applied it; every replica applies it in the
	// same order.
	Moderate(ctx context.Context, id string, ch Change) (Room, error)
}

// Apply returns the room with ch applied, or ErrInvalid: an unknown
// action, no user, the owner as the user of a sanction, or a list beyond
// its bound. The room's lists are never changed in place (rooms are
// shared by value): changed lists are new.
func (r Room) Apply(ch Change) (Room, error) {
	if r.Direct {
		return r, ErrInvalid // a conversation of two has no moderation
	}
	user := strings.TrimSpace(ch.User)
	if ch.Action != ChangeModerators && (user == "" || user == r.Owner()) {
		return r, ErrInvalid
	}
	switch ch.Action {
	case ChangeBan:
		var ok bool
		if r.Banned, ok = with(r.Banned, user); !ok {
			return r, ErrInvalid
		}
		r.Moderators = without(r.Moderators, user)
	case ChangeUnban:
		r.Banned = without(r.Banned, user)
	case ChangeMute:
		var ok bool
		if r.Muted, ok = with(r.Muted, user); !ok {
			return r, ErrInvalid
		}
	case ChangeUnmute:
		r.Muted = without(r.Muted, user)
	case ChangeModerators:
		mods, ok := CleanModerators(r.Owner(), ch.Moderators)
		if !ok {
			return r, ErrInvalid
		}
		r.Moderators = mods
	default:
		return r, ErrInvalid
	}
	return r, nil
}

// CleanModerators returns moderators sorted, without duplicates, empty
// names or the owner, and whether the result has at most MaxModerators
// names.
func CleanModerators(owner string, moderators []string) ([]string, bool) {
	out, _ := CleanMembers(owner, moderators)
	if len(out) == 0 {
		out = nil
	}
	return out, len(out) <= MaxModerators
}

// with returns a new sorted list of list's names and name, and false when
// that would be more than MaxSanctioned names.
func with(list []string, name string) ([]string, bool) {
	i, found := slices.BinarySearch(list, name)
	if found {
		return list, true
	}
	if len(list) >= MaxSanctioned {
		return list, false
	}
	return slices.Insert(slices.Clip(list), i, name), true
}

// without returns list without name: list itself when it does not hold
// it, else a new list (nil when empty).
func without(list []string, name string) []string {
	i, found := slices.BinarySearch(list, name)
	if !found {
		return list
	}
	out := slices.Delete(slices.Clone(list), i, i+1)
	if len(out) == 0 {
		return nil
	}
	return out
}

// Room roles (Room.Role).
const (
	RoleOwner     = "owner"
	RoleModerator = "moderator"
)

// Role returns user's role in the room: RoleOwner, RoleModerator (a
// moderator the room still allows) or "" (always, in a direct room: its
// two users are equals).
func (r Room) Role(user string) string {
	switch {
	case user == "" || r.Direct:
		return ""
	case user == r.Owner():
		return RoleOwner
	case slices.Contains(r.Moderators, user) && r.Allows(user):
		return RoleModerator
	}
	return ""
}

// IsBanned reports whether user is banned from the room.
func (r Room) IsBanned(user string) bool {
	_, found := slices.BinarySearch(r.Banned, user)
	return found && user != ""
}

// IsMuted reports whether user may read the room but not send to it.
func (r Room) IsMuted(user string) bool {
	_, found := slices.BinarySearch(r.Muted, user)
	return found && user != ""
}

// MaySend reports whether user may send to the room: the room allows
// the user, who is not muted.
func (r Room) MaySend(user string) bool { return r.Allows(user) && !r.IsMuted(user) }
