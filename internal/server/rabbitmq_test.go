package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"chatrelay/internal/config"
	"chatrelay/internal/rabbittest"
	"chatrelay/internal/stomp"
	"chatrelay/internal/stomptest"
)

// stompConnections counts the node's STOMP (not Web-STOMP, not AMQP)
// connections.
func stompConnections(n *rabbittest.Node) (int, error) {
	conns, err := n.Connections()
	if err != nil {
		return 0, err
	}
	count := 0
	for _, c := range conns {
		if strings.HasPrefix(c.Protocol, "STOMP") {
			count++
		}
	}
	return count, nil
}

// topicConsumers returns the consumers of queues bound to amq.topic with
// routing key key.
func topicConsumers(n *rabbittest.Node, key string) (queues, consumers int, err error) {
	bindings, err := n.Bindings()
	if err != nil {
		return 0, 0, err
	}
	bound := map[string]bool{}
	for _, b := range bindings {
		if b.Source == "amq.topic" && b.RoutingKey == key {
			bound[b.Destination] = true
		}
	}
	all, err := n.Consumers()
	if err != nil {
		return 0, 0, err
	}
	for _, c := range all {
		if bound[c.Queue.Name] {
			consumers++
		}
	}
	return len(bound), consumers, nil
}

// TestFewUpstreamConnections subscribes 200 clients of one replica to one
// topic: RabbitMQ sees at most broker.connections (+1) connections and
// exactly one consumer for the topic; after the clients leave nothing of
// theirs remains.
func TestFewUpstreamConnections(t *testing.T) {
	cfg := testConfig(t, config.BrokerRabbitMQ)
	n := rabbit
	r := start(t, cfg)
	name := unique(t)
	const clients = 200
	subs := make([]*stomptest.Client, clients)
	for i := range subs {
		subs[i] = connect(t, r, fmt.Sprintf("u%d", i))
		if err := subs[i].Subscribe("s", "/topic/"+name); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
	err := rabbittest.WaitFor(15*time.Second, func() (bool, error) {
		conns, err := stompConnections(n)
		if err != nil {
			return false, err
		}
		q, c, err := topicConsumers(n, name)
		return conns <= cfg.Broker.Connections+1 && q == 1 && c == 1, err
	})
	if err != nil {
		conns, _ := stompConnections(n)
		q, c, _ := topicConsumers(n, name)
		t.Fatalf("want <= %d STOMP connections and 1 queue/consumer for the topic; have %d connections, %d queues, %d consumers: %v",
			cfg.Broker.Connections+1, conns, q, c, err)
	}
	// every client gets a message published once
	if err := r.srv.Relay().Publish("/topic/"+name, stomp.Headers{{Key: "content-type", Value: "text/plain"}}, []byte("to all"), nil); err != nil {
		t.Fatal(err)
	}
	for i, c := range subs {
		m, err := c.Expect(stomp.MESSAGE, 10*time.Second)
		if err != nil || string(m.Body) != "to all" || m.Header("subscription") != "s" {
			t.Fatalf("client %d: %v %v", i, m, err)
		}
	}
	for _, c := range subs {
		_ = c.Close()
	}
	err = rabbittest.WaitFor(15*time.Second, func() (bool, error) {
		q, c, err := topicConsumers(n, name)
		return q == 0 && c == 0, err
	})
	if err != nil {
		q, c, _ := topicConsumers(n, name)
		t.Fatalf("after all clients left: %d queues, %d consumers remain for the topic: %v", q, c, err)
	}
}
