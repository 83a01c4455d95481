// Package moderation keeps order in rooms: a room's owner assigns
// moderators, and the owner, the moderators and the API key kick, ban and
// mute users (and lift bans and mutes). Bans, mutes and roles are room
// state in the store (rooms.Change, kept in the broker like the rooms);
// every action is also a SYSTEM message in the room's history (Event and
// Target say what and whom), which announces it to the room and ends the
// live subscriptions of a kicked or banned user on every replica. The
// Service does both for the STOMP routes (chat) and the REST API
// (httpapi).
package moderation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"chatrelay/internal/rooms"
)

// Action is what a moderator does to a user.
type Action string

// The actions.
const (
	// Kick ends the user's subscriptions to the room; the user may come
	// back.
	Kick Action = "kick"
	// Ban refuses the user the room (following, sending, history) until
	// Unban, and ends the user's subscriptions.
	Ban Action = "ban"
	// Unban lifts a ban.
	Unban Action = "unban"
	// Mute lets the user read the room but not send to it, until Unmute.
	Mute Action = "mute"
	// Unmute lifts a mute.
	Unmute Action = "unmute"
)

// EventModerators is the Event of the SYSTEM message that announces a
// new moderator list.
const EventModerators = "moderators"

// Actions lists every Action.
var Actions = []Action{Kick, Ban, Unban, Mute, Unmute}

// change returns the store change an action makes; a kick makes none.
func (a Action) change(user string) (rooms.Change, bool) {
	switch a {
	case Ban, Unban, Mute, Unmute:
		return rooms.Change{Action: string(a), User: user}, true
	}
	return rooms.Change{}, false
}

// Ends reports whether the action ends the user's live subscriptions to
// the room (kick and ban).
func (a Action) Ends() bool { return a == Kick || a == Ban }

// Actor is who asks for a moderation: a signed-in user, or the holder of
// the API key (Admin), who may do anything the owner may.
type Actor struct {
	User  string
	Admin bool
}

// name is the actor's name in SYSTEM messages: the user, or "system".
func (a Actor) name() string {
	if a.User == "" || a.Admin {
		return SystemSender
	}
	return a.User
}

// SystemSender is the sender of the SYSTEM messages of the API key's
// actions.
const SystemSender = "system"

// Kind is the class of a refusal, which the STOMP and REST answers map to
// their codes and statuses.
type Kind int

// The kinds of refusal.
const (
	// Invalid: the request itself is wrong (400, bad_request).
	Invalid Kind = iota
	// Forbidden: the actor may not do this (403, forbidden).
	Forbidden
	// NotFound: no such room (404, not_found).
	NotFound
	// Limited: the actor asked too often (429, rate_limited).
	Limited
	// Unavailable: the action was taken but its announcement was not
	// seen stored in time (503, not_stored), or the store failed.
	Unavailable
)

// Error is a refused or failed moderation.
type Error struct {
	Kind Kind
	Msg  string
	// Err is the store's error behind an Unavailable one, if any.
	Err error
}

// Error implements error.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the store's error.
func (e *Error) Unwrap() error { return e.Err }

// errorf returns an *Error of kind with a formatted message.
func errorf(kind Kind, format string, a ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, a...)}
}

// KindOf returns err's Kind (Unavailable for an error that is no
// *Error).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Unavailable
}

// Request is the body of a moderation request, over STOMP and REST:
// {"action":"ban","user":"bob"}.
type Request struct {
	Action Action `json:"action"`
	User   string `json:"user"`
}

// maxRequestBody bounds a moderation request's body.
const maxRequestBody = 1024

// ParseRequest reads a moderation request: a known action and a user
// name that valid accepts (nil: any name without spaces).
func ParseRequest(body []byte, valid func(string) bool) (Request, error) {
	if len(body) > maxRequestBody {
		return Request{}, errorf(Invalid, "a moderation request is at most %d bytes: {\"action\":\"kick|ban|unban|mute|unmute\",\"user\":\"name\"}", maxRequestBody)
	}
	var req Request
	if err := decodeStrict(body, &req); err != nil {
		return Request{}, errorf(Invalid, "body must be {\"action\":\"kick|ban|unban|mute|unmute\",\"user\":\"name\"}: %v", err)
	}
	if !knownAction(req.Action) {
		return Request{}, errorf(Invalid, "action must be kick, ban, unban, mute or unmute, not %q", req.Action)
	}
	if !validUser(req.User, valid) {
		return Request{}, errorf(Invalid, "user %q is not a valid user name", req.User)
	}
	return req, nil
}

// ParseModerators reads {"moderators":["name",...]}: at most
// rooms.MaxModerators names, each one valid accepts.
func ParseModerators(body []byte, valid func(string) bool) ([]string, error) {
	if len(body) > maxModeratorsBody {
		return nil, errorf(Invalid, "a moderator list is at most %d bytes", maxModeratorsBody)
	}
	var req struct {
		Moderators *[]string `json:"moderators"`
	}
	if err := decodeStrict(body, &req); err != nil || req.Moderators == nil {
		return nil, errorf(Invalid, "body must be {\"moderators\":[\"name\",...]}")
	}
	if len(*req.Moderators) > rooms.MaxModerators {
		return nil, errorf(Invalid, "a room has at most %d moderators", rooms.MaxModerators)
	}
	for _, m := range *req.Moderators {
		if !validUser(m, valid) {
			return nil, errorf(Invalid, "moderator %q is not a valid user name", m)
		}
	}
	return *req.Moderators, nil
}

// decodeStrict decodes a request body into v, refusing unknown fields.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// maxModeratorsBody bounds a moderator list's body: MaxModerators names
// of up to 64 bytes, quoted and separated.
const maxModeratorsBody = rooms.MaxModerators*68 + 64

// knownAction reports whether a is one of Actions.
func knownAction(a Action) bool {
	for _, x := range Actions {
		if a == x {
			return true
		}
	}
	return false
}

// validUser checks a user name with valid, or for a name without
// spaces of at most 64 bytes when valid is nil.
func validUser(name string, valid func(string) bool) bool {
	if valid != nil {
		return valid(name)
	}
	return name != "" && len(name) <= 64 && !strings.ContainsAny(name, " \t\r\n")
}

// authorize says whether actor may take action on target in room.
// Nobody acts on the room's owner or on themselves; the owner and the API
// key act on anyone else; a moderator acts on users without a role.
func authorize(room rooms.Room, actor Actor, action Action, target string) error {
	if target == room.Owner() {
		return errorf(Forbidden, "%s is the owner of room %s: nobody may %s them", target, room.ID, action)
	}
	if !actor.Admin && target == actor.User {
		return errorf(Invalid, "you cannot %s yourself", action)
	}
	if actor.Admin {
		return nil
	}
	switch room.Role(actor.User) {
	case rooms.RoleOwner:
		return nil
	case rooms.RoleModerator:
		if room.Role(target) == rooms.RoleModerator {
			return errorf(Forbidden, "%s is a moderator of room %s: only its owner may %s them", target, room.ID, action)
		}
		return nil
	}
	return errorf(Forbidden, "only the owner and the moderators of room %s may %s users", room.ID, action)
}
