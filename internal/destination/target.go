package destination

import "fmt"

// Kind says where an accepted destination goes.
type Kind int

// The kinds of destination. The zero Kind is not a valid kind.
const (
	// App destinations ("/app/...") go to the router's handlers.
	App Kind = iota + 1
	// Broker destinations ("/topic/...", "/queue/..." and opted-in special
	// prefixes) go to the broker relay.
	Broker
	// User destinations ("/user/queue/NAME") are the current user's
	// private queues.
	User
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case App:
		return "app"
	case Broker:
		return "broker"
	case User:
		return "user"
	default:
		return fmt.Sprintf("Kind(%d)", int(k))
	}
}

// Target is what an accepted client destination means.
type Target struct {
	Kind Kind
	// Destination is canonical: "/app/chat.send", "/topic/room.7",
	// "/queue/jobs"; for Kind User, "/user/queue/errors".
	Destination string
	// Queue is the NAME in /user/queue/NAME, for Kind User only.
	Queue string
	// Original is the destination as the client wrote it.
	Original string
}

// Names of the rules a Rejection can cite. Header rules are
// RuleHeaderPrefix followed by the header's lower-case name.
const (
	RuleClientSend      = "policy.client_send"
	RuleClientSubscribe = "policy.client_subscribe"
	RuleNoWildcards     = "no-wildcards"
	RuleReserved        = "reserved"
	RuleRoom            = "room"
	RuleSpecialPrefix   = "special-prefix"
	RuleInvalidName     = "invalid-name"
	RuleUnknownPrefix   = "unknown-prefix"
	RuleHeaderPrefix    = "header:"
)

// Rejection is the error returned when the policy refuses a frame. It names
// the destination (as the client wrote it) and the rule that refused it.
type Rejection struct {
	Destination string
	Rule        string
	Reason      string
}

// Error implements error.
func (r *Rejection) Error() string {
	return fmt.Sprintf("destination %q refused by rule %q: %s", r.Destination, r.Rule, r.Reason)
}

// reject builds a *Rejection.
func reject(dest, rule, format string, a ...any) *Rejection {
	return &Rejection{Destination: dest, Rule: rule, Reason: fmt.Sprintf(format, a...)}
}
