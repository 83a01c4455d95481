package rabbitstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// dialTimeout bounds one AMQP connect.
const dialTimeout = 5 * time.Second

// errAMQPClosed is returned after the store closed its AMQP connection.
var errAMQPClosed = errors.New("amqp client closed")

// amqpClient does the store's AMQP work: declaring, binding and deleting
// streams, and publishing markers straight into a stream. It keeps one
// connection, dialled on first use and again after it dropped, and opens a
// channel per operation, so that a channel error (a declaration that does
// not match) never outlives its operation.
type amqpClient struct {
	url string

	mu     sync.Mutex
	conn   *amqp.Connection
	closed bool
}

// streamArgs are the queue arguments of a stream with the given
// retention (zero values: none).
func streamArgs(maxAge string, maxBytes int64) amqp.Table {
	args := amqp.Table{"x-queue-type": "stream"}
	if maxAge != "" {
		args["x-max-age"] = maxAge
	}
	if maxBytes > 0 {
		args["x-max-length-bytes"] = maxBytes
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
	if a.conn != nil && !a.conn.IsClosed() {
		return a.conn, nil
	}
	conn, err := amqp.DialConfig(a.url, amqp.Config{
		Dial:       amqp.DefaultDial(dialTimeout),
		Properties: amqp.Table{"connection_name": "chatrelay rooms"},
	})
	if err != nil {
		return nil, fmt.Errorf("amqp dial: %w", err)
	}
	a.conn = conn
	return conn, nil
}

// do runs fn on a fresh channel. When the channel cannot be opened (the
// connection died under us) it dials again once.
func (a *amqpClient) do(fn func(ch *amqp.Channel) error) error {
	var ch *amqp.Channel
	for attempt := 0; ; attempt++ {
		conn, err := a.connection()
		if err != nil {
			return err
		}
		ch, err = conn.Channel()
		if err == nil {
			break
		}
		conn.Close()
		if attempt == 1 {
			return fmt.Errorf("amqp channel: %w", err)
		}
	}
	defer ch.Close()
	return fn(ch)
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
