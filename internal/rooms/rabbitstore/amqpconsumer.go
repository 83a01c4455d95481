package rabbitstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"chatrelay/internal/rooms/feed"
)

// tailChannels is how many room tails (one AMQP channel each) one tail
// connection carries; RabbitMQ's default channel_max is 2047.
const tailChannels = 500

// errStreamGone means a tail's stream was deleted under it.
var errStreamGone = errors.New("stream deleted")

// tailPool holds the AMQP connections of a store's room tails, apart from
// the store's own connection (whose channels come and go per operation):
// up to tailChannels tails per connection, a connection opened when every
// other one is full and closed when its last tail ends (the first one is
// kept). Each connection fails over across the cluster's addresses as the
// store's does.
type tailPool struct {
	urls        []string
	start       func() int // the address index a new connection dials first
	name        string     // the connection names' prefix
	dialTimeout time.Duration
	heartbeat   time.Duration
	log         *slog.Logger

	mu     sync.Mutex
	conns  []*tailConn // nil where a connection was closed
	closed bool
	// refused counts consumes the broker refused for now (tests)
	refused atomic.Int64
}

// tailConn is one connection of the pool and how many tails use it.
type tailConn struct {
	c     *amqpClient
	users int
}

// newTailPool returns a pool whose connections are named name + " tails N".
func newTailPool(urls []string, start func() int, name string, dialTimeout, heartbeat time.Duration, log *slog.Logger) *tailPool {
	return &tailPool{urls: urls, start: start, name: name, dialTimeout: dialTimeout, heartbeat: heartbeat, log: log}
}

// open dials the pool's first connection ahead of the first tail, so that
// the broker sees the replica's connections from its start, and following
// rooms adds none until tailChannels of them are followed.
func (p *tailPool) open() error {
	tc, err := p.acquire()
	if err != nil {
		return err
	}
	defer p.release(tc)
	_, err = tc.c.connection()
	return err
}

// acquire returns a connection with room for one more tail, counting the
// tail in.
func (p *tailPool) acquire() (*tailConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errAMQPClosed
	}
	free := -1
	for i, tc := range p.conns {
		if tc == nil {
			if free < 0 {
				free = i
			}
			continue
		}
		if tc.users < tailChannels {
			tc.users++
			return tc, nil
		}
	}
	if free < 0 {
		free = len(p.conns)
		p.conns = append(p.conns, nil)
	}
	tc := &tailConn{c: newAMQPClient(p.urls, p.start(), p.name+" tails "+strconv.Itoa(free+1), p.dialTimeout, p.heartbeat, p.log), users: 1}
	p.conns[free] = tc
	return tc, nil
}

// release counts a tail out of tc, closing tc when it was its last tail
// (unless tc is the first connection).
func (p *tailPool) release(tc *tailConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	tc.users--
	if tc.users > 0 || p.closed {
		return
	}
	for i, c := range p.conns {
		if c == tc && i > 0 {
			tc.c.close()
			p.conns[i] = nil
		}
	}
}

// names returns the connection names of the pool's connections.
func (p *tailPool) names() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var names []string
	for _, tc := range p.conns {
		if tc != nil {
			names = append(names, tc.c.name)
		}
	}
	return names
}

// close closes every connection; later tails fail to start.
func (p *tailPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, tc := range p.conns {
		if tc != nil {
			tc.c.close()
		}
	}
}

// amqpOffset turns a tail's start ("first", "last" or "offset=N") into
// the AMQP x-stream-offset argument.
func amqpOffset(offset string) any {
	if n, ok := strings.CutPrefix(offset, "offset="); ok {
		if v, err := strconv.ParseInt(n, 10, 64); err == nil {
			return v
		}
	}
	return offset
}

// amqpSub is one room tail's AMQP consumer of a stream, on a channel of
// its own: stopping it closes the channel, which no delivery in flight can
// turn into an error of anything shared. Its goroutine consumes again
// when the channel or the connection is lost, from the offset after the
// last record it queued (dropping anything at or below that offset), so
// the tail sees every record once, in order; it keeps doing so until
// stopped, as the relay reconnects. A consume the broker refuses with
// not_found or precondition_failed (a stream not recovered yet, or whose
// replica on the connected node does not run yet) is tried again for
// resubscribeFor; when the broker cancels the consumer it fails only if
// the stream is gone.
type amqpSub struct {
	pool     *tailPool
	tc       *tailConn
	store    *amqpClient // checks whether the stream still exists
	queue    string
	start    any
	prefetch int
	log      *slog.Logger
	ctx      context.Context // ends with close
	cancel   context.CancelFunc
	ready    chan struct{} // capacity 1: something to take
	subOK    chan struct{} // closed once the first consume is accepted

	mu    sync.Mutex
	recs  []feed.Record
	dels  []amqp.Delivery // dels[i] delivered recs[i]
	limit int
	err   error
	// last is the offset of the last record queued (-1: none)
	last int64
	// ch is the current channel; acked the highest delivery tag acked
	// on it, so that no tag is acked twice (RabbitMQ closes a channel
	// that acks an unknown tag)
	ch    *amqp.Channel
	acked uint64
	// taken is the delivery of the last record take returned
	taken amqp.Delivery
}

var _ streamConsumer = (*amqpSub)(nil)

// subscribe starts an AMQP consumer of the stream queue from offset (an
// x-stream-offset argument) on a channel of one of the pool's
// connections.
func (p *tailPool) subscribe(queue string, offset any, prefetch int, store *amqpClient, log *slog.Logger) (*amqpSub, error) {
	tc, err := p.acquire()
	if err != nil {
		return nil, fmt.Errorf("tail stream %s: %w", queue, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &amqpSub{pool: p, tc: tc, store: store, queue: queue, start: offset, prefetch: prefetch, log: log.With("stream", queue),
		ctx: ctx, cancel: cancel, ready: make(chan struct{}, 1), subOK: make(chan struct{}),
		limit: 4*prefetch + 16, last: -1}
	go s.run() // owns the consumer's channels and their deliveries until close
	return s, nil
}

// readyC is signalled when there is something to take.
func (s *amqpSub) readyC() <-chan struct{} { return s.ready }

// confirmedC is closed once the broker accepted the first consume.
func (s *amqpSub) confirmedC() <-chan struct{} { return s.subOK }

// refusedForNow is false: the consumer retries refusals itself.
func (s *amqpSub) refusedForNow() bool { return false }

// take returns the queued records and the consumer's error once it has
// failed.
func (s *amqpSub) take() ([]feed.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs := s.recs
	if len(s.dels) > 0 {
		s.taken = s.dels[len(s.dels)-1]
	}
	s.recs, s.dels = nil, nil
	return recs, s.err
}

// ack acknowledges the last record taken and everything before it.
func (s *amqpSub) ack() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ackLocked(s.taken)
}

// ackLocked acknowledges d and everything delivered before it on its
// channel, when d came on the current channel and is not acked yet (a
// lost channel's deliveries need no ack).
func (s *amqpSub) ackLocked(d amqp.Delivery) {
	if s.ch == nil || d.Acknowledger != s.ch || d.DeliveryTag <= s.acked {
		return
	}
	s.acked = d.DeliveryTag
	_ = d.Ack(true) // fails only with the channel, which the pump sees
}

// close stops the consumer without waiting: its goroutine closes the
// channel and ends on its own, so that a node that does not answer the
// channel's close (frozen, not yet taken for dead) cannot hold up the
// tail's stop, which may run under a feed's lock. Nothing reaches the
// tail after its stop: only the tail's goroutine gives records to a sink.
func (s *amqpSub) close() { s.cancel() }

// signal tells the tail there is something to take.
func (s *amqpSub) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// fail ends the consumer with err.
func (s *amqpSub) fail(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	s.signal()
}

// sleep waits d or until close; it reports false on close.
func (s *amqpSub) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// run consumes until close or a failure: after a lost channel or
// connection it consumes again from the record after the last one
// queued.
func (s *amqpSub) run() {
	defer s.pool.release(s.tc)
	// refused is when the broker began refusing the consumer (not_found,
	// precondition_failed: a stream still recovering) without a break:
	// time spent without a connection (the broker down) does not count,
	// or a tail that waited out an outage would give up at the first
	// refusal after it
	var refused time.Time
	wait := resubscribeMin
	for {
		s.mu.Lock()
		offset := s.start
		if s.last >= 0 {
			offset = s.last + 1
		}
		s.mu.Unlock()
		accepted, err := s.consume(offset)
		if s.ctx.Err() != nil {
			return
		}
		var ae *amqp.Error
		switch {
		case accepted && errors.Is(err, errCancelled):
			if gone, cerr := s.deleted(); gone {
				s.fail(fmt.Errorf("tail stream %s: %w", s.queue, errStreamGone))
				return
			} else if cerr != nil {
				s.log.Debug("rooms: checking a cancelled tail's stream failed", "err", cerr)
			}
		case errors.Is(err, errOverflow):
			s.fail(fmt.Errorf("tail stream %s: %w", s.queue, err))
			return
		case !accepted && errors.As(err, &ae) && (ae.Code == amqp.NotFound || ae.Code == amqp.PreconditionFailed):
			s.pool.refused.Add(1)
			if refused.IsZero() {
				refused = time.Now()
			}
			if time.Since(refused) >= resubscribeFor {
				s.fail(fmt.Errorf("tail stream %s: %w", s.queue, err))
				return
			}
		case !accepted && errors.As(err, &ae) && ae.Server && ae.Recover:
			// a channel error other than the above (access, arguments):
			// no retry helps; connection errors are retried
			s.fail(fmt.Errorf("tail stream %s: %w", s.queue, err))
			return
		default:
			// no refusal (a consumer ran, or no connection): the next
			// refusals are a new episode (a node restarting), with their
			// own time to pass
			refused = time.Time{}
		}
		if accepted {
			refused, wait = time.Time{}, resubscribeMin
		}
		s.log.Debug("rooms: consuming the stream again", "err", err, "in", wait)
		if !s.sleep(wait) {
			return
		}
		wait = min(2*wait, resubscribeMax)
	}
}

// errCancelled means the broker cancelled a tail's consumer (its channel
// lives on).
var errCancelled = errors.New("consumer cancelled by the broker")

// consume runs one consumer from offset on a fresh channel until close,
// the channel's loss or a cancel, queueing its records; accepted reports
// whether the broker accepted it.
func (s *amqpSub) consume(offset any) (accepted bool, err error) {
	conn, err := s.tc.c.connection()
	if err != nil {
		return false, err
	}
	ch, err := conn.Channel()
	if err != nil {
		s.tc.c.dropped(conn)
		return false, err
	}
	defer ch.Close()
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	if err := ch.Qos(s.prefetch, 0, false); err != nil {
		return false, err
	}
	deliveries, err := ch.Consume(s.queue, "", false, false, false, false, amqp.Table{offsetHeader: offset})
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	s.ch, s.acked = ch, 0
	s.mu.Unlock()
	select {
	case <-s.subOK:
	default:
		close(s.subOK)
	}
	for {
		select {
		case <-s.ctx.Done():
			return true, nil
		case d, ok := <-deliveries:
			if !ok {
				select {
				case cerr := <-closed:
					if cerr != nil {
						s.tc.c.dropped(conn)
						return true, cerr
					}
					return true, errors.New("channel closed")
				default:
				}
				if ch.IsClosed() {
					s.tc.c.dropped(conn)
					return true, errors.New("channel closed")
				}
				return true, errCancelled
			}
			if err := s.push(d); err != nil {
				return true, err
			}
		}
	}
}

// push queues d's record unless it was queued already (or has no offset:
// then it is only acknowledged).
func (s *amqpSub) push(d amqp.Delivery) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	off, ok := d.Headers[offsetHeader].(int64)
	if !ok || off <= s.last {
		if len(s.dels) == 0 {
			s.ackLocked(d) // nothing waits to be taken: keep the credit flowing
		}
		return nil
	}
	if len(s.recs) >= s.limit {
		return errOverflow
	}
	marker, _ := d.Headers[markerHeader].(string)
	s.recs = append(s.recs, feed.Record{Offset: off, Body: d.Body, Marker: marker})
	s.dels = append(s.dels, d)
	s.last = off
	s.signal()
	return nil
}

// deleted reports whether the stream is gone (a passive declare answers
// not_found).
func (s *amqpSub) deleted() (bool, error) {
	err := s.store.do(func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclarePassive(s.queue, true, false, false, false, nil)
		return err
	})
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.NotFound {
		return true, nil
	}
	return false, err
}
