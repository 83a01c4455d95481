package confirm

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/relay"
	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/rabbitstore"
	"chatrelay/internal/testkit"
)

// node is the package's private RabbitMQ node (nil without RabbitMQ).
var node *rabbittest.Node

func TestMain(m *testing.M) { os.Exit(rabbittest.Main(m, &node)) }

// fixture is one replica's relay, room store and Confirmer on the test
// node.
type fixture struct {
	r     *relay.Relay
	store *rabbitstore.Store
	c     *Confirmer
}

// newFixture starts a relay, a store and a Confirmer that republishes
// after republish and gives up after timeout; rooms is the Follower the
// Confirmer uses (nil: the store).
func newFixture(t *testing.T, republish, timeout time.Duration, wrap func(Follower) Follower) *fixture {
	t.Helper()
	return newPostingFixture(t, republish, timeout, wrap, 0)
}

// newPostingFixture is newFixture whose store, with posts > 0, takes
// that many messages of a room without a stream into its registry and is
// the Confirmer's Poster.
func newPostingFixture(t *testing.T, republish, timeout time.Duration, wrap func(Follower) Follower, posts int) *fixture {
	t.Helper()
	return newFixtureWith(t, republish, timeout, wrap, posts, nil)
}

// newFixtureWith is newPostingFixture whose Confirmer options edit
// changes last (nil: none).
func newFixtureWith(t *testing.T, republish, timeout time.Duration, wrap func(Follower) Follower, posts int, edit func(*Options, *rabbitstore.Store)) *fixture {
	t.Helper()
	n := rabbittest.Require(t, node)
	log := rabbittest.Logger(t)
	r := relay.New(relay.Config{Addresses: []string{n.STOMPAddr()}, Login: "guest", Passcode: "guest",
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond, Logger: log})
	r.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.Close(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := rabbitstore.New(ctx, rabbitstore.Options{Relay: r, AMQPURLs: []string{amqpURL(n)}, MaxAge: "1D", Buffer: 100, Logger: log,
		Resident: posts > 0, ArchiveMaxMessages: posts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var rooms Follower = store
	if wrap != nil {
		rooms = wrap(store)
	}
	var poster Poster
	if posts > 0 {
		poster = store
	}
	opts := Options{Rooms: rooms, Publisher: r, Poster: poster, RepublishAfter: republish, Timeout: timeout, Logger: log}
	if edit != nil {
		edit(&opts, store)
	}
	c := New(opts)
	t.Cleanup(c.Close)
	return &fixture{r: r, store: store, c: c}
}

func amqpURL(n *rabbittest.Node) string {
	return rabbitstore.AMQPURL("127.0.0.1", n.AMQPPort, "guest", "guest", "/")
}

// room creates a room with a unique name.
func (f *fixture) room(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	room, err := f.store.Create(ctx, rooms.Spec{Name: t.Name() + "-" + strconv.FormatInt(time.Now().UnixNano(), 36), CreatedBy: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	return room.ID
}

// message returns the JSON of a chat message with id in room.
func message(room, id string) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "roomId": room, "type": "TALK", "sender": "ann",
		"message": "text of " + id, "sentAt": time.Now().UTC()})
	return b
}

// outcome is what a Send's done got, and when.
type outcome struct {
	err error
	at  time.Time
}

// send calls Send and returns a channel with its outcome.
func (f *fixture) send(room, id string) <-chan outcome {
	ch := make(chan outcome, 1)
	f.c.Send(room, id, message(room, id), func(err error) { ch <- outcome{err, time.Now()} })
	return ch
}

// wait returns the outcome, failing after limit.
func wait(t *testing.T, ch <-chan outcome, limit time.Duration) outcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(limit):
		t.Fatalf("no outcome within %v", limit)
		return outcome{}
	}
}

// historyIDs returns the ids of the room's newest messages, newest first.
func (f *fixture) historyIDs(t *testing.T, room string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msgs, err := f.store.History(ctx, room, -1, 100)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return ids
}

// count returns how often id occurs in ids.
func count(ids []string, id string) int {
	n := 0
	for _, x := range ids {
		if x == id {
			n++
		}
	}
	return n
}

// binding unbinds and rebinds a room's stream from amq.topic, so that
// what is published to the room's topic in between is routed nowhere
// while the broker still receipts it: a lost publish.
func binding(t *testing.T, room string, bound bool) {
	t.Helper()
	q, err := node.RoomStreamName("/", room)
	if err != nil {
		t.Fatal(err)
	}
	node.WithChannel(t, func(ch *amqp.Channel) error {
		key := rooms.StreamName(room)
		if bound {
			return ch.QueueBind(q, key, "amq.topic", false, nil)
		}
		return ch.QueueUnbind(q, key, "amq.topic", nil)
	})
}

func TestStoredMessageIsConfirmedOnce(t *testing.T) {
	f := newFixture(t, time.Second, 10*time.Second, nil)
	room := f.room(t)
	for i := 0; i < 5; i++ {
		id := "m" + strconv.Itoa(i)
		start := time.Now()
		if o := wait(t, f.send(room, id), 15*time.Second); o.err != nil {
			t.Fatalf("%s: %v", id, o.err)
		} else {
			t.Logf("%s confirmed stored after %v", id, o.at.Sub(start))
		}
	}
	ids := f.historyIDs(t, room)
	for i := 0; i < 5; i++ {
		if id := "m" + strconv.Itoa(i); count(ids, id) != 1 {
			t.Fatalf("history %v holds %s %d times", ids, id, count(ids, id))
		}
	}
	if s := f.c.Stats(); s.Stored != 5 || s.Republished != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestMaxPending: with MaxPending messages waiting (their room's stream
// unbound, so nothing is seen stored), the next Send fails at once with
// ErrBusy and publishes nothing; once the waiting ones are stored, Send
// works again.
func TestMaxPending(t *testing.T) {
	f := newFixture(t, 300*time.Millisecond, 15*time.Second, nil)
	c := New(Options{Rooms: f.store, Publisher: f.r, RepublishAfter: 300 * time.Millisecond, Timeout: 15 * time.Second, MaxPending: 2})
	t.Cleanup(c.Close)
	send := func(room, id string) <-chan outcome {
		ch := make(chan outcome, 1)
		c.Send(room, id, message(room, id), func(err error) { ch <- outcome{err, time.Now()} })
		return ch
	}
	room := f.room(t)
	// the stream exists from the room's first Open on
	if err := f.store.Open(context.Background(), room); err != nil {
		t.Fatal(err)
	}
	binding(t, room, false)
	rebound := false
	t.Cleanup(func() {
		if !rebound {
			binding(t, room, true)
		}
	})
	first, second := send(room, "p1"), send(room, "p2")
	if o := wait(t, send(room, "p3"), time.Second); !errors.Is(o.err, ErrBusy) {
		t.Fatalf("third message: %v, want ErrBusy", o.err)
	}
	binding(t, room, true)
	rebound = true
	for _, ch := range []<-chan outcome{first, second} {
		if o := wait(t, ch, 15*time.Second); o.err != nil {
			t.Fatal(o.err)
		}
	}
	if o := wait(t, send(room, "p4"), 15*time.Second); o.err != nil {
		t.Fatalf("after the waiting ones were stored: %v", o.err)
	}
	if ids := f.historyIDs(t, room); count(ids, "p3") != 0 || count(ids, "p4") != 1 {
		t.Fatalf("history %v", ids)
	}
	if s := c.Stats(); s.Busy != 1 || s.Stored != 3 || s.Pending != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestLostPublishIsRepublished(t *testing.T) {
	const republish = 300 * time.Millisecond
	f := newFixture(t, republish, 10*time.Second, nil)
	room := f.room(t)
	// follow the room first: the publish goes out at once
	if o := wait(t, f.send(room, "before"), 15*time.Second); o.err != nil {
		t.Fatal(o.err)
	}
	binding(t, room, false)
	ch := f.send(room, "lost")
	if err := rabbittest.WaitFor(5*time.Second, func() (bool, error) { return f.c.Stats().Republished >= 2, nil }); err != nil {
		t.Fatal(err)
	}
	select {
	case o := <-ch:
		t.Fatalf("confirmed while the room's stream was unbound: %v", o.err)
	default:
	}
	rebound := time.Now()
	binding(t, room, true)
	o := wait(t, ch, 15*time.Second)
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.at.Before(rebound) {
		t.Fatal("confirmed before the message could be stored")
	}
	t.Logf("confirmed %v after the rebind, %d republishes in all", o.at.Sub(rebound), f.c.Stats().Republished)
	if ids := f.historyIDs(t, room); count(ids, "lost") != 1 {
		t.Fatalf("history %v", ids)
	}
}

func TestNeverStoredFailsAtTheTimeout(t *testing.T) {
	const timeout = 2 * time.Second
	f := newFixture(t, 500*time.Millisecond, timeout, nil)
	room := f.room(t)
	if o := wait(t, f.send(room, "before"), 15*time.Second); o.err != nil {
		t.Fatal(o.err)
	}
	binding(t, room, false)
	start := time.Now()
	o := wait(t, f.send(room, "never"), timeout+5*time.Second)
	took := o.at.Sub(start)
	if !errors.Is(o.err, ErrNotStored) || took < timeout-100*time.Millisecond {
		t.Fatalf("after %v: %v", took, o.err)
	}
	t.Logf("not stored: told after %v (timeout %v): %v", took, timeout, o.err)
	binding(t, room, true)
	// the confirmer and the room still work
	if o := wait(t, f.send(room, "after"), 15*time.Second); o.err != nil {
		t.Fatal(o.err)
	}
	if s := f.c.Stats(); s.NotStored != 1 || s.Stored != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestUnknownRoomFails(t *testing.T) {
	f := newFixture(t, time.Second, 10*time.Second, nil)
	o := wait(t, f.send("no-such-room", "x"), 5*time.Second)
	if !errors.Is(o.err, rooms.ErrNotFound) {
		t.Fatalf("got %v", o.err)
	}
}

// endingFollower wraps a store and can end every feed attachment it made,
// as a failing tail does (deliver gets the zero Message and a nil body).
type endingFollower struct {
	Follower
	mu      sync.Mutex
	follows int
	live    []func()
}

func (e *endingFollower) Follow(ctx context.Context, room string, start rooms.Start, deliver func(rooms.Message, []byte)) (func(), error) {
	var mu sync.Mutex
	ended := false
	stop, err := e.Follower.Follow(ctx, room, start, func(m rooms.Message, b []byte) {
		mu.Lock()
		defer mu.Unlock()
		if !ended {
			deliver(m, b)
		}
	})
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.follows++
	e.live = append(e.live, func() {
		mu.Lock()
		ended = true
		mu.Unlock()
		stop()
		deliver(rooms.Message{}, nil)
	})
	e.mu.Unlock()
	return stop, nil
}

// endAll ends every attachment and returns how many there were.
func (e *endingFollower) endAll() int {
	e.mu.Lock()
	live := e.live
	e.live = nil
	e.mu.Unlock()
	for _, end := range live {
		end()
	}
	return len(live)
}

func (e *endingFollower) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.follows
}

// A feed that ends while a message waits is followed again from where the
// watch was; a message stored in between is still seen.
func TestFeedEndWhileWaiting(t *testing.T) {
	var ef *endingFollower
	f := newFixture(t, 300*time.Millisecond, 10*time.Second, func(s Follower) Follower {
		ef = &endingFollower{Follower: s}
		return ef
	})
	room := f.room(t)
	if o := wait(t, f.send(room, "first"), 15*time.Second); o.err != nil {
		t.Fatal(o.err)
	}
	binding(t, room, false)
	ch := f.send(room, "waiting")
	if err := rabbittest.WaitFor(5*time.Second, func() (bool, error) { return f.c.Stats().Republished >= 1, nil }); err != nil {
		t.Fatal(err)
	}
	if n := ef.endAll(); n != 1 {
		t.Fatalf("%d attachments, want 1", n)
	}
	binding(t, room, true)
	if o := wait(t, ch, 15*time.Second); o.err != nil {
		t.Fatal(o.err)
	}
	if ef.count() < 2 {
		t.Fatalf("the room was not followed again (%d follows)", ef.count())
	}
	if ids := f.historyIDs(t, room); count(ids, "waiting") != 1 {
		t.Fatalf("history %v", ids)
	}
}

func TestCloseFailsWaitingMessages(t *testing.T) {
	f := newFixture(t, 300*time.Millisecond, 10*time.Second, nil)
	room := f.room(t)
	if o := wait(t, f.send(room, "first"), 15*time.Second); o.err != nil {
		t.Fatal(o.err)
	}
	binding(t, room, false)
	defer binding(t, room, true)
	ch := f.send(room, "waiting")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := f.c.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain with a message waiting: %v", err)
	}
	f.c.Close()
	if o := wait(t, ch, 5*time.Second); !errors.Is(o.err, ErrClosed) {
		t.Fatalf("got %v", o.err)
	}
	if err := f.c.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if o := wait(t, f.send(room, "late"), 5*time.Second); !errors.Is(o.err, ErrClosed) {
		t.Fatalf("Send after Close: %v", o.err)
	}
}

// refusingOpener wraps a store whose Open fails until allowed, counting
// the calls.
type refusingOpener struct {
	Follower
	mu      sync.Mutex
	opens   int
	allowed bool
}

func (o *refusingOpener) Open(ctx context.Context, room string) error {
	o.mu.Lock()
	o.opens++
	allowed := o.allowed
	o.mu.Unlock()
	if !allowed {
		return errors.New("declare stream: connection refused")
	}
	return o.Follower.Open(ctx, room)
}

// TestRoomOpenedBeforePublish: a watch opens its room before it
// publishes. While the store cannot open the room (its stream cannot be
// declared) the message waits, unpublished: the room has no stream, so
// RabbitMQ holds nothing; once Open works the message is published and
// seen stored.
func TestRoomOpenedBeforePublish(t *testing.T) {
	var opener *refusingOpener
	f := newFixture(t, 300*time.Millisecond, 15*time.Second, func(s Follower) Follower {
		opener = &refusingOpener{Follower: s}
		return opener
	})
	room := f.room(t)
	ch := f.send(room, "lazy-1")
	testkit.Eventually(t, 10*time.Second, "Open tried again", func() bool {
		opener.mu.Lock()
		defer opener.mu.Unlock()
		return opener.opens >= 2
	})
	if h, err := f.store.History(context.Background(), room, -1, 10); err != nil || len(h) != 0 {
		t.Fatalf("history while the room cannot be opened: %v %v", h, err)
	}
	select {
	case o := <-ch:
		t.Fatalf("outcome %v before the room could be opened", o.err)
	default:
	}
	opener.mu.Lock()
	opener.allowed = true
	opener.mu.Unlock()
	if o := wait(t, ch, 15*time.Second); o.err != nil {
		t.Fatal(o.err)
	}
	if h, err := f.store.History(context.Background(), room, -1, 10); err != nil || len(h) != 1 || h[0].ID != "lazy-1" {
		t.Fatalf("history after the room opened: %v %v", h, err)
	}
}

// TestPostedMessagesNeedNoOpen: with a Poster, messages to a room without
// a stream are posted and seen stored without the Confirmer ever opening
// the room (its Open would fail), each once in history; once the room
// holds all it may, the Poster opens it and the next message is published
// to its stream, after the posted ones.
func TestPostedMessagesNeedNoOpen(t *testing.T) {
	var opener *refusingOpener
	f := newPostingFixture(t, 300*time.Millisecond, 15*time.Second, func(s Follower) Follower {
		opener = &refusingOpener{Follower: s}
		return opener
	}, 3)
	room := f.room(t)
	var sent []<-chan outcome
	for _, id := range []string{"p1", "p2", "p3"} {
		sent = append(sent, f.send(room, id))
	}
	for i, ch := range sent {
		if o := wait(t, ch, 10*time.Second); o.err != nil {
			t.Fatalf("posted message %d: %v", i+1, o.err)
		}
	}
	if ids := f.historyIDs(t, room); !slices.Equal(ids, []string{"p3", "p2", "p1"}) {
		t.Fatalf("history %v, want p3 p2 p1", ids)
	}
	opener.mu.Lock()
	opens := opener.opens
	opener.mu.Unlock()
	if opens != 0 {
		t.Fatalf("%d Opens for posted messages, want 0", opens)
	}
	// the Poster opens the full room itself, in order with its posts
	ch := f.send(room, "s4")
	if o := wait(t, ch, 15*time.Second); o.err != nil {
		t.Fatal(o.err)
	}
	if ids := f.historyIDs(t, room); !slices.Equal(ids, []string{"s4", "p3", "p2", "p1"}) {
		t.Fatalf("history %v, want s4 p3 p2 p1", ids)
	}
}
