package destination

import "strings"

// A MESSAGE tells its subscriber the destination it was sent to, as
// RabbitMQ's STOMP adapter does: for a subscription with a wildcard
// ("/topic/probe.*") that is the destination that matched
// ("/topic/probe.a"), not the pattern. A client that subscribed through
// an alias sees the destination written back through that alias when the
// alias reverses ("/sub/**" → "/topic/**": "/sub/probe.a"), else the
// canonical destination; for an exact subscription it sees what it wrote.

// Wildcard reports whether the broker destination t subscribes to is a
// pattern (RabbitMQ topic wildcards * and #), so that its MESSAGEs name
// the destinations that matched it.
func (t Target) Wildcard() bool {
	return t.Kind == Broker && strings.ContainsAny(t.Destination, "*#")
}

// Display returns the destination a subscriber through t sees on a
// MESSAGE the broker sent to dest.
func (p *Policy) Display(t Target, dest string) string {
	if dest == t.Destination || dest == "" {
		return t.Original
	}
	if t.Original == t.Destination {
		return dest
	}
	for i, a := range p.aliases {
		if got, ok := a.apply(t.Original); ok {
			if got != t.Destination || p.reverse[i] == nil {
				break // another route to it: no alias to write back with
			}
			if back, ok := p.reverse[i].apply(dest); ok {
				return back
			}
			break
		}
	}
	return dest
}

// reverseAlias compiles the alias that writes a's To back as its From,
// or returns nil when a does not reverse (To drops a variable of From,
// or is no pattern).
func reverseAlias(a Alias) *alias {
	r, err := compileAlias(Alias{From: a.To, To: a.From})
	if err != nil {
		return nil
	}
	return &r
}
