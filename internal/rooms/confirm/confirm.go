// Package confirm publishes room messages until they are stored.
//
// A broker RECEIPT is no proof that a message is stored: RabbitMQ has
// receipted STOMP SENDs routed to a room stream that had no writer (its
// leader's node had just stopped), and those messages were in no replica
// of the stream. A room's feed is the proof: RabbitMQ delivers a stream's
// records to consumers only once they are committed, so a message this
// replica reads back through its own feed of the room is stored.
//
// A Confirmer publishes a message (which carries its id) to the room's
// topic, then waits until the room's feed delivers a message with that
// id. If none comes within RepublishAfter it publishes the same message
// (same id) again, and so on, until Timeout: then the sender is told that
// the message was not stored. Publishes after the first go through
// Options.Republish when set (a fresh broker channel), since the
// Publisher's own channel may be what lost the message. A message may so
// reach the stream more than once; feeds deliver each id once (package
// feed), so subscribers and history see it once: at least once into the
// stream, exactly once out of it.
package confirm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
)

// Defaults for the zero fields of Options.
const (
	// DefaultRepublishAfter is how long a message may stay unseen before
	// it is published again.
	DefaultRepublishAfter = 2 * time.Second
	// DefaultTimeout is how long a message may stay unseen in all
	// before its sender is told it was not stored.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxPending bounds the messages waiting to be seen stored.
	DefaultMaxPending = 50000
)

// Errors given to Send's done.
var (
	// ErrNotStored means the message was not seen stored within the
	// timeout. It may still be stored later (a copy may wait in the
	// relay's outbox for the broker to come back).
	ErrNotStored = errors.New("message not confirmed stored in time")
	// ErrClosed means the Confirmer was closed first.
	ErrClosed = errors.New("confirmer closed")
	// ErrPending means a message with the same id waits already.
	ErrPending = errors.New("a message with this id is already being confirmed")
	// ErrBusy means Options.MaxPending messages wait already: the
	// message was not published.
	ErrBusy = errors.New("too many messages waiting to be confirmed stored")
)

// Follower follows rooms and readies them for messages (a rooms.Store is
// one).
type Follower interface {
	Follow(ctx context.Context, roomID string, start rooms.Start, deliver func(rooms.Message, []byte)) (stop func(), err error)
	// Open readies a room to store messages (rooms.Store.Open); a
	// watch opens its room before it publishes to it.
	Open(ctx context.Context, roomID string) error
}

// Poster stores a message of a room that has no stream elsewhere than
// in the room's topic (rabbitstore.Store: in the registry, for rooms of a
// few messages). Whether a posted message is stored shows in the room's
// feed, as for a published one.
type Poster interface {
	// Postable reports whether a message of size bytes to the room
	// would be posted now: then the room needs no Open.
	Postable(roomID string, size int) bool
	// PostAsync takes the message and reports true: it posts it, or
	// opens the room and calls publish, keeping the order it was given
	// the room's messages in. false: the room has a stream; publish the
	// message to its topic.
	PostAsync(roomID, msgID string, body []byte, publish func()) bool
}

// Publisher publishes to the broker with the relay's signature.
type Publisher interface {
	Publish(dest string, h stomp.Headers, body []byte, onAccepted func(error)) error
}

// Options configure a Confirmer. Rooms and Publisher are required.
type Options struct {
	// Rooms is followed to see messages stored.
	Rooms Follower
	// Publisher publishes the messages to their room's topic.
	Publisher Publisher
	// RepublishAfter is how long a message may stay unseen before it is
	// published again (default DefaultRepublishAfter).
	RepublishAfter time.Duration
	// Timeout is how long a message may stay unseen in all (default
	// DefaultTimeout).
	Timeout time.Duration
	// MaxPending bounds the messages waiting to be seen stored, in all
	// rooms (default DefaultMaxPending): each holds its body until then.
	// A Send beyond it fails at once with ErrBusy.
	MaxPending int
	// Poster, when set, is offered each message before its room's
	// topic; a room it posts to is not opened.
	Poster Poster
	// Republish, when set, publishes a message to its room's topic
	// again over a path of its own (rabbitstore: a fresh AMQP channel),
	// for every publish after a message's first. Publisher's long-lived
	// broker channel may be what lost the message: RabbitMQ 3.10's
	// channels keep writing to a stream's stopped writer until the
	// stream coordinator tells them of the new one, seconds later, while
	// a new channel finds the new writer at once. Nil, or an error:
	// Publisher publishes it again.
	Republish func(ctx context.Context, roomID string, body []byte) error
	// Logger receives confirmation events. Default: discard.
	Logger *slog.Logger
}

// Confirmer publishes room messages until the room's feed on this
// replica shows them stored. It is safe for concurrent use.
type Confirmer struct {
	opts Options
	log  *slog.Logger

	// mu guards every watch and pending message. It is never held while
	// calling the room store, the publisher or a done function.
	mu       sync.Mutex
	watches  map[string]*watch // by room id, while the room is watched
	npending int               // messages waiting, in every watch
	drained  []chan struct{}   // closed when npending drops to 0
	closed   bool

	stored, republished, notStored, busy atomic.Int64
}

// Stats counts what a Confirmer did since it started.
type Stats struct {
	// Stored messages were seen stored; NotStored ones were given up on.
	Stored, NotStored int64
	// Republished counts publishes after a message's first.
	Republished int64
	// Busy counts messages refused with ErrBusy.
	Busy int64
	// Pending is how many messages wait to be seen stored now.
	Pending int
}

// Stats returns the counts so far.
func (c *Confirmer) Stats() Stats {
	c.mu.Lock()
	pending := c.npending
	c.mu.Unlock()
	return Stats{Stored: c.stored.Load(), NotStored: c.notStored.Load(), Republished: c.republished.Load(), Busy: c.busy.Load(), Pending: pending}
}

// New returns a Confirmer.
func New(opts Options) *Confirmer {
	if opts.RepublishAfter <= 0 {
		opts.RepublishAfter = DefaultRepublishAfter
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Confirmer{opts: opts, log: opts.Logger, watches: make(map[string]*watch)}
}

// Timeout returns how long a message may stay unseen in all.
func (c *Confirmer) Timeout() time.Duration { return c.opts.Timeout }

// pending is one message waiting to be seen stored. Guarded by c.mu.
type pending struct {
	id       string
	body     []byte
	done     func(error)
	start    time.Time
	deadline time.Time
	timer    *time.Timer
	sends    int  // publishes so far
	resolved bool // done has been (or is being) called
}

// Send publishes body, the JSON of a room message with id msgID, to the
// room's topic, and calls done exactly once: with nil as soon as this
// replica's feed of the room delivers a message with that id, with an
// error wrapping ErrNotStored after the timeout, with the room store's
// error when the room cannot be followed (rooms.ErrNotFound: deleted),
// with ErrBusy (at once, nothing published) when MaxPending messages wait
// already, or with ErrClosed. done may run on any goroutine, the caller's included
// and a feed's delivery (with the feed's lock held): it must not block
// and must not call back into the Confirmer or the room store. Send does
// not block: the message is published once the room is watched, in the
// order Send was called.
func (c *Confirmer) Send(roomID, msgID string, body []byte, done func(error)) {
	now := time.Now()
	p := &pending{id: msgID, body: body, done: done, start: now, deadline: now.Add(c.opts.Timeout)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		done(ErrClosed)
		return
	}
	if c.npending >= c.opts.MaxPending {
		c.mu.Unlock()
		c.busy.Add(1)
		done(ErrBusy)
		return
	}
	w := c.watches[roomID]
	fresh := w == nil
	if fresh {
		w = newWatch(c, roomID)
		c.watches[roomID] = w
	}
	if _, dup := w.pending[msgID]; dup {
		c.mu.Unlock()
		done(ErrPending)
		return
	}
	w.pending[msgID] = p
	c.npending++
	w.busy()
	p.timer = time.AfterFunc(c.wait(p, now), func() {
		// runs on the timer's goroutine; owns nothing: republishes
		// p or gives up on it
		c.tick(w, p)
	})
	publishNow := w.state == watchLive
	if publishNow {
		p.sends++
	} else {
		w.queue = append(w.queue, p)
	}
	c.mu.Unlock()
	if fresh {
		go w.attach() // owns the watch's attachment until it is live
	}
	if publishNow {
		c.publish(roomID, p)
	}
}

// Store is Send that waits for the outcome, or until ctx ends (the
// confirmation then goes on without a waiter).
func (c *Confirmer) Store(ctx context.Context, roomID, msgID string, body []byte) error {
	result := make(chan error, 1) // never blocks done
	c.Send(roomID, msgID, body, func(err error) { result <- err })
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait returns how long p waits from now for its next publish or its
// deadline.
func (c *Confirmer) wait(p *pending, now time.Time) time.Duration {
	return min(c.opts.RepublishAfter, p.deadline.Sub(now))
}

// publishHeaders are the headers of a room message.
var publishHeaders = stomp.Headers{{Key: "content-type", Value: "application/json"}}

// publish posts p (Options.Poster) or sends it to the room's topic. The
// broker's verdict is only logged: what counts is the feed.
func (c *Confirmer) publish(roomID string, p *pending) {
	if c.opts.Poster != nil && c.opts.Poster.PostAsync(roomID, p.id, p.body, func() { c.publishTopic(roomID, p) }) {
		return
	}
	c.publishTopic(roomID, p)
}

// publishTopic sends p to the room's topic.
func (c *Confirmer) publishTopic(roomID string, p *pending) {
	onAccepted := func(err error) {
		if err != nil {
			c.log.Debug("confirm: publish not accepted", "room", roomID, "id", p.id, "err", err)
		}
	}
	if err := c.opts.Publisher.Publish(rooms.Topic(roomID), publishHeaders, p.body, onAccepted); err != nil {
		c.log.Debug("confirm: publish refused; trying again later", "room", roomID, "id", p.id, "err", err)
	}
}

// tick runs when p's timer fires: past its deadline p fails, otherwise it
// is published again (if it was published at all: one still waiting for
// its room to be watched just waits on).
func (c *Confirmer) tick(w *watch, p *pending) {
	now := time.Now()
	c.mu.Lock()
	if p.resolved {
		c.mu.Unlock()
		return
	}
	if !now.Before(p.deadline) {
		w.resolve(p)
		sends := p.sends
		c.mu.Unlock()
		c.notStored.Add(1)
		c.log.Warn("confirm: message not seen stored in time", "room", w.room, "id", p.id,
			"publishes", sends, "waited", now.Sub(p.start))
		p.done(fmt.Errorf("%w: not in room %s after %s and %d publishes", ErrNotStored, w.room, c.opts.Timeout, sends))
		return
	}
	again := p.sends > 0
	if again {
		p.sends++
	}
	sends := p.sends
	p.timer.Reset(c.wait(p, now))
	c.mu.Unlock()
	if again {
		// the room may have been archived since (its stream fenced, so
		// the last publish went nowhere), or have refused a post: open
		// it again first, unless it takes posts
		err := c.ready(w.room, len(p.body), p.deadline)
		if err != nil {
			c.log.Debug("confirm: room not open; publishing again later", "room", w.room, "id", p.id, "err", err)
			return
		}
		c.republished.Add(1)
		c.log.Debug("confirm: message not seen stored yet; publishing it again", "room", w.room, "id", p.id, "publish", sends)
		c.publishAgain(w.room, p)
	}
}

// publishAgain is publish for a message's later publishes: one for the
// room's topic goes through Options.Republish when set.
func (c *Confirmer) publishAgain(roomID string, p *pending) {
	again := func() { c.republishTopic(roomID, p) }
	if c.opts.Poster != nil && c.opts.Poster.PostAsync(roomID, p.id, p.body, again) {
		return
	}
	again()
}

// republishTopic sends p to the room's topic through Options.Republish,
// or through the Publisher when there is none or it failed.
func (c *Confirmer) republishTopic(roomID string, p *pending) {
	if c.opts.Republish != nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.RepublishAfter)
		err := c.opts.Republish(ctx, roomID, p.body)
		cancel()
		if err == nil {
			return
		}
		c.log.Debug("confirm: publishing again on a path of its own failed; using the relay", "room", roomID, "id", p.id, "err", err)
	}
	c.publishTopic(roomID, p)
}

// ready opens the room for a message of size bytes, bounded by
// deadline, unless the Poster would post it.
func (c *Confirmer) ready(roomID string, size int, deadline time.Time) error {
	if c.opts.Poster != nil && c.opts.Poster.Postable(roomID, size) {
		return nil
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	return c.opts.Rooms.Open(ctx, roomID)
}

// Drain waits until no message waits to be seen stored, or ctx ends. Use
// it at shutdown, after the last Send, before Close.
func (c *Confirmer) Drain(ctx context.Context) error {
	c.mu.Lock()
	if c.npending == 0 {
		c.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	c.drained = append(c.drained, ch)
	c.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// settled counts one waiting message out. Caller holds c.mu.
func (c *Confirmer) settled() {
	c.npending--
	if c.npending > 0 {
		return
	}
	for _, ch := range c.drained {
		close(ch)
	}
	c.drained = nil
}

// Close fails every waiting message with ErrClosed and stops watching;
// later Sends fail at once.
func (c *Confirmer) Close() {
	c.mu.Lock()
	c.closed = true
	var failed []*pending
	var stops []func()
	for _, w := range c.watches {
		n := len(failed)
		for _, p := range w.pending {
			failed = append(failed, p)
		}
		for _, p := range failed[n:] {
			w.resolve(p)
		}
		if stop := w.end(); stop != nil {
			stops = append(stops, stop)
		}
	}
	c.watches = make(map[string]*watch)
	c.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
	for _, p := range failed {
		p.done(ErrClosed)
	}
}
