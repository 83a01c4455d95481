package server

import (
	"context"
	"encoding/json"
	"fmt"

	"chatrelay/internal/config"
	"chatrelay/internal/destination"
	"chatrelay/internal/readstate"
	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/rabbitstore"
	"chatrelay/internal/stomp"
)

// setupReads starts the read positions: on RabbitMQ kept in the reads
// stream, in embedded mode in memory (like the rooms). It returns once
// the positions every replica wrote are loaded, or fails after
// readstate's StartTimeout.
func (s *Server) setupReads(cfg config.Config, store rooms.Store) error {
	var log readstate.Log = readstate.NewMemLog()
	if rs, ok := store.(*rabbitstore.Store); ok {
		ctx, cancel := context.WithTimeout(context.Background(), readstate.DefaultStartTimeout)
		defer cancel()
		l, err := rs.ReadLog(ctx)
		if err != nil {
			return fmt.Errorf("reads: %w", err)
		}
		log = l
	}
	rc := cfg.Rooms.Reads
	s.reads = readstate.New(readstate.Options{
		Log:            log,
		Stored:         s.readsStored,
		Current:        s.roomSeq,
		Flush:          rc.Flush,
		ConfirmTimeout: rc.ConfirmTimeout,
		SnapshotEvery:  rc.SnapshotEvery,
		MaxPositions:   rc.MaxPositions,
	})
	if err := s.reads.Start(context.Background()); err != nil {
		return fmt.Errorf("reads: %w", err)
	}
	s.readMarker = readstate.Marker{Rooms: s.store, History: s.store.History, Reads: s.reads}
	s.summaries = &readstate.Summarizer{History: s.store.History, Reads: s.reads}
	return nil
}

// roomSeq is readstate's Options.Current: a room's creation, if it exists.
func (s *Server) roomSeq(id string) (int64, bool) {
	r, ok := s.store.Get(id)
	return r.Seq, ok
}

// readsStored tells of positions the broker now holds: each user's
// sessions on /user/queue/reads, and the members of a private room (or a
// conversation) on the room's reads topic, one event per room for all
// the positions that moved there. Public rooms publish no one's reading.
func (s *Server) readsStored(batch []readstate.Position) {
	pub := livePublisher{s.relay}
	h := stomp.Headers{{Key: "content-type", Value: "application/json"}}
	byRoom := make(map[string]map[string]int64)
	for _, p := range batch {
		room, ok := s.store.Get(p.Room)
		if !ok || room.Seq != p.Seq {
			continue
		}
		one := readstate.Event{Type: readstate.EventType, RoomID: p.Room, Positions: map[string]int64{p.User: p.Offset}}
		body, _ := json.Marshal(one) // plain data: cannot fail
		_ = pub.Publish(destination.UserTopic(p.User, readstate.UserQueue), h, body, nil)
		if room.Private {
			if byRoom[p.Room] == nil {
				byRoom[p.Room] = make(map[string]int64)
			}
			byRoom[p.Room][p.User] = p.Offset
		}
	}
	for id, positions := range byRoom {
		body, _ := json.Marshal(readstate.Event{Type: readstate.EventType, RoomID: id, Positions: positions})
		_ = pub.Publish(readstate.Topic(id), h, body, nil)
	}
}
