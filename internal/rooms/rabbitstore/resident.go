package rabbitstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"chatrelay/internal/rooms"
)

// Resident rooms: a room without a stream (never sent to, or archived)
// takes its messages into the registry, as posted events, until it holds
// Options.ArchiveMaxMessages or ArchiveMaxBytes; only then does its next
// message open a stream. A room of a few messages, a DM say, so never
// costs the broker a stream (on RabbitMQ 3.10 every stream created leaves
// counters behind in the broker for ever: docs/rooms-at-scale.md); it
// costs bytes in the registry stream, on disk, and its messages in every
// replica's registry view, as an archived room's do.
//
// A posted event is applied in registry order, the same on every
// replica: the room must have no stream (lazy, or archived) and be under
// the bounds the event carries (the poster's, so that replicas configured
// apart still agree); the message takes the room offset at the room's
// base, and the base moves past it, so offsets stay one increasing
// sequence per room and the stream opened later starts above them. A
// posted event that comes after the room's opened or closing event, or
// that would overflow the bounds, is refused on every replica, and its
// poster publishes the message to the room's topic instead (Post tells
// it; PostAsync's queue then opens the room and publishes that message
// and the later ones in order). A message whose id the room took already
// (a republish) is taken once.
//
// Every replica's feed of a resident room delivers each posted message
// as it is applied (roomtail.go), and history, x-history and
// x-resume-after read them as archived messages. The replica whose
// posted event filled the room opens its stream right away, so that the
// next message need not wait for it.

// eventPosted stores one message of a room without a stream.
const eventPosted = "posted"

// errFull refuses a posted event: the room would hold more than the
// event's bounds.
var errFull = errors.New("rabbitstore: the room holds all the messages the registry may keep for it")

// fillOpenTimeout bounds the Open that follows a posted event which
// filled its room.
const fillOpenTimeout = 30 * time.Second

// postsRoom reports whether a message of size bytes to the room would be
// posted to the registry now: residency is on, the room exists, has no
// stream (nor is closing), and has room left.
func (s *Store) postsRoom(roomID string, size int) (roomState, bool) {
	if !s.opts.Resident {
		return roomState{}, false
	}
	st, _ := s.reg.state(roomID, false)
	if !st.exists || st.stream != "" || st.closing {
		return st, false
	}
	return st, fits(st.snapshot, size, s.opts.ArchiveMaxMessages, s.opts.ArchiveMaxBytes)
}

// Postable reports whether a message of size bytes to the room would be
// posted to the registry now rather than published to the room's topic.
func (s *Store) Postable(roomID string, size int) bool {
	_, ok := s.postsRoom(roomID, size)
	return ok
}

// postedEvent returns the posted event of a message to the room, and
// false when the room does not take messages into the registry now.
func (s *Store) postedEvent(roomID, msgID string, body []byte) (event, bool) {
	if msgID == "" || len(body) == 0 {
		return event{}, false
	}
	if _, ok := s.postsRoom(roomID, len(body)); !ok {
		return event{}, false
	}
	return event{Event: eventPosted, Room: rooms.Room{ID: roomID}, At: s.opts.Now().UTC(), ID: newNonce(),
		Message: msgID, Body: json.RawMessage(body), Max: s.opts.ArchiveMaxMessages, MaxBytes: s.opts.ArchiveMaxBytes,
		From: s.self}, true
}

// Post stores body, the JSON of a room message whose id is msgID, in the
// registry and returns once this replica applied it: true when the room
// took it (it is stored, and every replica's feed delivers it), false
// with a nil error when the room does not take messages into the
// registry (it has a stream, or is full, or opened meanwhile): the caller
// then opens the room and publishes to its topic.
func (s *Store) Post(ctx context.Context, roomID, msgID string, body []byte) (bool, error) {
	ev, ok := s.postedEvent(roomID, msgID, body)
	if !ok {
		return false, nil
	}
	err := s.record(ctx, ev)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, errStale), errors.Is(err, errFull):
		return false, nil
	}
	return false, err
}

// PostAsync hands a message to the room's post queue and reports true,
// or reports false when the room has a stream and no queue: the caller
// then publishes to the room's topic itself. The queue keeps the order in
// which this replica was given the room's messages: it posts each one
// (Post) while the room takes posts, and once the room takes no more
// (full, or opened meanwhile) it opens the room and calls that message's
// publish, which must publish it to the room's topic, and so for every
// later one. Whether a message is stored shows in the room's feed; one
// that failed here (the registry did not answer in time, or Open failed)
// is dropped, and its caller's republish comes through PostAsync again.
func (s *Store) PostAsync(roomID, msgID string, body []byte, publish func()) bool {
	s.postMu.Lock()
	defer s.postMu.Unlock()
	q := s.postQueues[roomID]
	if q == nil {
		st, ok := s.postsRoom(roomID, len(body))
		if !ok && (st.stream != "" && !st.closing || !st.exists) {
			return false
		}
		q = &postQueue{}
		s.postQueues[roomID] = q
		go s.runPostQueue(roomID, q) // owns the queue's messages until it is empty
	}
	q.items = append(q.items, postItem{id: msgID, body: body, publish: publish})
	return true
}

// postQueue holds a room's messages PostAsync was given, in order, until
// its goroutine has posted or published them. Guarded by Store.postMu.
type postQueue struct {
	items []postItem
	busy  bool // the goroutine is posting or publishing one
}

// Queued returns how many messages wait in post queues or are being
// posted (PostAsync): what this replica has been handed and not yet
// stored or published.
func (s *Store) Queued() int {
	s.postMu.Lock()
	defer s.postMu.Unlock()
	n := 0
	for _, q := range s.postQueues {
		n += len(q.items)
		if q.busy {
			n++
		}
	}
	return n
}

// postItem is one message in a post queue.
type postItem struct {
	id      string
	body    []byte
	publish func()
}

// postQueueTimeout bounds the post or the Open of one queued message.
const postQueueTimeout = 10 * time.Second

// runPostQueue posts or publishes a room's queued messages in order and
// ends, removing the queue, once it is empty.
func (s *Store) runPostQueue(roomID string, q *postQueue) {
	for {
		s.postMu.Lock()
		q.busy = false
		if len(q.items) == 0 {
			delete(s.postQueues, roomID)
			s.postMu.Unlock()
			return
		}
		it := q.items[0]
		q.items = q.items[1:]
		q.busy = true
		s.postMu.Unlock()
		s.postOrPublish(roomID, it)
	}
}

// postOrPublish posts one queued message, or opens the room and publishes
// it when the room takes no posts.
func (s *Store) postOrPublish(roomID string, it postItem) {
	ctx, cancel := context.WithTimeout(context.Background(), postQueueTimeout)
	defer cancel()
	posted, err := s.Post(ctx, roomID, it.id, it.body)
	if err != nil {
		s.log.Debug("rooms: a queued message was not posted; its sender publishes it again", "room", roomID, "id", it.id, "err", err)
		return
	}
	if posted {
		return
	}
	if err := s.Open(ctx, roomID); err != nil {
		s.log.Debug("rooms: a room that takes no more posts could not be opened; its sender publishes again", "room", roomID, "id", it.id, "err", err)
		return
	}
	it.publish()
}

// filled opens a room whose snapshot this replica's posted event filled,
// so that its next message finds its stream.
func (s *Store) filled(roomID string) {
	go func() {
		// owns nothing: one bounded Open
		ctx, cancel := context.WithTimeout(context.Background(), fillOpenTimeout)
		defer cancel()
		if err := s.Open(ctx, roomID); err != nil && !errors.Is(err, rooms.ErrNotFound) {
			s.log.Warn("rooms: could not open a room the registry holds full", "room", roomID, "err", err)
		}
	}()
}

// applyPosted applies a posted event: the room takes the message at its
// base when it has no stream and stays within the event's bounds. A
// room never opened becomes an archived room of epoch -1, so that its
// first stream is epoch 0, starting at the base.
func (v *view) applyPosted(ev event) error {
	id := ev.Room.ID
	if _, ok := v.rooms[id]; !ok {
		return rooms.ErrNotFound
	}
	if ev.Message == "" || len(ev.Body) == 0 || ev.Max < 1 || ev.MaxBytes < 1 {
		return rooms.ErrInvalid
	}
	l := v.lives[id]
	_, lazy := v.unopened[id]
	if !lazy && (l == nil || l.state != lifeArchived) {
		return errStale // it has a stream, or is closing
	}
	if l == nil {
		l = &life{epoch: -1, state: lifeArchived}
	}
	for _, r := range l.snapshot {
		if r.ID == ev.Message {
			return nil // a republish: taken already
		}
	}
	if !fits(l.snapshot, len(ev.Body), ev.Max, ev.MaxBytes) {
		return errFull
	}
	if lazy {
		delete(v.unopened, id)
		v.lives[id] = l
	}
	l.snapshot = append(l.snapshot, archivedRecord{Offset: l.base, Body: ev.Body, ID: ev.Message})
	l.base++
	return nil
}

// fullAfter reports whether the room of a posted event, as applied, is
// full by the event's bounds: not even a 1-byte message fits (the next
// message opens a stream).
func (v *view) fullAfter(ev event) bool {
	l := v.lives[ev.Room.ID]
	return l != nil && l.state == lifeArchived && !fits(l.snapshot, 1, ev.Max, ev.MaxBytes)
}

// fits reports whether a message of size bytes fits in a snapshot held
// to maxMessages messages and maxBytes of bodies.
func fits(snap []archivedRecord, size, maxMessages, maxBytes int) bool {
	return len(snap) < maxMessages && snapshotBytes(snap)+size <= maxBytes
}

// snapshotBytes is the size of a snapshot's message bodies.
func snapshotBytes(snap []archivedRecord) int {
	n := 0
	for _, r := range snap {
		n += len(r.Body)
	}
	return n
}
