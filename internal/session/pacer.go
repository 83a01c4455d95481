package session

import (
	"context"
	"time"
)

// A room SUBSCRIBE with x-resume-after (or x-history) replays what the
// client missed, which may be many thousands of messages: far more than
// the send queue holds (limits.send_queue_bytes), whose overflow closes
// the session as a slow consumer. So the replay is paced by the queue
// (rooms.Start.Pace): a replayed message is queued only while the queue
// stays within half its limit, leaving the other half to live traffic,
// and the replay waits for the writer to take what is queued before it
// goes on. A client that reads normally gets the whole replay, however
// long; one that stops reading is dropped by limits.write_timeout, not
// as a slow consumer for what it asked to replay.

// frameOverhead is a generous estimate of a room MESSAGE's bytes besides
// its body, destination and subscription header: the command, the
// message-id, x-offset, content-type and content-length headers.
const frameOverhead = 160

// slowHandling is how long handling one transport message may take
// before the read deadline is moved on after it (see Receive).
const slowHandling = 100 * time.Millisecond

// roomPacer paces one room subscription's replay (rooms.Pacer) by the
// session's send queue.
type roomPacer struct {
	s        *Session
	overhead int // the frame's bytes besides the body
}

// newRoomPacer returns the pacer of sub's replay.
func (s *Session) newRoomPacer(sub *subscription) *roomPacer {
	return &roomPacer{s: s, overhead: frameOverhead + len(sub.display) + len(sub.header)}
}

// Fits implements rooms.Pacer: a message fits while the queue, with it,
// stays within half its limit (or is empty).
func (p *roomPacer) Fits(size int) bool {
	return p.s.out.fits(size+p.overhead, p.s.opts.SendQueueBytes/2)
}

// Wait implements rooms.Pacer: it waits until the queue is down to a
// quarter of its limit, or fails once the session is closing.
func (p *roomPacer) Wait(ctx context.Context) error {
	return p.s.out.waitBelow(ctx, p.s.opts.SendQueueBytes/4)
}
