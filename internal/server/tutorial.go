package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"chatrelay/internal/chat"
	"chatrelay/internal/clientaddr"
	"chatrelay/internal/config"
	"chatrelay/internal/httpapi"
	"chatrelay/internal/roomlimit"
	"chatrelay/internal/rooms"
)

// knownRoomWait is how long a room id a tutorial client names is looked
// for before it is created.
const knownRoomWait = 200 * time.Millisecond

// apiOwner owns rooms created without a user of their own (as POST
// /api/rooms does): a generated anon-… name is no owner anyone can prove.
const apiOwner = "api"

// chatTutorial returns the chat handlers' part of the Spring-tutorial
// compatibility (config section tutorial); sessionOptions holds the
// sessions' part. tutorial.mode makes a session without a login send
// under its body's sender and makes its ENTER its presence announcement;
// tutorial.create_rooms lets aliased room frames create unknown rooms.
func (s *Server) chatTutorial(cfg config.Config) chat.Tutorial {
	on := config.On(cfg.Tutorial.Mode, cfg.Auth.Mode)
	return chat.Tutorial{
		SenderFromBody: on,
		ClientPresence: on,
		Announces:      s.announcer != nil,
		CreateRoom:     s.roomCreator(cfg),
	}
}

// roomCreator returns createRoomByID with tutorial.create_rooms on, nil
// otherwise.
func (s *Server) roomCreator(cfg config.Config) rooms.CreateByID {
	if !config.On(cfg.Tutorial.CreateRooms, cfg.Auth.Mode) {
		return nil
	}
	return s.createRoomByID
}

// createRoomByID creates the public room id, named id, for a tutorial
// client that named it (rooms.CreateByID), within the same limits as POST
// /api/rooms: its address's in auth.mode none or without a user of its
// own, the user's otherwise. A room another replica created with that id
// meanwhile is returned: callers check its access list.
func (s *Server) createRoomByID(ctx context.Context, id string, by rooms.Creator) (rooms.Room, error) {
	// a room just made through another replica (POST /chat/room there,
	// then the room page here) reaches this replica's registry within
	// milliseconds: wait that long before spending a creation on it
	if r, ok := rooms.Await(ctx, s.store, id, knownRoomWait); ok {
		return r, nil
	}
	addr := clientaddr.Key(by.Remote)
	owner := by.User
	if by.Anonymous {
		owner = ""
	}
	done, refused := s.limiter.Reserve(roomlimit.Requester{
		User: owner, Verified: s.cfg.Auth.Mode != config.AuthNone, Address: addr,
	})
	if refused != nil {
		return rooms.Room{}, refused
	}
	defer done()
	if owner == "" {
		owner = apiOwner
	}
	room, err := s.store.Create(ctx, rooms.Spec{ID: id, Name: id, CreatedBy: owner, Origin: rooms.OriginOf(addr)})
	if err == nil {
		s.log.Info("room created by its id", "room", id, "by", by.User, "address", addr)
		return room, nil
	}
	if !errors.Is(err, rooms.ErrDuplicateName) {
		// the id may be taken by a room this replica has not learnt of
		// yet (ErrDuplicateID, or its stream declared otherwise): that
		// room is the answer, private or not (the caller checks access)
		if r, ok := rooms.Await(ctx, s.store, id, time.Second); ok {
			return r, nil
		}
	}
	return rooms.Room{}, err
}

// mount adds h at pattern on mux, turning the mux's panic on a pattern
// that conflicts with another route into an error.
func mount(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("route %q: %v", pattern, p)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// tutorialRoutes converts tutorial.rest_aliases to the API's own type.
func tutorialRoutes(aliases []config.RESTAlias) []httpapi.TutorialRoute {
	out := make([]httpapi.TutorialRoute, len(aliases))
	for i, a := range aliases {
		out[i] = httpapi.TutorialRoute{Pattern: a.From, Op: a.To}
	}
	return out
}
