// Package presence knows which users are online in which room across all
// replicas.
//
// Each replica counts its own sessions' room subscriptions (Join, Leave)
// and publishes a snapshot of them to the broker topic Topic on every
// change (at most one publication per MinGap) and every Interval. Every
// replica consumes every replica's snapshots (Receive) and forgets a
// replica Expiry after its last snapshot, so the users of a replica that
// died without a word vanish within Expiry of its death. A replica that
// shuts down cleanly (Close) publishes an empty snapshot and its users
// vanish at once.
//
// An Announcer (announce.go) decides which ENTER and LEAVE messages the
// joins and leaves turn into: coalesced, rate-limited per user and room,
// and none in big rooms.
package presence

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"chatrelay/internal/stomp"
)

// Topic is the broker destination snapshots are published to and
// consumed from. Clients must not reach it: the destination policy has to
// reserve it.
const Topic = "/topic/chatrelay.presence"

// Defaults of Options.
const (
	DefaultInterval = time.Second
	DefaultExpiry   = 3 * time.Second
	DefaultMinGap   = 100 * time.Millisecond
	// DefaultMaxChangeBytesPerSecond bounds the bytes per second of
	// snapshots sent on changes (1 MiB/s).
	DefaultMaxChangeBytesPerSecond = 1 << 20
)

// Publisher sends a snapshot to the broker. It has the relay's signature;
// onAccepted, when not nil, is called once with the broker's verdict.
type Publisher interface {
	Publish(dest string, h stomp.Headers, body []byte, onAccepted func(error)) error
}

// Options configure a Presence. Zero values take defaults.
type Options struct {
	// Publisher publishes this replica's snapshots (required to share
	// presence; without one the Presence is local only).
	Publisher Publisher
	// ReplicaID names this replica in snapshots (default random).
	ReplicaID string
	// Interval is the period of snapshots without changes (default 1 s).
	Interval time.Duration
	// Expiry is how long a replica's last snapshot counts (default 3 s;
	// raised to 3 × Interval when not greater than Interval).
	Expiry time.Duration
	// MinGap is the least time between two snapshots triggered by
	// changes: changes within it are coalesced (default 100 ms).
	MinGap time.Duration
	// MaxChangeBytesPerSecond stretches the gap between two snapshots
	// triggered by changes to the last snapshot's size divided by this
	// rate when that is longer than MinGap: a snapshot lists every local
	// member, so one per join in a big room would cost O(members) per
	// join (default 1 MiB/s; the periodic snapshot is not delayed).
	MaxChangeBytesPerSecond int
	// Now and After are the time source (default time.Now and
	// time.After); tests give a fake clock's.
	Now   func() time.Time
	After func(d time.Duration) <-chan time.Time
	// Logger receives publication failures (default slog.Default()).
	Logger *slog.Logger
}

// withDefaults fills unset options.
func (o Options) withDefaults() Options {
	if o.ReplicaID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		o.ReplicaID = hex.EncodeToString(b[:])
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Expiry <= 0 {
		o.Expiry = DefaultExpiry
	}
	if o.Expiry <= o.Interval {
		o.Expiry = 3 * o.Interval
	}
	if o.MinGap <= 0 {
		o.MinGap = DefaultMinGap
	}
	if o.MaxChangeBytesPerSecond <= 0 {
		o.MaxChangeBytesPerSecond = DefaultMaxChangeBytesPerSecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Presence tracks room membership on this replica and, through the
// broker, on the others. Its methods are safe for concurrent use.
type Presence struct {
	opts Options

	// changed wakes the publishing goroutine after a local change; it
	// holds at most one pending wake-up.
	changed chan struct{}

	mu     sync.Mutex
	local  map[string]map[string]int // room -> user -> local subscriptions
	remote map[string]*replicaState  // replica id -> its last snapshot
	dirty  bool                      // local changed since the last snapshot
	seq    uint64                    // sequence number of the last snapshot
	life   looper                    // the publishing goroutine: Start, Close
}

// New returns a Presence; call Start to share it with other replicas.
func New(opts Options) *Presence {
	return &Presence{
		opts:    opts.withDefaults(),
		changed: make(chan struct{}, 1),
		local:   map[string]map[string]int{},
		remote:  map[string]*replicaState{},
	}
}

// ReplicaID returns the id this replica publishes its snapshots under.
func (p *Presence) ReplicaID() string { return p.opts.ReplicaID }

// Join counts one more local subscription of user to roomID. It reports
// whether it is the user's first one to that room on this replica (the
// moment to announce ENTER).
func (p *Presence) Join(roomID, user string) (first bool) {
	p.mu.Lock()
	users := p.local[roomID]
	if users == nil {
		users = map[string]int{}
		p.local[roomID] = users
	}
	users[user]++
	first = users[user] == 1
	if first {
		p.dirty = true
	}
	p.mu.Unlock()
	if first {
		p.wake()
	}
	return first
}

// Leave counts one local subscription of user to roomID less. It reports
// whether it was the user's last one to that room on this replica (the
// moment to announce LEAVE); a Leave without a matching Join reports false.
func (p *Presence) Leave(roomID, user string) (last bool) {
	p.mu.Lock()
	users := p.local[roomID]
	if n, ok := users[user]; ok {
		if n <= 1 {
			delete(users, user)
			if len(users) == 0 {
				delete(p.local, roomID)
			}
			last, p.dirty = true, true
		} else {
			users[user] = n - 1
		}
	}
	p.mu.Unlock()
	if last {
		p.wake()
	}
	return last
}

// Members returns the users online in roomID on any replica whose
// snapshot is still live, this one included, sorted and without
// duplicates. It never returns nil.
func (p *Presence) Members(roomID string) []string {
	now := p.opts.Now()
	set := map[string]struct{}{}
	p.mu.Lock()
	for user := range p.local[roomID] {
		set[user] = struct{}{}
	}
	for _, r := range p.remote {
		if !p.live(r, now) {
			continue
		}
		for _, user := range r.rooms[roomID] {
			set[user] = struct{}{}
		}
	}
	p.mu.Unlock()
	members := make([]string, 0, len(set))
	for user := range set {
		members = append(members, user)
	}
	sort.Strings(members)
	return members
}

// Online returns how many users are online in roomID: this replica's
// plus each live replica's count. A user online on two replicas counts
// twice; the cost is one lookup per replica, not per member, so that
// deciding whether a room is too big to announce joins in stays cheap in a
// big room.
func (p *Presence) Online(roomID string) int {
	now := p.opts.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.local[roomID])
	for _, r := range p.remote {
		if p.live(r, now) {
			n += len(r.rooms[roomID])
		}
	}
	return n
}

// Occupied returns every room someone is online in, on this replica or a
// live one, with Online's count for it. Its cost grows with the rooms
// that have members, not with the rooms that exist.
func (p *Presence) Occupied() map[string]int {
	now := p.opts.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.local))
	for roomID, users := range p.local {
		if len(users) > 0 {
			out[roomID] += len(users)
		}
	}
	for _, r := range p.remote {
		if !p.live(r, now) {
			continue
		}
		for roomID, users := range r.rooms {
			if len(users) > 0 {
				out[roomID] += len(users)
			}
		}
	}
	return out
}

// Elsewhere reports whether user is online in roomID on another replica
// whose snapshot is still live.
func (p *Presence) Elsewhere(roomID, user string) bool {
	now := p.opts.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.remote {
		if p.live(r, now) && slices.Contains(r.rooms[roomID], user) {
			return true
		}
	}
	return false
}

// wake tells the publishing goroutine that local state changed, without
// blocking: one pending wake-up covers any number of changes.
func (p *Presence) wake() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// localSnapshot copies the local membership as room -> sorted users and
// clears dirty. p.mu must be held.
func (p *Presence) localSnapshot() map[string][]string {
	rooms := make(map[string][]string, len(p.local))
	for room, users := range p.local {
		list := make([]string, 0, len(users))
		for user := range users {
			list = append(list, user)
		}
		sort.Strings(list)
		rooms[room] = list
	}
	p.dirty = false
	return rooms
}
