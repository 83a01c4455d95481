package presence

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of AnnounceOptions.
const (
	DefaultMaxBroadcastMembers = 200
	DefaultLeaveGrace          = 5 * time.Second
	DefaultEnterWindow         = 30 * time.Second
	DefaultUserRate            = 0.5
	DefaultUserBurst           = 10
	DefaultMaxPerUser          = 64
	DefaultMaxTracked          = 50_000
)

// AnnounceOptions configure an Announcer. Zero values take defaults.
type AnnounceOptions struct {
	// Publish sends one ENTER (entered) or LEAVE message into a room
	// (required). It is called by one goroutine at a time, in the order
	// the Announcer decided the messages.
	Publish func(roomID, user string, entered bool)
	// Online returns how many users are online in a room across the
	// replicas (Presence.Online); nil counts nobody.
	Online func(roomID string) int
	// Elsewhere reports whether user is online in the room on another
	// replica (Presence.Elsewhere); nil means never.
	Elsewhere func(roomID, user string) bool
	// MaxBroadcastMembers: in a room with more users online than this,
	// ENTER and LEAVE are not published (default 200).
	MaxBroadcastMembers int
	// LeaveGrace is how long a LEAVE is held: a re-join within it
	// cancels the LEAVE and publishes nothing (default 5 s).
	LeaveGrace time.Duration
	// EnterWindow is the least time between two ENTERs of one user into
	// one room; a later one waits for it (default 30 s).
	EnterWindow time.Duration
	// UserRate and UserBurst are each user's ENTER budget across rooms,
	// a token bucket (defaults 0.5/s, 10; a negative UserRate means
	// unlimited). An ENTER over budget is not published, nor its LEAVE.
	UserRate  float64
	UserBurst int
	// MaxPerUser, MaxPerRoom and MaxTracked bound the (room, user) pairs
	// tracked per user, per room and in all (defaults 64, twice
	// MaxBroadcastMembers, 50,000): a join past one of them is not
	// announced.
	MaxPerUser, MaxPerRoom, MaxTracked int
	// Now and After are the time source (default time.Now and
	// time.After); tests give a fake clock's.
	Now   func() time.Time
	After func(d time.Duration) <-chan time.Time
}

// withDefaults fills unset options.
func (o AnnounceOptions) withDefaults() AnnounceOptions {
	if o.Online == nil {
		o.Online = func(string) int { return 0 }
	}
	if o.Elsewhere == nil {
		o.Elsewhere = func(string, string) bool { return false }
	}
	if o.MaxBroadcastMembers <= 0 {
		o.MaxBroadcastMembers = DefaultMaxBroadcastMembers
	}
	if o.LeaveGrace <= 0 {
		o.LeaveGrace = DefaultLeaveGrace
	}
	if o.EnterWindow <= 0 {
		o.EnterWindow = DefaultEnterWindow
	}
	if o.UserRate == 0 {
		o.UserRate = DefaultUserRate
	}
	if o.UserBurst <= 0 {
		o.UserBurst = DefaultUserBurst
	}
	if o.MaxPerUser <= 0 {
		o.MaxPerUser = DefaultMaxPerUser
	}
	if o.MaxPerRoom <= 0 {
		o.MaxPerRoom = 2 * o.MaxBroadcastMembers
	}
	if o.MaxTracked <= 0 {
		o.MaxTracked = DefaultMaxTracked
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	return o
}

// Announcer decides which ENTER and LEAVE messages a replica publishes
// into its rooms, so that presence costs a room's history and members a
// bounded number of messages whatever clients do:
//
//   - a LEAVE is held for LeaveGrace and a re-join within it cancels it:
//     a quick leave and re-join (a reload, a resubscribe, a churning
//     client) publishes nothing;
//   - one user's ENTERs into one room are at least EnterWindow apart;
//   - ENTERs spend the user's budget (UserRate, UserBurst); one over it is
//     not published and neither is the LEAVE that would follow;
//   - in a room with more than MaxBroadcastMembers online neither is
//     published (the member counts still change);
//   - a user online in the room on another replica is not announced.
//
// It learns of changes through Change (a user's first subscription to a
// room on this replica, or its last one ending). Every (room, user) it
// tracks lives until its last ENTER is EnterWindow (and a full refill of
// the budget) old and the user has left, and their number is bounded per
// user, per room and in all. One goroutine (Start) publishes and owns the
// one timer; Close stops it. Its methods are safe for concurrent use.
type Announcer struct {
	opts AnnounceOptions
	// hold is how long a left pair is kept after its last ENTER: the
	// window, or longer when refilling the budget takes longer, so that
	// forgetting a user's last pair never hands it a fuller budget.
	hold time.Duration

	// wake tells the loop that the earliest due time may have moved
	// earlier; it holds at most one pending wake-up.
	wake chan struct{}

	mu      sync.Mutex
	entries map[pairKey]*entry
	users   map[string]*userBudget
	rooms   map[string]int // room -> tracked pairs
	due     dueHeap        // entries with something to do, earliest first
	armed   time.Time      // due time the loop waits for; zero: none
	seq     uint64         // orders entries due at the same time
	life    looper         // the loop goroutine: Start, Close
}

// pairKey names one user in one room.
type pairKey struct{ room, user string }

// entry is what the Announcer knows of one user in one room.
type entry struct {
	key pairKey
	// present: the user follows the room on this replica.
	present bool
	// shown: the room was told ENTER and not LEAVE since.
	shown bool
	// muted: this stay was decided not to be announced (budget, room
	// size, online elsewhere, caps); cleared when the user leaves.
	muted bool
	// lastEnter is when the last ENTER was published (zero: never).
	lastEnter time.Time
	// at is when the loop looks at the entry next; index is its place in
	// the heap (-1: not scheduled).
	at    time.Time
	seq   uint64
	index int
}

// userBudget is one user's ENTER budget and tracked pair count.
type userBudget struct {
	tokens *rate.Limiter // nil: unlimited
	pairs  int
}

// NewAnnouncer returns an Announcer; call Start to have it publish.
func NewAnnouncer(opts AnnounceOptions) *Announcer {
	opts = opts.withDefaults()
	hold := opts.EnterWindow
	if opts.UserRate > 0 {
		if refill := time.Duration(float64(opts.UserBurst) / opts.UserRate * float64(time.Second)); refill > hold {
			hold = refill
		}
	}
	return &Announcer{
		opts:    opts,
		hold:    hold,
		wake:    make(chan struct{}, 1),
		entries: map[pairKey]*entry{},
		users:   map[string]*userBudget{},
		rooms:   map[string]int{},
	}
}

// Change tells the Announcer that user's first subscription to roomID on
// this replica started (entered) or its last one ended. It never blocks
// on publishing: the loop publishes.
func (a *Announcer) Change(roomID, user string, entered bool) {
	now := a.opts.Now()
	k := pairKey{roomID, user}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.life.closed {
		return
	}
	e := a.entries[k]
	if e == nil {
		if !entered || !a.admit(k) {
			return // nothing shown to take back, or not announced at all
		}
		e = &entry{key: k, index: -1}
		a.entries[k] = e
	}
	e.present = entered
	if !entered {
		e.muted = false
	}
	a.plan(e, now)
}

// admit reports whether a new pair may be tracked, and counts it when
// so. A room already above the broadcast size is not tracked at all: none
// of its joins would be announced. a.mu must be held.
func (a *Announcer) admit(k pairKey) bool {
	if len(a.entries) >= a.opts.MaxTracked || a.rooms[k.room] >= a.opts.MaxPerRoom {
		return false
	}
	u := a.users[k.user]
	if u != nil && u.pairs >= a.opts.MaxPerUser {
		return false
	}
	if a.opts.Online(k.room) > a.opts.MaxBroadcastMembers {
		return false
	}
	if u == nil {
		u = &userBudget{}
		if a.opts.UserRate > 0 {
			u.tokens = rate.NewLimiter(rate.Limit(a.opts.UserRate), a.opts.UserBurst)
		}
		a.users[k.user] = u
	}
	u.pairs++
	a.rooms[k.room]++
	return true
}

// forget stops tracking e. a.mu must be held.
func (a *Announcer) forget(e *entry) {
	if e.index >= 0 {
		heap.Remove(&a.due, e.index)
	}
	delete(a.entries, e.key)
	if u := a.users[e.key.user]; u != nil {
		if u.pairs--; u.pairs <= 0 {
			delete(a.users, e.key.user)
		}
	}
	if n := a.rooms[e.key.room] - 1; n > 0 {
		a.rooms[e.key.room] = n
	} else {
		delete(a.rooms, e.key.room)
	}
}

// plan works out when e next needs the loop: an ENTER due now or when the
// window allows, a LEAVE after the grace, or forgetting the pair; a
// present, settled pair needs nothing. a.mu must be held.
func (a *Announcer) plan(e *entry, now time.Time) {
	var at time.Time
	switch {
	case e.present && !e.shown && !e.muted:
		at = now
		if w := e.lastEnter.Add(a.opts.EnterWindow); !e.lastEnter.IsZero() && w.After(now) {
			at = w
		}
	case !e.present && e.shown:
		at = now.Add(a.opts.LeaveGrace)
	case !e.present:
		at = e.lastEnter.Add(a.hold)
		if e.lastEnter.IsZero() || !at.After(now) {
			a.forget(e)
			return
		}
	}
	a.schedule(e, at)
}

// schedule puts e in the heap at at, or takes it out for a zero at, and
// wakes the loop when at is earlier than what it waits for. a.mu must be
// held.
func (a *Announcer) schedule(e *entry, at time.Time) {
	if at.IsZero() {
		if e.index >= 0 {
			heap.Remove(&a.due, e.index)
		}
		e.at = at
		return
	}
	a.seq++
	e.at, e.seq = at, a.seq
	if e.index >= 0 {
		heap.Fix(&a.due, e.index)
	} else {
		heap.Push(&a.due, e)
	}
	if a.armed.IsZero() || at.Before(a.armed) {
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
}

// announcement is one message the loop publishes.
type announcement struct {
	room, user string
	entered    bool
}

// runDue handles every entry due at or before now and returns the
// messages to publish, in order. a.mu must be held.
func (a *Announcer) runDue(now time.Time) []announcement {
	var out []announcement
	for len(a.due) > 0 && !a.due[0].at.After(now) {
		e := heap.Pop(&a.due).(*entry)
		e.at = time.Time{}
		switch {
		case e.present && !e.shown && !e.muted:
			if a.mayEnter(e, now) {
				e.shown, e.lastEnter = true, now
				out = append(out, announcement{e.key.room, e.key.user, true})
			} else {
				e.muted = true
			}
		case !e.present && e.shown:
			e.shown = false
			if a.mayLeave(e) {
				out = append(out, announcement{e.key.room, e.key.user, false})
			}
		}
		a.plan(e, now)
	}
	return out
}

// mayEnter decides whether e's ENTER is published now, spending a token
// of the user's budget when so. a.mu must be held.
func (a *Announcer) mayEnter(e *entry, now time.Time) bool {
	if a.opts.Online(e.key.room) > a.opts.MaxBroadcastMembers || a.opts.Elsewhere(e.key.room, e.key.user) {
		return false
	}
	u := a.users[e.key.user]
	return u == nil || u.tokens == nil || u.tokens.AllowN(now, 1)
}

// mayLeave decides whether the LEAVE of a shown pair is published: not
// when the room (the leaver included) has grown past the broadcast size,
// nor when the user is still online in it on another replica. a.mu must
// be held.
func (a *Announcer) mayLeave(e *entry) bool {
	return a.opts.Online(e.key.room) < a.opts.MaxBroadcastMembers && !a.opts.Elsewhere(e.key.room, e.key.user)
}

// Tracked returns how many (room, user) pairs the Announcer holds.
func (a *Announcer) Tracked() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.entries)
}

// Pending returns how many ENTERs and LEAVEs are waiting to be published
// (held in their grace or window, or due now).
func (a *Announcer) Pending() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, e := range a.due {
		if e.present != e.shown && !e.muted {
			n++
		}
	}
	return n
}

// Start starts the goroutine that publishes. It runs until ctx is
// cancelled or Close is called; Start after the first call or after
// Close does nothing.
func (a *Announcer) Start(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.life.start(ctx, a.loop)
}

// loop is the publishing goroutine: it waits for the earliest due entry
// (owning the one pending timer), handles what is due and publishes the
// result. It closes done when it returns.
func (a *Announcer) loop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	for {
		now := a.opts.Now()
		a.mu.Lock()
		out := a.runDue(now)
		var timer <-chan time.Time
		a.armed = time.Time{}
		if len(a.due) > 0 {
			a.armed = a.due[0].at
			timer = a.opts.After(a.armed.Sub(now))
		}
		a.mu.Unlock()
		a.publish(out)
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		case <-timer:
		}
	}
}

// publish sends out, in order.
func (a *Announcer) publish(out []announcement) {
	for _, m := range out {
		a.opts.Publish(m.room, m.user, m.entered)
	}
}

// Close stops the loop and publishes the LEAVEs held in their grace at
// once (the replica is going away, and its users with it); later Changes
// are ignored. It may be called more than once.
func (a *Announcer) Close() {
	a.mu.Lock()
	wait, first := a.life.close()
	a.mu.Unlock()
	if !first {
		return
	}
	wait()
	a.mu.Lock()
	var out []announcement
	for _, e := range a.entries {
		if !e.present && e.shown && a.mayLeave(e) {
			out = append(out, announcement{e.key.room, e.key.user, false})
		}
	}
	a.entries, a.users, a.rooms, a.due = map[pairKey]*entry{}, map[string]*userBudget{}, map[string]int{}, nil
	a.mu.Unlock()
	a.publish(out)
}

// dueHeap orders scheduled entries by due time (container/heap).
type dueHeap []*entry

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

// Push implements heap.Interface.
func (h *dueHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}

// Pop implements heap.Interface.
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}
