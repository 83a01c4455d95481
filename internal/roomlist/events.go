package roomlist

import (
	"context"
	"encoding/json"
	"log/slog"

	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
)

// Topic announces room creations and deletions, and the online counts,
// to clients.
const Topic = "/topic/rooms"

// Publisher publishes to the broker with the relay's signature.
type Publisher interface {
	Publish(dest string, h stomp.Headers, body []byte, onAccepted func(error)) error
}

// jsonHeaders are the headers of every event on Topic.
func jsonHeaders() stomp.Headers {
	return stomp.Headers{{Key: "content-type", Value: "application/json"}}
}

// Announcing wraps store so that the rooms this replica creates and
// deletes are announced on Topic through pub.
func Announcing(store rooms.Store, pub Publisher) rooms.Store {
	return &announcingStore{Store: store, pub: pub}
}

// OnlinePublisher returns OnlineOptions.Publish: it publishes an
// online-count event on Topic through pub; a failure is logged to log at
// debug level.
func OnlinePublisher(pub Publisher, log *slog.Logger) func(body []byte) {
	return func(body []byte) {
		if err := pub.Publish(Topic, jsonHeaders(), body, nil); err != nil {
			log.Debug("online counts not published", "err", err)
		}
	}
}

// announcingStore tells clients on Topic about the rooms this replica
// creates and deletes.
type announcingStore struct {
	rooms.Store
	pub Publisher
}

// roomEvent is what Topic carries.
type roomEvent struct {
	Event string     `json:"event"`
	Room  rooms.Room `json:"room"`
}

// Create implements rooms.Store and announces the room, unless it is
// private: everyone may subscribe to Topic.
func (a *announcingStore) Create(ctx context.Context, spec rooms.Spec) (rooms.Room, error) {
	r, err := a.Store.Create(ctx, spec)
	if err == nil && !r.Private {
		a.announce("created", r)
	}
	return r, err
}

// Delete implements rooms.Store and announces the deletion.
func (a *announcingStore) Delete(ctx context.Context, id string) error {
	r, _ := a.Store.Get(id)
	err := a.Store.Delete(ctx, id)
	if err == nil && !r.Private {
		a.announce("deleted", r)
	}
	return err
}

func (a *announcingStore) announce(event string, r rooms.Room) {
	body, err := json.Marshal(roomEvent{Event: event, Room: r})
	if err != nil {
		return
	}
	_ = a.pub.Publish(Topic, jsonHeaders(), body, nil)
}
