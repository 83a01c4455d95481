package readstate

import (
	"errors"
	"sync"
	"time"

	"chatrelay/internal/rooms/feed"
)

// MemLog is a Log in memory: the embedded broker's, which keeps nothing
// across restarts either. Followers are called under its lock, in order.
type MemLog struct {
	mu        sync.Mutex
	records   []feed.Record
	times     []time.Time // when each record was appended
	followers map[int]feed.Sink
	next      int
	// Drop, when it returns true for a body, loses that append (tests).
	Drop func(body []byte) bool
	// Now is the clock of the records' times (time.Now).
	Now func() time.Time
}

// NewMemLog returns an empty MemLog.
func NewMemLog() *MemLog { return &MemLog{followers: make(map[int]feed.Sink)} }

// Append adds body and passes it to every follower.
func (l *MemLog) Append(body []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Drop != nil && l.Drop(body) {
		return nil
	}
	r := feed.Record{Offset: int64(len(l.records)), Body: append([]byte(nil), body...)}
	l.records = append(l.records, r)
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	l.times = append(l.times, now())
	for _, f := range l.followers {
		f.Record(r)
	}
	return nil
}

// Follow passes the records above after, or else those appended at or
// after since, says Synced, then passes new ones.
func (l *MemLog) Follow(after int64, since time.Time, sink feed.Sink) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, r := range l.records {
		if after >= 0 && r.Offset > after || after < 0 && !l.times[i].Before(since) {
			sink.Record(r)
		}
	}
	sink.Synced()
	id := l.next
	l.next++
	l.followers[id] = sink
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.followers, id)
	}, nil
}

// Len returns the number of records appended.
func (l *MemLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.records)
}

// Restart empties the log as if it were deleted and declared again:
// followers are told their tail failed, and offsets start over.
func (l *MemLog) Restart() {
	l.mu.Lock()
	l.records, l.times = nil, nil
	followers := l.followers
	l.followers = make(map[int]feed.Sink)
	l.mu.Unlock()
	for _, f := range followers {
		f.Failed(errors.New("memlog: log deleted"))
	}
}
