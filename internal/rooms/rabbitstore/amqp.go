package rabbitstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"chatrelay/internal/rooms/feed"
)

// Defaults of the AMQP client.
const (
	// DefaultDialTimeout bounds one AMQP connect (TCP and handshake) to
	// one address: what a dead node costs an operation, once.
	DefaultDialTimeout = 3 * time.Second
	// DefaultHeartbeat is the AMQP heartbeat; a node silent for 1.5 times
	// this is taken for dead.
	DefaultHeartbeat = 10 * time.Second
)

// readPrefetch is the prefetch window of an AMQP stream read.
const readPrefetch = 256

// errAMQPClosed is returned after the store closed its AMQP connection.
var errAMQPClosed = errors.New("amqp client closed")

// amqpClient does the store's AMQP work: declaring, binding and deleting
// streams, and publishing markers straight into a stream. It keeps one
// connection, to one of several addresses (the nodes of a cluster), and
// opens a channel per operation, so that a channel error (a declaration
// that does not match) never outlives its operation.
//
// Dialling starts at the address that last worked (at first, one picked
// at random, so that replicas spread over the nodes) and tries each
// address once, in turn: a dead node costs an operation at most one dial
// timeout, and none once another address worked. When the connection
// drops, the next dial starts with the address after the one it was on.
type amqpClient struct {
	urls        []string
	addrs       []string // host:port of each URL, for logs (no credentials)
	name        string   // the connection_name operators see
	dialTimeout time.Duration
	heartbeat   time.Duration
	log         *slog.Logger

	mu     sync.Mutex
	conn   *amqp.Connection
	at     int // index of conn's address
	next   int // index of the address the next dial starts with
	closed bool
}

// newAMQPClient returns a client for urls (at least one); the first dial
// starts at urls[start].
func newAMQPClient(urls []string, start int, name string, dialTimeout, heartbeat time.Duration, log *slog.Logger) *amqpClient {
	addrs := make([]string, len(urls))
	for i, u := range urls {
		addrs[i] = "?"
		if p, err := url.Parse(u); err == nil {
			addrs[i] = p.Host
		}
	}
	return &amqpClient{
		urls: urls, addrs: addrs, name: name,
		dialTimeout: dialTimeout, heartbeat: heartbeat, log: log,
		next: start,
	}
}

// randomStart picks the first address a replica dials.
func randomStart(n int) int { return rand.N(n) }

// defaultConnectionName names a replica's AMQP connection after its host
// and process, so that operators can tell the replicas apart.
func defaultConnectionName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return "chatrelay rooms " + host + " pid " + strconv.Itoa(os.Getpid())
}

// streamArgs are the queue arguments of a stream with the given
// retention and number of cluster nodes holding it (zero values: none,
// and RabbitMQ's default: a replica on every cluster member at declare
// time).
func streamArgs(maxAge string, maxBytes int64, replicas int) amqp.Table {
	args := amqp.Table{"x-queue-type": "stream"}
	if maxAge != "" {
		args["x-max-age"] = maxAge
	}
	if maxBytes > 0 {
		args["x-max-length-bytes"] = maxBytes
	}
	if replicas > 0 {
		args["x-initial-cluster-size"] = int64(replicas)
	}
	return args
}

// connection returns the live connection, dialling if need be.
func (a *amqpClient) connection() (*amqp.Connection, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, errAMQPClosed
	}
	if a.conn != nil {
		if !a.conn.IsClosed() {
			return a.conn, nil
		}
		// its node may be gone: start with the next one
		a.log.Warn("rooms: AMQP connection lost; dialling the next address", "addr", a.addrs[a.at])
		a.conn = nil
		a.next = (a.at + 1) % len(a.urls)
	}
	var errs []error
	for i := range a.urls {
		at := (a.next + i) % len(a.urls)
		conn, err := amqp.DialConfig(a.urls[at], amqp.Config{
			Dial:       amqp.DefaultDial(a.dialTimeout),
			Heartbeat:  a.heartbeat,
			Properties: amqp.Table{"connection_name": a.name},
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a.addrs[at], err))
			continue
		}
		if len(errs) > 0 {
			a.log.Warn("rooms: AMQP connected after failed addresses", "addr", a.addrs[at], "err", errors.Join(errs...))
		} else {
			a.log.Debug("rooms: AMQP connected", "addr", a.addrs[at])
		}
		a.conn, a.at, a.next = conn, at, at
		return conn, nil
	}
	// none answered: the next operation starts one further on
	a.next = (a.next + 1) % len(a.urls)
	return nil, fmt.Errorf("amqp dial: %w", errors.Join(errs...))
}

// dropped reports whether conn is closed, and forgets it then, so that
// the next connection starts with the next address.
func (a *amqpClient) dropped(conn *amqp.Connection) bool {
	if !conn.IsClosed() {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn == conn {
		a.log.Warn("rooms: AMQP connection lost during an operation; retrying on the next address", "addr", a.addrs[a.at])
		a.conn = nil
		a.next = (a.at + 1) % len(a.urls)
	}
	return true
}

// do runs fn on a fresh channel. When the connection dies under the
// operation (before or during fn) it runs it again on a new connection,
// up to once per address: every operation of the store is idempotent
// (declaring, binding, deleting a stream that may be gone, a marker its
// consumer may read twice). A channel error (the connection lives on)
// is fn's answer and ends it.
func (a *amqpClient) do(fn func(ch *amqp.Channel) error) error {
	var last error
	for range len(a.urls) + 1 {
		conn, err := a.connection()
		if err != nil {
			return err
		}
		ch, err := conn.Channel()
		if err != nil {
			if !a.dropped(conn) {
				return fmt.Errorf("amqp channel: %w", err)
			}
			last = err
			continue
		}
		err = fn(ch)
		ch.Close()
		if err == nil || !a.dropped(conn) {
			return err
		}
		last = err
	}
	return fmt.Errorf("amqp: connection lost on every attempt: %w", last)
}

// declareStream declares a durable stream queue and, with routingKey set,
// binds it to amq.topic.
func (a *amqpClient) declareStream(name string, args amqp.Table, routingKey string) error {
	return a.do(func(ch *amqp.Channel) error {
		if _, err := ch.QueueDeclare(name, true, false, false, false, args); err != nil {
			return fmt.Errorf("declare stream %s: %w", name, err)
		}
		if routingKey == "" {
			return nil
		}
		if err := ch.QueueBind(name, routingKey, "amq.topic", false, nil); err != nil {
			return fmt.Errorf("bind stream %s: %w", name, err)
		}
		return nil
	})
}

// bindStream binds a stream to amq.topic with routingKey (again: binding
// twice is no error).
func (a *amqpClient) bindStream(name, routingKey string) error {
	return a.do(func(ch *amqp.Channel) error {
		if err := ch.QueueBind(name, routingKey, "amq.topic", false, nil); err != nil {
			return fmt.Errorf("bind stream %s: %w", name, err)
		}
		return nil
	})
}

// unbindStream removes a stream's binding to amq.topic with routingKey:
// what is published to the room's topic from then on reaches no queue.
func (a *amqpClient) unbindStream(name, routingKey string) error {
	return a.do(func(ch *amqp.Channel) error {
		if err := ch.QueueUnbind(name, routingKey, "amq.topic", nil); err != nil {
			return fmt.Errorf("unbind stream %s: %w", name, err)
		}
		return nil
	})
}

// deleteStream deletes a stream queue (and its bindings); a queue that is
// already gone is not an error.
func (a *amqpClient) deleteStream(name string) error {
	return a.do(func(ch *amqp.Channel) error {
		if _, err := ch.QueueDelete(name, false, false, false); err != nil {
			var ae *amqp.Error
			if errors.As(err, &ae) && ae.Code == amqp.NotFound {
				return nil
			}
			return fmt.Errorf("delete stream %s: %w", name, err)
		}
		return nil
	})
}

// publishMarker publishes a marker record straight into the queue through
// the default exchange: no topic subscriber sees it, and a queue that was
// deleted meanwhile just drops it.
func (a *amqpClient) publishMarker(ctx context.Context, queue, nonce string) error {
	return a.do(func(ch *amqp.Channel) error {
		return ch.PublishWithContext(ctx, "", queue, false, false, amqp.Publishing{
			Headers:      amqp.Table{markerHeader: nonce},
			DeliveryMode: amqp.Persistent,
		})
	})
}

// publishJSON publishes a JSON body to exchange with routingKey on a
// fresh channel: "" and a queue's name put it straight into that queue;
// "amq.topic" and a room's routing key do what the relay's SEND to
// /topic/<routingKey> does. It waits for no confirm from the broker:
// whether the stream stored it shows when a tail reads it back.
func (a *amqpClient) publishJSON(ctx context.Context, exchange, routingKey string, body []byte) error {
	return a.do(func(ch *amqp.Channel) error {
		return ch.PublishWithContext(ctx, exchange, routingKey, false, false, amqp.Publishing{
			ContentType:  "application/json",
			DeliveryMode: amqp.Persistent,
			Body:         body,
		})
	})
}

// readStream reads a stream over AMQP from offset ("first", "last", or
// an int64 stream offset), passing each record to fn until fn reports
// false; with mark it publishes a marker once its consumer is attached
// and stops there too. Closing the channel ends the consumer: unlike a
// STOMP UNSUBSCRIBE, a delivery still in flight then cannot make
// RabbitMQ's STOMP plugin drop a shared relay connection (its AMQP client
// crashes on a delivery for a consumer it cancelled). After a lost
// connection fn sees the stream again from offset.
func (a *amqpClient) readStream(ctx context.Context, queue string, offset any, mark bool, fn func(feed.Record) bool) error {
	return a.do(func(ch *amqp.Channel) error {
		nonce := newNonce() // each attempt reads to a marker of its own, the last one published
		if err := ch.Qos(readPrefetch, 0, false); err != nil {
			return fmt.Errorf("read stream %s: %w", queue, err)
		}
		tag := "read-" + nonce
		deliveries, err := ch.ConsumeWithContext(ctx, queue, tag, false, false, false, false, amqp.Table{offsetHeader: offset})
		if err != nil {
			return fmt.Errorf("read stream %s: %w", queue, err)
		}
		// cancelled before the channel closes: a stream consumer whose
		// channel just closes stays listed by RabbitMQ 3.10's management
		// API, without a channel (still after 10 s here)
		defer ch.Cancel(tag, false)
		if mark {
			if err := ch.PublishWithContext(ctx, "", queue, false, false, amqp.Publishing{
				Headers: amqp.Table{markerHeader: nonce}, DeliveryMode: amqp.Persistent}); err != nil {
				return fmt.Errorf("read stream %s: marker: %w", queue, err)
			}
		}
		for n := 1; ; n++ {
			var d amqp.Delivery
			var ok bool
			select {
			case <-ctx.Done():
				return fmt.Errorf("read stream %s: %w", queue, ctx.Err())
			case d, ok = <-deliveries:
			}
			if !ok {
				return fmt.Errorf("read stream %s: consumer ended", queue)
			}
			if n%(readPrefetch/2) == 0 {
				if err := d.Ack(true); err != nil {
					return fmt.Errorf("read stream %s: %w", queue, err)
				}
			}
			off, ok := d.Headers[offsetHeader].(int64)
			if !ok {
				continue
			}
			marker, _ := d.Headers[markerHeader].(string)
			if !fn(feed.Record{Offset: off, Body: d.Body, Marker: marker}) || mark && marker == nonce {
				return nil
			}
		}
	})
}

// readRange reads a stream's records with from <= offset < to, in order,
// and stops at the first offset >= to, which the caller guarantees
// exists.
func (a *amqpClient) readRange(ctx context.Context, queue string, from, to int64, fn func(feed.Record)) error {
	last := int64(-1)
	return a.readStream(ctx, queue, from, false, func(r feed.Record) bool {
		if r.Offset >= to {
			return false
		}
		if r.Offset >= from && r.Offset > last {
			last = r.Offset
			fn(r)
		}
		return true
	})
}

// address returns the host:port of the current connection ("" without
// one).
func (a *amqpClient) address() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn == nil || a.conn.IsClosed() {
		return ""
	}
	return a.addrs[a.at]
}

// nextStart returns the index of the address the client is connected to,
// or else of the one it dials next: where the store's tail connections
// start.
func (a *amqpClient) nextStart() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn != nil {
		return a.at
	}
	return a.next
}

// close closes the connection; later operations fail.
func (a *amqpClient) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	if a.conn != nil {
		a.conn.Close()
		a.conn = nil
	}
}

// AMQPURL returns the amqp:// URL of a broker at host:port for the given
// credentials and vhost ("" or "/" is the default vhost), escaped as the
// AMQP URI spec wants (the default vhost "/" becomes "%2F").
func AMQPURL(host string, port int, login, passcode, vhost string) string {
	if vhost == "" {
		vhost = "/"
	}
	u := url.URL{
		Scheme: "amqp",
		User:   url.UserPassword(login, passcode),
		Host:   net.JoinHostPort(host, strconv.Itoa(port)),
	}
	return u.String() + "/" + url.PathEscape(vhost)
}
