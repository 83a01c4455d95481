package session

import "chatrelay/internal/rooms"

// Spring-tutorial clients connect without a login and name themselves in
// each message's "sender", announcing themselves with an ENTER of their
// own. With Options.ClientPresence such a session (its user generated:
// auth.Identity.Anonymous) counts in a room's presence under its generated
// name, unannounced, until its ENTER claims a name (router.Context.Claim):
// from then on it counts under that name, the room is told ENTER for it
// once (through OnPresence, so with the announcer's bounds), and LEAVE when
// the session's last subscription to the room ends. A session with a user
// of its own is announced when it subscribes, as ever; its ENTER claims the
// name it already has and changes nothing.

// quietPresence reports whether the session waits for its own ENTER
// before the rooms it follows are told of it.
func (s *Session) quietPresence() bool { return s.opts.ClientPresence && s.anonymous }

// presenceName returns the name a new subscription to roomID counts under
// in presence and whether the room is told of it: the name the session's
// other subscriptions to the room count under once it has claimed one,
// else its user (told unless quietPresence).
func (s *Session) presenceName(roomID string) (name string, shown bool) {
	s.subsMu.RLock()
	defer s.subsMu.RUnlock()
	for _, sub := range s.subs {
		if sub.room == roomID && sub.stop != nil && sub.shown {
			return sub.as, true
		}
	}
	return s.user, !s.quietPresence()
}

// mayCreateRoom reports whether sub, naming a room this replica does not
// know, may create it: Options.CreateRoom is set and the client wrote an
// alias (/sub/chat/room/{id}), not the canonical /topic/room.{id}.
func (s *Session) mayCreateRoom(sub *subscription) bool {
	return s.opts.CreateRoom != nil && sub.target.Original != sub.target.Destination
}

// creator returns who the session is, for Options.CreateRoom.
func (s *Session) creator() rooms.Creator {
	return rooms.Creator{User: s.user, Anonymous: s.anonymous, Remote: s.remote}
}

// claim makes name the presence name of every subscription of the
// session to roomID (router.Context.Claim): it joins presence under name
// first, then leaves under the old name, telling OnPresence of an ENTER
// when name is new to the room on this replica and of a LEAVE of an old
// name that was shown and is gone. It reports whether the session follows
// the room.
func (s *Session) claim(roomID, name string) bool {
	type move struct {
		old      string
		oldShown bool
	}
	var moves []move
	s.claimMu.Lock()
	defer s.claimMu.Unlock()
	s.subsMu.Lock()
	for _, sub := range s.subs {
		if sub.room != roomID || sub.stop == nil {
			continue
		}
		moves = append(moves, move{sub.as, sub.shown})
		sub.as, sub.shown = name, true
	}
	s.subsMu.Unlock()
	if len(moves) == 0 {
		return false
	}
	p, notify := s.opts.Presence, s.opts.OnPresence
	if p == nil {
		return true
	}
	for _, m := range moves {
		if m.old == name {
			if !m.oldShown && notify != nil {
				// the same name, not announced yet: the count is
				// unchanged, so tell the announcer directly (it
				// announces a pair once)
				notify(roomID, name, true)
			}
			continue
		}
		if p.Join(roomID, name) && notify != nil {
			notify(roomID, name, true)
		}
		if p.Leave(roomID, m.old) && m.oldShown && notify != nil {
			notify(roomID, m.old, false)
		}
	}
	return true
}
