package nodeloss

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"chatrelay/internal/rabbittest"
	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// traffic is one room under load: subscribers that read it, and a
// publisher that sends to it at a fixed rate asking a receipt for every
// SEND.
type traffic struct {
	t    *testing.T
	room string
	subs []*subscriber
	pub  *publisher
}

// subscriber is one client reading the room. Its reader goroutine owns
// the client's reads; mu guards the rest.
type subscriber struct {
	name string
	room string

	mu     sync.Mutex
	c      *stomptest.Client
	got    map[string]int // message text → deliveries
	last   int64          // offset of the last message delivered; -1: none
	times  []time.Time    // arrival of each message
	errors []string       // ERROR frames and errors-queue messages
	closed []string       // socket closes seen
	done   chan struct{}  // closed when the reader goroutine ends
}

// publisher sends "m-N" to the room every interval from one client and
// records, per N, when it was sent and how it was answered.
type publisher struct {
	c    *stomptest.Client
	room string

	mu      sync.Mutex
	sentAt  map[int]time.Time
	answer  map[int]time.Time // RECEIPT or error, whichever came first
	receipt map[int]bool      // answered with a RECEIPT
	errors  []string
	closed  []string
	stop    chan struct{}
	done    chan struct{} // closed when the send and read goroutines end
}

// subscribe connects a subscriber as name to the room at url and starts
// its reader once the subscription is in place.
func subscribe(t *testing.T, url, name, room string) *subscriber {
	t.Helper()
	s := &subscriber{name: name, room: room, got: make(map[string]int), last: -1}
	s.attach(t, url, -1)
	return s
}

// attach connects s to url, subscribes (resuming after offset when it
// is >= 0) and waits for the subscription's receipt, then starts s's
// reader goroutine.
func (s *subscriber) attach(t *testing.T, url string, resumeAfter int64) {
	t.Helper()
	c := connect(t, url, s.name)
	if err := c.Subscribe("e", "/user/queue/errors"); err != nil {
		t.Fatal(err)
	}
	var kv []string
	if resumeAfter >= 0 {
		kv = append(kv, "x-resume-after", strconv.FormatInt(resumeAfter, 10))
	}
	// Subscribe keeps the MESSAGEs that come before its RECEIPT for Read
	if err := c.Subscribe("room", "/topic/room."+s.room, kv...); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.c, s.done = c, make(chan struct{})
	s.mu.Unlock()
	// the reader owns c's reads until c closes or the test ends
	go s.read(c, s.done)
}

// read takes every frame c delivers until its socket closes.
func (s *subscriber) read(c *stomptest.Client, done chan struct{}) {
	defer close(done)
	for {
		f, err := c.Read(time.Hour)
		if err != nil {
			s.mu.Lock()
			s.closed = append(s.closed, err.Error())
			s.mu.Unlock()
			return
		}
		s.take(f)
	}
}

// take records one frame.
func (s *subscriber) take(f *stomp.Frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case f.Command == stomp.ERROR:
		s.errors = append(s.errors, fmt.Sprintf("ERROR %s %q", f.Header("message"), f.Body))
	case f.Command == stomp.MESSAGE && f.Header("subscription") == "e":
		s.errors = append(s.errors, fmt.Sprintf("errors queue: %s", f.Body))
	case f.Command == stomp.MESSAGE:
		var m rooms.Message
		if err := json.Unmarshal(f.Body, &m); err != nil {
			s.errors = append(s.errors, fmt.Sprintf("unreadable message %q", f.Body))
			return
		}
		if !strings.HasPrefix(m.Message, "m-") {
			return
		}
		s.got[m.Message]++
		s.last = m.Offset
		s.times = append(s.times, time.Now())
	}
}

// publish starts a publisher on the room at url sending every interval
// until stopAndWait.
func publish(t *testing.T, url, room string, interval time.Duration) *publisher {
	t.Helper()
	c := connect(t, url, "publisher")
	if err := c.Subscribe("e", "/user/queue/errors"); err != nil {
		t.Fatal(err)
	}
	p := &publisher{c: c, room: room, sentAt: make(map[int]time.Time), answer: make(map[int]time.Time),
		receipt: make(map[int]bool), stop: make(chan struct{}), done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(2)
	// the sender goroutine owns c's writes
	go func() { defer wg.Done(); p.send(interval) }()
	// the reader goroutine owns c's reads
	go func() { defer wg.Done(); p.read() }()
	go func() { wg.Wait(); close(p.done) }()
	return p
}

// send sends one message every interval until stop.
func (p *publisher) send(interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		f := stomp.New(stomp.SEND, "destination", "/app/chat.send", "receipt", "r-"+strconv.Itoa(n))
		f.Body = []byte(fmt.Sprintf(`{"roomId":%q,"message":"m-%d"}`, p.room, n))
		p.mu.Lock()
		p.sentAt[n] = time.Now()
		p.mu.Unlock()
		if err := p.c.Send(f); err != nil {
			p.mu.Lock()
			p.closed = append(p.closed, "send: "+err.Error())
			p.mu.Unlock()
			return
		}
	}
}

// read records RECEIPTs and errors until the socket closes or the
// publisher is stopped and every SEND answered.
func (p *publisher) read() {
	for {
		f, err := p.c.Read(200 * time.Millisecond)
		if err != nil {
			select {
			case <-p.c.Closed():
				p.mu.Lock()
				p.closed = append(p.closed, err.Error())
				p.mu.Unlock()
				return
			case <-p.stop:
				if p.unanswered() == 0 {
					return
				}
			default:
			}
			continue
		}
		n, ok := receiptNumber(f.Header("receipt-id"))
		p.mu.Lock()
		switch {
		case f.Command == stomp.RECEIPT && ok:
			if _, seen := p.answer[n]; !seen {
				p.answer[n], p.receipt[n] = time.Now(), true
			}
		case ok && (f.Command == stomp.ERROR || f.Header("subscription") == "e"):
			if _, seen := p.answer[n]; !seen {
				p.answer[n] = time.Now()
			}
			p.errors = append(p.errors, fmt.Sprintf("r-%d: %s %q", n, f.Command, f.Body))
		case f.Command == stomp.RECEIPT:
			// the errors subscription's own receipt
		default:
			p.errors = append(p.errors, fmt.Sprintf("%s %q", f.Command, f.Body))
		}
		p.mu.Unlock()
	}
}

// receiptNumber parses "r-N".
func receiptNumber(id string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(id, "r-"))
	return n, err == nil && strings.HasPrefix(id, "r-")
}

// unanswered counts the SENDs still without an answer.
func (p *publisher) unanswered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sentAt) - len(p.answer)
}

// stopAndWait stops sending and waits up to timeout for every SEND to be
// answered.
func (p *publisher) stopAndWait(t *testing.T, timeout time.Duration) {
	t.Helper()
	close(p.stop)
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Errorf("%d SENDs unanswered %v after the publisher stopped", p.unanswered(), timeout)
	}
}

// received returns how many messages s has.
func (s *subscriber) received() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.got {
		n += c
	}
	return n
}

// receipted returns the texts of the messages that got a RECEIPT, in
// order.
func (p *publisher) receipted() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ns []int
	for n, ok := range p.receipt {
		if ok {
			ns = append(ns, n)
		}
	}
	slices.Sort(ns)
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = "m-" + strconv.Itoa(n)
	}
	return out
}

// resume reconnects s, whose socket closed, to url and subscribes again
// after the last offset it saw; the close is forgotten (it was expected).
func (s *subscriber) resume(t *testing.T, url string) {
	t.Helper()
	s.mu.Lock()
	last := s.last
	s.closed = nil
	s.mu.Unlock()
	if last < 0 {
		t.Fatalf("%s saw no message to resume after", s.name)
	}
	s.attach(t, url, last)
}

// sent returns how many SENDs p made.
func (p *publisher) sent() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sentAt)
}

// waitReceived waits until every subscriber has at least n messages.
func waitReceived(t *testing.T, subs []*subscriber, n int) {
	t.Helper()
	if err := rabbittest.WaitFor(30*time.Second, func() (bool, error) {
		for _, s := range subs {
			if s.received() < n {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		t.Fatalf("subscribers did not get %d messages: %v", n, err)
	}
}

// waitReceivedText waits up to a minute until every subscriber has the
// message text.
func waitReceivedText(t *testing.T, subs []*subscriber, text string) {
	t.Helper()
	if err := rabbittest.WaitFor(time.Minute, func() (bool, error) {
		for _, s := range subs {
			s.mu.Lock()
			ok := s.got[text] > 0
			s.mu.Unlock()
			if !ok {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		t.Errorf("subscribers did not reach %s: %v", text, err)
	}
}
