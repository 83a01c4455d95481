package rooms

import (
	"context"
	"slices"
	"strings"
	"time"
)

// MaxMembers bounds the member list of a private room.
const MaxMembers = 1000

// Spec describes a room to create.
type Spec struct {
	// ID, when set, is the room's id (it must pass ValidID); empty: a new
	// random id. A room id already in use is ErrDuplicateID.
	ID string
	// Name is the room's display name (see CleanName).
	Name string
	// CreatedBy is the creator; for a private room, its owner.
	CreatedBy string
	// Private rooms admit only their owner and Members.
	Private bool
	// Members of a private room besides its owner (ignored for public
	// rooms).
	Members []string
	// Origin is the creating client's OriginOf, for per-address quotas
	// ("" when unknown).
	Origin string
	// Direct makes the direct room of CreatedBy and its one member (see
	// DirectSpec, which fills the rest).
	Direct bool
}

// Owner returns the user who may change a private room's members: its
// creator.
func (r Room) Owner() string { return r.CreatedBy }

// Allows reports whether user may follow the room, send to it, read its
// history and see who is online in it: anyone not banned for a public
// room, the owner and the members not banned for a private one.
func (r Room) Allows(user string) bool {
	if r.IsBanned(user) {
		return false
	}
	if !r.Private {
		return true
	}
	if user == "" {
		return false
	}
	return user == r.CreatedBy || slices.Contains(r.Members, user)
}

// CleanMembers returns members sorted, without duplicates, empty names or
// the owner (who is always admitted), and whether the result has at most
// MaxMembers names. Names are compared exactly: user names are case
// sensitive.
func CleanMembers(owner string, members []string) ([]string, bool) {
	out := make([]string, 0, len(members))
	for _, m := range members {
		m = strings.TrimSpace(m)
		if m != "" && m != owner {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return out, len(out) <= MaxMembers
}

// NewRoom checks spec and returns the room it describes with spec.ID or
// a new id; the store sets CreatedAt. It reports false when the name or
// spec.ID is invalid, a private room has no owner, or it has more than
// MaxMembers members.
func NewRoom(spec Spec) (Room, bool) {
	if spec.Direct {
		r := Room{ID: spec.ID, Name: spec.Name, CreatedBy: spec.CreatedBy, Private: true, Direct: true,
			Members: spec.Members, Origin: spec.Origin}
		return r, r.ValidDirect()
	}
	if IsDirectID(spec.ID) {
		return Room{}, false // reserved for direct rooms
	}
	name, ok := CleanName(spec.Name)
	if !ok {
		return Room{}, false
	}
	id := spec.ID
	if id == "" {
		id = NewID()
	} else if !ValidID(id) {
		return Room{}, false
	}
	r := Room{ID: id, Name: name, CreatedBy: spec.CreatedBy, Private: spec.Private, Origin: spec.Origin}
	if spec.Private {
		if spec.CreatedBy == "" {
			return Room{}, false
		}
		if r.Members, ok = CleanMembers(spec.CreatedBy, spec.Members); !ok {
			return Room{}, false
		}
	}
	return r, true
}

// Getter finds rooms known to this replica (a Store is one).
type Getter interface {
	Get(id string) (Room, bool)
}

// Await returns the room id, waiting up to wait for this replica to learn
// of it: a room created through another replica reaches this one's
// registry within milliseconds, and a client behind a load balancer must
// be able to use what it just created. It polls the local view only and
// gives up early when ctx ends.
func Await(ctx context.Context, g Getter, id string, wait time.Duration) (Room, bool) {
	deadline := time.Now().Add(wait)
	for {
		if room, ok := g.Get(id); ok {
			return room, true
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			return Room{}, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
