package bench

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"chatrelay/internal/stomp"
)

// Reads and typing at realistic rates (Config.Reads): every member of a
// private room reads every message within ReadDelayMax, and a fraction of
// the members type all through each measured step. The room's read and
// typing events are what it costs, next to the messages themselves.

// ReadDelayMax bounds how long a member takes to read a message: a read
// SEND goes out at a random delay in [0, ReadDelayMax) after the first
// message it had not read arrived, with the newest offset received by
// then (one SEND per pending batch).
const ReadDelayMax = 2 * time.Second

// TypingEvery is how often a typing member signals (with TypingJitter
// either way), as a client does on every few keystrokes.
const (
	TypingEvery  = time.Second
	TypingJitter = 100 * time.Millisecond
)

// readsPoll is how often the end of a run checks whether every member's
// last read came back on the room's reads topic.
const readsPoll = 50 * time.Millisecond

// The subscription ids of a client: its room, /user/queue/errors, and in
// a reads run the room's reads and typing topics.
const (
	subRoom   = "0"
	subErrors = "1"
	subReads  = "2"
	subTyping = "3"
)

// readState is one member's reading in a reads run.
type readState struct {
	key   []byte // `"<login>":`: the member's own position in a read event
	typer bool   // one of the members who type during measured steps

	mu      sync.Mutex
	newest  int64     // highest room offset received; -1: none
	sent    int64     // highest offset sent in a read SEND; -1: none
	pending bool      // a read is due (in activity.wake or the schedule)
	since   time.Time // when the first message of the pending batch arrived

	seen atomic.Int64 // highest own position seen on the room's reads topic; -1: none
}

// newReadState returns the reading state of a member logged in as login.
func newReadState(login string, typer bool) *readState {
	st := &readState{key: []byte(strconv.Quote(login) + ":"), typer: typer, newest: -1, sent: -1}
	st.seen.Store(-1)
	return st
}

// IsTyper reports whether the member of rank k in its room (0 for the
// first) is one of the typing ones when a fraction of each room types:
// exactly floor(n·fraction) of n members, spread evenly.
func IsTyper(k int, fraction float64) bool {
	return int(float64(k+1)*fraction) > int(float64(k)*fraction)
}

// activityCounts are a reads run's counters at one moment.
type activityCounts struct {
	at                        time.Time
	readSends, readEvents     int64
	typingSends, typingEvents int64
}

// activity is a reads run's schedule of read and typing SENDs and its
// counters; readers feed it, the schedule goroutine sends.
type activity struct {
	r      *runner
	typers []*client
	wake   chan *client // a member with a read newly pending; one entry per member at most
	ctl    chan bool    // typing on (a measured step began) or off
	stop   chan struct{}
	done   chan struct{}

	readSends, typingSends   atomic.Int64
	readEvents, typingEvents atomic.Int64
	// wakeLost counts pending reads the schedule never heard of (a full
	// wake channel: cannot happen while each member has one at most)
	wakeLost atomic.Int64
}

// newActivity sets up the reads run of r's clients (their readState is
// set by makeClients).
func newActivity(r *runner) *activity {
	a := &activity{r: r, wake: make(chan *client, len(r.clients)+1), ctl: make(chan bool),
		stop: make(chan struct{}), done: make(chan struct{})}
	for _, c := range r.clients {
		if c.rd.typer {
			a.typers = append(a.typers, c)
		}
	}
	return a
}

// start starts the schedule goroutine; close ends it.
func (a *activity) start() {
	// the schedule goroutine owns the heap of due read and typing SENDs,
	// the typing generation and the SEND frame buffer (see run); it ends
	// when close closes a.stop
	go a.run()
}

// close ends the schedule goroutine and waits for it.
func (a *activity) close() {
	close(a.stop)
	<-a.done
}

// typing turns the typers' signals on or off (the step's measured phase
// began or ended); off sends each typer's stop.
func (a *activity) typing(on bool) {
	select {
	case a.ctl <- on:
	case <-a.done:
	}
}

// counts reads the counters now.
func (a *activity) counts() activityCounts {
	return activityCounts{at: time.Now(), readSends: a.readSends.Load(), readEvents: a.readEvents.Load(),
		typingSends: a.typingSends.Load(), typingEvents: a.typingEvents.Load()}
}

// noteOffset is called by c's reader for every room message: off is its
// offset. The first message c has not read yet makes a read due.
func (a *activity) noteOffset(c *client, off int64, now time.Time) {
	st := c.rd
	st.mu.Lock()
	st.newest = max(st.newest, off)
	wake := !st.pending && st.newest > st.sent
	if wake {
		st.pending, st.since = true, now
	}
	st.mu.Unlock()
	if wake {
		select {
		case a.wake <- c:
		default:
			a.wakeLost.Add(1)
		}
	}
}

// readEvent is called by c's reader for every event on the room's reads
// topic: it counts it and notes c's own position in it.
func (a *activity) readEvent(c *client, body []byte) {
	a.readEvents.Add(1)
	if v, ok := jsonIntAfter(body, c.rd.key); ok {
		storeMax(&c.rd.seen, v)
	}
}

// dueItem is one SEND the schedule owes: a member's read, or a typer's
// signal of typing generation gen.
type dueItem struct {
	due    time.Time
	c      *client
	typing bool
	gen    int
}

// dueHeap orders dueItems by due time (container/heap).
type dueHeap []dueItem

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueItem)) }
func (h *dueHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// run is the schedule goroutine: it owns the heap of due SENDs (at most
// one read per member, and one signal per typer of each typing
// generation still due), the typing generation and the frame buffer. It
// sends each read and typing signal when due and ends when a.stop closes.
func (a *activity) run() {
	defer close(a.done)
	var h dueHeap
	gen, typingOn := 0, false
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var buf []byte
	for {
		var due <-chan time.Time
		if len(h) > 0 {
			t.Reset(time.Until(h[0].due))
			due = t.C
		}
		select {
		case <-a.stop:
			return
		case c := <-a.wake:
			c.rd.mu.Lock()
			since := c.rd.since
			c.rd.mu.Unlock()
			heap.Push(&h, dueItem{due: since.Add(rand.N(ReadDelayMax)), c: c})
		case on := <-a.ctl:
			if on == typingOn {
				continue
			}
			typingOn = on
			gen++
			now := time.Now()
			for _, c := range a.typers {
				if on {
					heap.Push(&h, dueItem{due: now.Add(rand.N(TypingEvery)), c: c, typing: true, gen: gen})
				} else {
					buf = a.sendTyping(c, buf, false)
				}
			}
		case <-due:
			now := time.Now()
			// bounded: every item popped is sent once; a typing signal
			// comes back at least TypingEvery-TypingJitter later
			for len(h) > 0 && !h[0].due.After(now) {
				it := heap.Pop(&h).(dueItem)
				if !it.typing {
					buf = a.sendRead(it.c, buf)
					continue
				}
				if it.gen != gen || !typingOn {
					continue // a signal of a step that ended
				}
				buf = a.sendTyping(it.c, buf, true)
				next := it.due.Add(TypingEvery - TypingJitter + rand.N(2*TypingJitter))
				if !next.After(now) {
					next = now.Add(TypingEvery)
				}
				heap.Push(&h, dueItem{due: next, c: it.c, typing: true, gen: gen})
			}
		}
	}
}

// sendRead sends c's read of the newest offset it received, reusing buf
// for the frame, and returns buf.
func (a *activity) sendRead(c *client, buf []byte) []byte {
	st := c.rd
	st.mu.Lock()
	off := st.newest
	st.pending = false
	fresh := off > st.sent
	if fresh {
		st.sent = off
	}
	st.mu.Unlock()
	if !fresh {
		return buf
	}
	body := strconv.AppendInt([]byte(`{"offset":`), off, 10)
	body = append(body, '}')
	f := stomp.New(stomp.SEND, "destination", c.room.readDest, "content-type", "application/json")
	f.Body = body
	buf = f.Append(buf[:0], stomp.V12)
	if err := c.write(buf); err != nil {
		a.r.note("send", fmt.Errorf("client %d read %d: %w", c.idx, off, err))
		return buf
	}
	a.readSends.Add(1)
	return buf
}

// sendTyping sends c's typing signal (on) or stop, reusing buf.
func (a *activity) sendTyping(c *client, buf []byte, on bool) []byte {
	f := stomp.New(stomp.SEND, "destination", c.room.typingDest)
	if !on {
		f.Headers = append(f.Headers, stomp.Header{Key: "content-type", Value: "application/json"})
		f.Body = []byte(`{"typing":false}`)
	}
	buf = f.Append(buf[:0], stomp.V12)
	if err := c.write(buf); err != nil {
		a.r.note("send", fmt.Errorf("client %d typing: %w", c.idx, err))
		return buf
	}
	a.typingSends.Add(1)
	return buf
}

// lagging counts the members with a read still due, or whose last read
// has not come back on the room's reads topic yet.
func (a *activity) lagging() int {
	n := 0
	for _, c := range a.r.clients {
		st := c.rd
		st.mu.Lock()
		behind := st.pending || st.seen.Load() < st.sent
		st.mu.Unlock()
		if behind {
			n++
		}
	}
	return n
}

// settle waits, after the last step, until every member's last read came
// back on its room's reads topic: at most ReadDelayMax plus d, or until
// ctx ends.
func (a *activity) settle(ctx context.Context, d time.Duration) time.Duration {
	begin := time.Now()
	deadline := begin.Add(ReadDelayMax + d)
	t := time.NewTicker(readsPoll)
	defer t.Stop()
	for a.lagging() > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return time.Since(begin)
		case <-t.C:
		}
	}
	return time.Since(begin)
}

// offsetKey precedes a room message's offset in its JSON body.
var offsetKey = []byte(`"offset":`)

// RoomOffset returns the "offset" of a room message's JSON body (the
// last one: the message's own, after anything its text holds, which
// JSON escapes).
func RoomOffset(body []byte) (int64, bool) {
	i := bytes.LastIndex(body, offsetKey)
	if i < 0 {
		return 0, false
	}
	return leadingInt(body[i+len(offsetKey):])
}

// jsonIntAfter returns the integer that follows key in body (a JSON
// object's member, key including its quotes and colon).
func jsonIntAfter(body, key []byte) (int64, bool) {
	i := bytes.Index(body, key)
	if i < 0 {
		return 0, false
	}
	return leadingInt(body[i+len(key):])
}

// leadingInt parses the non-negative integer at the start of b, after
// spaces.
func leadingInt(b []byte) (int64, bool) {
	b = bytes.TrimLeft(b, " ")
	n, digits := int64(0), 0
	for _, ch := range b {
		if ch < '0' || ch > '9' || digits == 18 {
			break
		}
		n = n*10 + int64(ch-'0')
		digits++
	}
	return n, digits > 0
}
