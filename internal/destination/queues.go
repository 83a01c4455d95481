package destination

import (
	"fmt"
	"strings"
)

// Queues are the one kind of destination where a client's frame makes
// RabbitMQ keep state after the client is gone: SUBSCRIBE or SEND to
// /queue/NAME declares a durable queue that survives the session and
// broker restarts. So a queue is reachable by clients only when an
// allowlist names it literally ("/queue/jobs"): an operator-made, bounded
// list. A pattern with "*", "{var}" or "/**" never matches a queue, and
// New refuses one that is written under a queue prefix.

// queuePrefixes start destinations that address a queue: /queue/NAME,
// /amq/queue/NAME, and /exchange/amq.default/NAME (the default exchange
// routes a message to the queue its routing key names).
var queuePrefixes = []string{prefixQueue, "/amq/queue/", defaultExchange + "/"}

// defaultExchange is the default exchange as a destination.
const defaultExchange = "/exchange/amq.default"

// isQueue reports whether the canonical destination canon addresses a
// queue.
func isQueue(canon string) bool {
	if canon == defaultExchange {
		return true
	}
	for _, p := range queuePrefixes {
		if strings.HasPrefix(canon, p) {
			return true
		}
	}
	return false
}

// wildQueuePattern reports whether pt is a pattern with wildcards or
// variables written under a queue prefix ("/queue/**", "/queue/jobs.*",
// "/amq/queue/{name}").
func wildQueuePattern(pt *pattern) bool {
	if pt.Literal() {
		return false
	}
	for _, p := range queuePrefixes {
		if pt.Prefix() == strings.TrimSuffix(p, "/") || strings.HasPrefix(pt.Prefix(), p) {
			return true
		}
	}
	return false
}

// errWildQueue explains why New refuses a wildcard queue pattern.
func errWildQueue(src string) error {
	return fmt.Errorf("pattern %q: queues must be named one by one (e.g. \"/queue/jobs\"): "+
		"a wildcard or {variable} under /queue/, /amq/queue/ or %s would let clients make RabbitMQ keep any number of durable queues", src, defaultExchange)
}

// matchLiteral reports whether one of the patterns is literally s.
func matchLiteral(ps []*pattern, s string) bool {
	for _, p := range ps {
		if p.Literal() && p.Source() == s {
			return true
		}
	}
	return false
}
