package rabbittest

import (
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// amqpDialTimeout bounds WithChannel's connect.
const amqpDialTimeout = 10 * time.Second

// WithChannel runs fn on a channel of a fresh AMQP connection to the node
// as guest, the way another application in the default vhost would; a
// failed connect or an error from fn fails t. Both are closed afterwards
// (a channel that fn's error closed already is no error).
func (n *Node) WithChannel(t testing.TB, fn func(ch *amqp.Channel) error) {
	t.Helper()
	conn, err := amqp.DialConfig("amqp://guest:guest@"+n.AMQPAddr()+"/", amqp.Config{Dial: amqp.DefaultDial(amqpDialTimeout)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if err := fn(ch); err != nil {
		t.Fatal(err)
	}
}
