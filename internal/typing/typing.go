// Package typing turns clients' "I am typing" signals into ephemeral
// room events: published to /topic/room.<id>.typing (a topic of its own,
// so nothing reaches the room's stream or history), coalesced, bounded
// per user and per replica, and ended by the server when a user goes
// quiet.
//
// A Tracker keeps, per replica, who is typing where (a user's signals
// come over one session, so one replica sees them all). A start is
// published when it is news, and again as a refresh at most every
// Options.Refresh while signals keep coming; each carries expiresInMs, so
// that a client forgets an indicator whose stop never came. A stop is
// published when the user says so or, at the latest, Options.TTL after
// the last signal (Sweep). Each user has a budget of published events
// (Options.Rate, Options.Burst): signals beyond it are dropped silently,
// as a lossy indicator may be, and clients' expiry cleans up after them.
package typing

import (
	"encoding/json"
	"errors"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Type is the "type" of every typing event.
const Type = "TYPING"

// Defaults of Options.
const (
	DefaultTTL             = 5 * time.Second
	DefaultRefresh         = 2 * time.Second
	DefaultRate            = 2.0
	DefaultBurst           = 6
	DefaultMaxRoomsPerUser = 5
	DefaultMaxTracked      = 100_000
)

// Errors Update returns for a signal it refuses.
var (
	// ErrTooManyRooms: the user is typing in Options.MaxRoomsPerUser
	// rooms already.
	ErrTooManyRooms = errors.New("typing: typing in too many rooms at once")
	// ErrFull: the replica tracks Options.MaxTracked typists already.
	ErrFull = errors.New("typing: too many users typing on this replica")
)

// Topic is the destination of a room's typing events.
func Topic(roomID string) string { return "/topic/room." + roomID + ".typing" }

// Event is the body of a typing event:
// {"type":"TYPING","roomId","sender","typing":true,"expiresInMs":5000}
// while typing, "typing":false (and no expiry) once done.
type Event struct {
	Type        string `json:"type"`
	RoomID      string `json:"roomId"`
	Sender      string `json:"sender"`
	Typing      bool   `json:"typing"`
	ExpiresInMs int64  `json:"expiresInMs,omitempty"`
}

// Options configure a Tracker. Zero values take defaults.
type Options struct {
	// TTL is how long a start lasts without another signal; Sweep ends
	// it then (DefaultTTL).
	TTL time.Duration
	// Refresh is the least time between two published starts of one user
	// in one room (DefaultRefresh); signals in between only extend TTL.
	Refresh time.Duration
	// Rate and Burst are each user's budget of published events per
	// second (DefaultRate, DefaultBurst).
	Rate  float64
	Burst int
	// MaxRoomsPerUser bounds the rooms one user is typing in at once
	// (DefaultMaxRoomsPerUser).
	MaxRoomsPerUser int
	// MaxTracked bounds the users this replica tracks, typing or with a
	// budget still refilling (DefaultMaxTracked).
	MaxTracked int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// withDefaults fills unset options.
func (o Options) withDefaults() Options {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Refresh <= 0 {
		o.Refresh = DefaultRefresh
	}
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.MaxRoomsPerUser <= 0 {
		o.MaxRoomsPerUser = DefaultMaxRoomsPerUser
	}
	if o.MaxTracked <= 0 {
		o.MaxTracked = DefaultMaxTracked
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// typist is one user's state on this replica.
type typist struct {
	budget *rate.Limiter
	rooms  map[string]*typingIn // room id → state, rooms being typed in
}

// typingIn is one user's typing in one room.
type typingIn struct {
	until     time.Time // when it ends without another signal
	published time.Time // when its last start was published (zero: none was)
}

// Tracker decides which typing events to publish. It is safe for
// concurrent use.
type Tracker struct {
	opts  Options
	mu    sync.Mutex
	users map[string]*typist
}

// NewTracker returns a Tracker.
func NewTracker(opts Options) *Tracker {
	return &Tracker{opts: opts.withDefaults(), users: map[string]*typist{}}
}

// TTL is how long a start lasts without another signal.
func (t *Tracker) TTL() time.Duration { return t.opts.TTL }

// Update takes one signal of user in roomID (typing or done) and returns
// the event body to publish now, or nil when there is nothing to say (a
// signal within Refresh of the last start, a stop for nothing, or the
// user's budget spent). It refuses a start that would make the user type
// in more than MaxRoomsPerUser rooms, or this replica track more than
// MaxTracked users.
func (t *Tracker) Update(roomID, user string, typing bool) ([]byte, error) {
	now := t.opts.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.users[user]
	if u == nil {
		if !typing {
			return nil, nil
		}
		if len(t.users) >= t.opts.MaxTracked {
			t.sweepLocked(now, nil)
			if len(t.users) >= t.opts.MaxTracked {
				return nil, ErrFull
			}
		}
		u = &typist{budget: rate.NewLimiter(rate.Limit(t.opts.Rate), t.opts.Burst), rooms: map[string]*typingIn{}}
		t.users[user] = u
	}
	in := u.rooms[roomID]
	if !typing {
		if in == nil {
			return nil, nil
		}
		delete(u.rooms, roomID)
		if in.published.IsZero() || !u.budget.AllowN(now, 1) {
			return nil, nil // nobody was told, or clients' expiry will do
		}
		return t.event(roomID, user, false), nil
	}
	if in == nil {
		if len(u.rooms) >= t.opts.MaxRoomsPerUser {
			return nil, ErrTooManyRooms
		}
		in = &typingIn{}
		u.rooms[roomID] = in
	}
	in.until = now.Add(t.opts.TTL)
	if !in.published.IsZero() && now.Sub(in.published) < t.opts.Refresh {
		return nil, nil
	}
	if !u.budget.AllowN(now, 1) {
		return nil, nil
	}
	in.published = now
	return t.event(roomID, user, true), nil
}

// Stop is one stop event Sweep decided on.
type Stop struct {
	RoomID string
	Body   []byte
}

// Sweep ends every typing whose TTL passed, returning the stop events to
// publish (for the ones whose start was published), and forgets users
// with nothing typed and a full budget.
func (t *Tracker) Sweep() []Stop {
	now := t.opts.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Stop
	t.sweepLocked(now, &out)
	return out
}

// sweepLocked is Sweep under t.mu; out, when not nil, collects the
// stops (a sweep to make room for a new user still ends what expired,
// and its stops are lost: clients' expiry covers them).
func (t *Tracker) sweepLocked(now time.Time, out *[]Stop) {
	for user, u := range t.users {
		for roomID, in := range u.rooms {
			if now.Before(in.until) {
				continue
			}
			delete(u.rooms, roomID)
			if out != nil && !in.published.IsZero() {
				*out = append(*out, Stop{RoomID: roomID, Body: t.event(roomID, user, false)})
			}
		}
		if len(u.rooms) == 0 && u.budget.TokensAt(now) >= float64(t.opts.Burst) {
			delete(t.users, user)
		}
	}
}

// Tracked returns how many users the tracker holds.
func (t *Tracker) Tracked() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.users)
}

// event encodes one event.
func (t *Tracker) event(roomID, user string, typing bool) []byte {
	ev := Event{Type: Type, RoomID: roomID, Sender: user, Typing: typing}
	if typing {
		ev.ExpiresInMs = t.opts.TTL.Milliseconds()
	}
	b, _ := json.Marshal(ev) // plain data: cannot fail
	return b
}
