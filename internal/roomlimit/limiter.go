// Package roomlimit bounds room creation, on every route that creates
// rooms: a token bucket per signed-in user and per client address (the
// rates), a cap on the rooms one user or one address may own (the
// quotas), counted in the room registry every replica shares, and a cap
// on all rooms. Each room is a stream in RabbitMQ, so these are what keep
// one client from filling the broker.
package roomlimit

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"chatrelay/internal/rooms"
)

// Limits are the bounds, named after their config keys (rooms.create.*).
// Every field must be positive.
type Limits struct {
	// MaxRooms caps the rooms that may exist, all creators together.
	MaxRooms int
	// UserPerMinute and UserBurst are one signed-in user's creation rate.
	UserPerMinute float64
	UserBurst     int
	// UserQuota caps the rooms one user may own.
	UserQuota int
	// AddressPerMinute and AddressBurst are one client address's rate,
	// for requests that name no verified user.
	AddressPerMinute float64
	AddressBurst     int
	// AddressQuota caps the rooms created from one address by requests
	// that name no verified user.
	AddressQuota int
	// MaxTracked bounds how many users, and how many addresses, the
	// rates remember at once.
	MaxTracked int
	// Section is the config section the limits come from, named in
	// refusals: "rooms.create" when empty ("rooms.direct" for the
	// direct conversations' own limiter).
	Section string
}

// key returns the config key of a limit: one of the Key* constants, in
// the limits' Section.
func (lim Limits) key(k string) string {
	if lim.Section == "" {
		return k
	}
	return lim.Section + strings.TrimPrefix(k, "rooms.create")
}

// Config keys of the limits, named in refusals.
const (
	KeyMaxRooms     = "rooms.create.max_rooms"
	KeyUserRate     = "rooms.create.user_per_minute"
	KeyUserQuota    = "rooms.create.user_quota"
	KeyAddressRate  = "rooms.create.address_per_minute"
	KeyAddressQuota = "rooms.create.address_quota"
	KeyMaxTracked   = "rooms.create.max_tracked"
)

// Refusal codes.
const (
	// CodeRate: a rate refused; retry after RetryAfter.
	CodeRate = "rate_limited"
	// CodeQuota: a quota or the cap on all rooms refused; retrying does
	// not help until rooms are deleted.
	CodeQuota = "quota_exceeded"
)

// Refusal is why a creation was refused: a code, the config key of the
// limit and a message for the client.
type Refusal struct {
	Code    string
	Key     string
	Message string
	// RetryAfter is when a rate will allow another creation (0 for
	// quotas).
	RetryAfter time.Duration
}

// Error implements error.
func (r *Refusal) Error() string { return r.Message }

// Requester is who asks to create a room.
type Requester struct {
	// User is the signed-in user, "" for none.
	User string
	// Verified says the user name was checked (auth.mode static or jwt).
	// With auth.mode none anyone may claim any name, so the address
	// limits apply as well.
	Verified bool
	// Address is the client's clientaddr.Key.
	Address string
	// Admin is the holder of the API key: only MaxRooms applies.
	Admin bool
}

// byAddress reports whether the address limits apply to q.
func (q Requester) byAddress() bool { return !q.Admin && (q.User == "" || !q.Verified) }

// byUser reports whether the user limits apply to q.
func (q Requester) byUser() bool { return !q.Admin && q.User != "" }

// Lister lists the rooms of the registry (a rooms.Store is one).
type Lister interface {
	List() []rooms.Room
}

// Counter is a Lister that also counts without listing (rabbitstore and
// memstore): the limiter then asks it, instead of copying every room per
// creation. user and origin "" count none.
type Counter interface {
	Lister
	CountRooms(user, origin string) (total, byUser, byOrigin int)
}

// Limiter decides whether a room may be created. It is safe for
// concurrent use.
type Limiter struct {
	lim   Limits
	rooms Lister
	now   func() time.Time // the time source; tests set a fake one

	users, addrs *buckets

	// creations in flight on this replica, not yet in the registry:
	// counted with the registry's rooms so that a burst of concurrent
	// requests cannot pass a quota together
	mu       sync.Mutex
	inFlight int
	byUser   map[string]int
	byOrigin map[string]int
}

// New returns a Limiter counting rooms in list.
func New(lim Limits, list Lister) *Limiter {
	return &Limiter{
		lim:      lim,
		rooms:    list,
		now:      time.Now,
		users:    newBuckets(lim.UserPerMinute, lim.UserBurst, lim.MaxTracked),
		addrs:    newBuckets(lim.AddressPerMinute, lim.AddressBurst, lim.MaxTracked),
		byUser:   make(map[string]int),
		byOrigin: make(map[string]int),
	}
}

// Reserve admits one creation by q, or refuses it. An admitted creation
// counts against q's quotas until done is called (with the room created
// or not): by then the registry lists the room, if there is one.
func (l *Limiter) Reserve(q Requester) (done func(), refused *Refusal) {
	if r := l.takeRates(q); r != nil {
		return nil, r
	}
	origin := rooms.OriginOf(q.Address)
	l.mu.Lock()
	defer l.mu.Unlock()
	// listed under l.mu: a creation that finishes meanwhile is either in
	// the list or still in flight, never neither (its done runs once the
	// registry lists its room)
	user, org := "", ""
	if q.byUser() {
		user = q.User
	}
	if q.byAddress() {
		org = origin
	}
	var total, mine, fromAddr int
	if c, ok := l.rooms.(Counter); ok {
		total, mine, fromAddr = c.CountRooms(user, org)
	} else {
		total, mine, fromAddr = rooms.Count(l.rooms.List(), user, org)
	}
	total, mine, fromAddr = total+l.inFlight, mine+l.byUser[q.User], fromAddr+l.byOrigin[origin]
	switch {
	case total >= l.lim.MaxRooms:
		return nil, quota(l.lim.key(KeyMaxRooms), "the server holds its maximum of %d rooms (%s); delete rooms to make more", l.lim.MaxRooms, l.lim.key(KeyMaxRooms))
	case q.byUser() && mine >= l.lim.UserQuota:
		return nil, quota(l.lim.key(KeyUserQuota), "user %s owns %d rooms, the most one user may (%s); delete one to make another", q.User, mine, l.lim.key(KeyUserQuota))
	case q.byAddress() && fromAddr >= l.lim.AddressQuota:
		return nil, quota(l.lim.key(KeyAddressQuota), "%d rooms were created from your address, the most allowed without a verified sign-in (%s)", fromAddr, l.lim.key(KeyAddressQuota))
	}
	l.inFlight++
	if q.byUser() {
		l.byUser[q.User]++
	}
	if q.byAddress() {
		l.byOrigin[origin]++
	}
	var once sync.Once
	return func() { once.Do(func() { l.release(q, origin) }) }, nil
}

// takeRates takes a token from each bucket that applies to q.
func (l *Limiter) takeRates(q Requester) *Refusal {
	now := l.now()
	if q.byUser() {
		if r := rateRefusal(l.users, q.User, now, l.lim.key(KeyUserRate), l.lim.key(KeyMaxTracked), "user "+q.User); r != nil {
			return r
		}
	}
	if q.byAddress() {
		if r := rateRefusal(l.addrs, q.Address, now, l.lim.key(KeyAddressRate), l.lim.key(KeyMaxTracked), "your address"); r != nil {
			return r
		}
	}
	return nil
}

// rateRefusal takes a token from key's bucket in b, or says why not.
func rateRefusal(b *buckets, key string, now time.Time, cfgKey, trackedKey, who string) *Refusal {
	wait, full := b.take(key, now)
	switch {
	case full:
		return &Refusal{Code: CodeRate, Key: trackedKey, RetryAfter: wait,
			Message: fmt.Sprintf("too many clients are creating rooms right now (%s); try again later", trackedKey)}
	case wait > 0:
		return &Refusal{Code: CodeRate, Key: cfgKey, RetryAfter: wait,
			Message: fmt.Sprintf("%s creates rooms too fast (%s); try again in %s", who, cfgKey, wait.Round(time.Second))}
	}
	return nil
}

// release ends an admitted creation.
func (l *Limiter) release(q Requester, origin string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
	if q.byUser() {
		dec(l.byUser, q.User)
	}
	if q.byAddress() {
		dec(l.byOrigin, origin)
	}
}

// dec counts one less for key, forgetting it at zero.
func dec(m map[string]int, key string) {
	if m[key] <= 1 {
		delete(m, key)
		return
	}
	m[key]--
}

// quota builds a quota refusal.
func quota(key, format string, a ...any) *Refusal {
	return &Refusal{Code: CodeQuota, Key: key, Message: fmt.Sprintf(format, a...)}
}
