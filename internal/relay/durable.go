package relay

import "chatrelay/internal/stomp"

// Durable topic subscriptions (the client session names their queue with
// x-queue-name, see internal/session/durable.go). A client that leaves,
// or a plain UNSUBSCRIBE, ends only the upstream subscription, and
// RabbitMQ keeps the queue for the subscriber's return; UnsubscribeDurable
// ends it for good: its UNSUBSCRIBE carries durable:true and the queue's
// name, and RabbitMQ deletes the queue. A stream subscription never does
// (RabbitMQ would delete the stream).

// UnsubscribeDurable is Unsubscribe for a durable subscription the client
// ends for good: RabbitMQ deletes its queue. For any other subscription
// it is Unsubscribe.
func (c *Client) UnsubscribeDurable(id, receipt string) error {
	c.mu.Lock()
	if cs, ok := c.subs[id]; ok && !cs.up.shared {
		cs.conn.mu.Lock()
		cs.up.dropQueue = !cs.up.st.stream && cs.up.headers.Value("x-queue-name") != ""
		cs.conn.mu.Unlock()
	}
	c.mu.Unlock()
	return c.Unsubscribe(id, receipt)
}

// unsubscribeFrame is the UNSUBSCRIBE that ends s upstream: the id alone,
// unless s ends for good (dropQueue), when RabbitMQ is to delete its
// queue.
func unsubscribeFrame(s *upSub) *stomp.Frame {
	if !s.dropQueue {
		return stomp.New(stomp.UNSUBSCRIBE, "id", s.id)
	}
	return stomp.New(stomp.UNSUBSCRIBE, "id", s.id, "durable", "true", "x-queue-name", s.headers.Value("x-queue-name"))
}
