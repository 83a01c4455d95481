package moderation

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"chatrelay/internal/rooms"
)

// Store is what the Service needs of the room store: find rooms and
// change their roles and sanctions (rooms.Moderated).
type Store interface {
	rooms.Getter
	rooms.Moderated
}

// Storer publishes a room message and returns once it is seen stored in
// the room's history (confirm.Confirmer.Store).
type Storer interface {
	Store(ctx context.Context, roomID, msgID string, body []byte) error
}

// Defaults of Options.
const (
	// DefaultRate and DefaultBurst bound the moderations one actor asks
	// for: every action is a registry event and a room message.
	DefaultRate  = 2
	DefaultBurst = 20
	// DefaultMaxActors bounds the actors whose budgets are remembered
	// (the full ones are forgotten first).
	DefaultMaxActors = 10000
)

// Options configure a Service. Rooms and Messages are required.
type Options struct {
	// Rooms finds rooms and keeps their moderation state.
	Rooms Store
	// Messages stores the SYSTEM message that announces each action.
	Messages Storer
	// Language of the announcements: "en", else Korean.
	Language string
	// Now returns the current time (default time.Now).
	Now func() time.Time
	// NewID returns a new message id (default a random UUID).
	NewID func() string
	// Rate and Burst bound each actor's moderations per second (the API
	// key is one actor); defaults DefaultRate, DefaultBurst.
	Rate  float64
	Burst int
	// MaxActors bounds the remembered budgets (default DefaultMaxActors).
	MaxActors int
}

// Service carries out moderations: it checks who may, changes the
// room's state in the store, and announces the action in the room.
type Service struct {
	opts Options

	mu      sync.Mutex
	budgets map[string]*rate.Limiter // by actor
}

// New returns a Service.
func New(opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = uuid.NewString
	}
	if opts.Rate <= 0 {
		opts.Rate = DefaultRate
	}
	if opts.Burst <= 0 {
		opts.Burst = DefaultBurst
	}
	if opts.MaxActors <= 0 {
		opts.MaxActors = DefaultMaxActors
	}
	return &Service{opts: opts, budgets: make(map[string]*rate.Limiter)}
}

// Act has actor take action on user in room roomID: checked
// (authorize), rate limited per actor, applied to the room's state (all
// but a kick), then announced by a SYSTEM message stored in the room's
// history, which also ends a kicked or banned user's subscriptions on
// every replica. It returns the room as changed. A refusal is an
// *Error; when the announcement is not seen stored in time (Unavailable)
// the state change stands, and asking again announces it again.
func (s *Service) Act(ctx context.Context, roomID string, actor Actor, action Action, user string) (rooms.Room, error) {
	if !knownAction(action) {
		return rooms.Room{}, errorf(Invalid, "action must be kick, ban, unban, mute or unmute, not %q", action)
	}
	user = strings.TrimSpace(user)
	room, err := s.room(roomID, actor)
	if err != nil {
		return rooms.Room{}, err
	}
	if err := authorize(room, actor, action, user); err != nil {
		return rooms.Room{}, err
	}
	if err := s.spend(actor); err != nil {
		return rooms.Room{}, err
	}
	if ch, ok := action.change(user); ok {
		if room, err = s.moderate(ctx, roomID, ch); err != nil {
			return rooms.Room{}, err
		}
	}
	post := s.post(roomID, actor, string(action), user, actionText(s.opts.Language, action, actor.name(), user))
	return room, s.announce(ctx, post)
}

// SetModerators has actor (the owner or the API key) replace room
// roomID's moderators, and announces the new list in the room.
func (s *Service) SetModerators(ctx context.Context, roomID string, actor Actor, moderators []string) (rooms.Room, error) {
	room, err := s.room(roomID, actor)
	if err != nil {
		return rooms.Room{}, err
	}
	if !actor.Admin && room.Role(actor.User) != rooms.RoleOwner {
		return rooms.Room{}, errorf(Forbidden, "only the owner of room %s may choose its moderators", roomID)
	}
	mods, ok := rooms.CleanModerators(room.Owner(), moderators)
	if !ok {
		return rooms.Room{}, errorf(Invalid, "a room has at most %d moderators", rooms.MaxModerators)
	}
	if room.Private {
		for _, m := range mods {
			if !room.Allows(m) {
				return rooms.Room{}, errorf(Invalid, "%s is not a member of private room %s: make them a member first", m, roomID)
			}
		}
	}
	if err := s.spend(actor); err != nil {
		return rooms.Room{}, err
	}
	if room, err = s.moderate(ctx, roomID, rooms.Change{Action: rooms.ChangeModerators, Moderators: mods}); err != nil {
		return rooms.Room{}, err
	}
	post := s.post(roomID, actor, EventModerators, "", moderatorsText(s.opts.Language, actor.name(), mods))
	return room, s.announce(ctx, post)
}

// room returns the room actor asks about; a room the actor may not see
// is not found for them.
func (s *Service) room(roomID string, actor Actor) (rooms.Room, error) {
	room, ok := s.opts.Rooms.Get(roomID)
	if !ok || (!actor.Admin && !room.Allows(actor.User) && room.Private) {
		return rooms.Room{}, errorf(NotFound, "room %q does not exist", roomID)
	}
	if room.Direct {
		return rooms.Room{}, errorf(Forbidden, "room %s is a private conversation of two: it has no moderation", roomID)
	}
	return room, nil
}

// moderate applies ch in the store.
func (s *Service) moderate(ctx context.Context, roomID string, ch rooms.Change) (rooms.Room, error) {
	room, err := s.opts.Rooms.Moderate(ctx, roomID, ch)
	switch {
	case errors.Is(err, rooms.ErrNotFound):
		return rooms.Room{}, errorf(NotFound, "room %q does not exist", roomID)
	case errors.Is(err, rooms.ErrInvalid):
		return rooms.Room{}, errorf(Invalid, "room %s cannot take this change (at most %d banned and %d muted users)", roomID, rooms.MaxSanctioned, rooms.MaxSanctioned)
	case err != nil:
		return rooms.Room{}, &Error{Kind: Unavailable, Msg: "the change could not be stored: " + err.Error(), Err: err}
	}
	return room, nil
}

// post returns the SYSTEM message announcing an event.
func (s *Service) post(roomID string, actor Actor, event, target, text string) rooms.Post {
	return rooms.Post{
		ID:      s.opts.NewID(),
		RoomID:  roomID,
		Type:    rooms.System,
		Sender:  actor.name(),
		Message: text,
		SentAt:  s.opts.Now().UTC(),
		Event:   event,
		Target:  target,
	}
}

// announce stores post in its room's history.
func (s *Service) announce(ctx context.Context, post rooms.Post) error {
	body, err := json.Marshal(post)
	if err != nil {
		return err
	}
	if err := s.opts.Messages.Store(ctx, post.RoomID, post.ID, body); err != nil {
		if errors.Is(err, rooms.ErrNotFound) {
			return errorf(NotFound, "room %q was deleted", post.RoomID)
		}
		return &Error{Kind: Unavailable, Msg: "the change is made, but its announcement " + post.ID + " was not seen stored in room " +
			post.RoomID + ": ask again to announce it again", Err: err}
	}
	return nil
}

// spend takes one moderation from actor's budget.
func (s *Service) spend(actor Actor) error {
	key := actor.User
	if actor.Admin {
		key = "\x00api-key"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lim := s.budgets[key]
	if lim == nil {
		if len(s.budgets) >= s.opts.MaxActors {
			s.forgetFull()
		}
		lim = rate.NewLimiter(rate.Limit(s.opts.Rate), s.opts.Burst)
		s.budgets[key] = lim
	}
	if !lim.AllowN(s.opts.Now(), 1) {
		return errorf(Limited, "more than %g moderations per second (burst %d): slow down", s.opts.Rate, s.opts.Burst)
	}
	return nil
}

// forgetFull forgets the budgets that are full again (a new one would be
// the same), or, if none is, all of them. Caller holds s.mu.
func (s *Service) forgetFull() {
	now := s.opts.Now()
	for k, lim := range s.budgets {
		if lim.TokensAt(now) >= float64(s.opts.Burst) {
			delete(s.budgets, k)
		}
	}
	if len(s.budgets) >= s.opts.MaxActors {
		clear(s.budgets)
	}
}
