package presence

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"chatrelay/internal/rooms"
)

// Limits on what Receive accepts, so that one bad snapshot cannot grow the
// replica's memory without bound.
const (
	maxSnapshotBytes = 8 << 20
	maxReplicaIDLen  = 128
	maxUserNameLen   = 256
)

// ErrBadSnapshot is returned (wrapped) by Receive for a body that is not
// a snapshot.
var ErrBadSnapshot = errors.New("presence: bad snapshot")

// snapshot is the wire form of one replica's membership:
// {"replica","seq","rooms":{"7":["alice"]},"at"}. An empty rooms object
// means the replica has nobody online (or is shutting down).
type snapshot struct {
	Replica string              `json:"replica"`
	Seq     uint64              `json:"seq"`
	Rooms   map[string][]string `json:"rooms"`
	At      time.Time           `json:"at"`
}

// replicaState is what this replica knows of another one.
type replicaState struct {
	seq   uint64
	rooms map[string][]string
	seen  time.Time // local time the last snapshot arrived
}

// live reports whether r's last snapshot still counts at now.
func (p *Presence) live(r *replicaState, now time.Time) bool {
	return now.Sub(r.seen) < p.opts.Expiry
}

// Receive takes a snapshot published by any replica (the server feeds it
// every message on Topic). This replica's own snapshots are ignored (its
// local state is authoritative), as are snapshots older than one already
// received from the same replica. Room ids that could not name a room and
// empty user names are dropped.
func (p *Presence) Receive(body []byte) error {
	if len(body) > maxSnapshotBytes {
		return fmt.Errorf("%w: %d bytes", ErrBadSnapshot, len(body))
	}
	var s snapshot
	if err := json.Unmarshal(body, &s); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	if s.Replica == "" || len(s.Replica) > maxReplicaIDLen || !utf8.ValidString(s.Replica) {
		return fmt.Errorf("%w: bad replica id", ErrBadSnapshot)
	}
	if s.Replica == p.opts.ReplicaID {
		return nil
	}
	clean := make(map[string][]string, len(s.Rooms))
	for room, users := range s.Rooms {
		if !rooms.ValidID(room) {
			continue
		}
		kept := make([]string, 0, len(users))
		for _, u := range users {
			if u != "" && len(u) <= maxUserNameLen {
				kept = append(kept, u)
			}
		}
		if len(kept) > 0 {
			clean[room] = kept
		}
	}
	now := p.opts.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.remote[s.Replica]; ok && s.Seq <= r.seq {
		return nil
	}
	p.remote[s.Replica] = &replicaState{seq: s.Seq, rooms: clean, seen: now}
	p.expire(now)
	return nil
}

// expire forgets replicas whose snapshots no longer count. p.mu must be
// held.
func (p *Presence) expire(now time.Time) {
	for id, r := range p.remote {
		if !p.live(r, now) {
			delete(p.remote, id)
		}
	}
}
