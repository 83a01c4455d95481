package session

import (
	"strings"

	"chatrelay/internal/destination"
	"chatrelay/internal/stomp"
)

// ERROR messages for the refusals chatrelay shares with RabbitMQ's STOMP
// adapter, in RabbitMQ's words, so that clients that match on the
// message header keep working (internal/conformance compares them with
// Web-STOMP). The body says more, in chatrelay's words.
const (
	msgMissingDestination = "Missing destination"
	msgMissingDestOrID    = "Missing destination or id"
	msgMissingHeader      = "Missing header"
	msgMissingTransaction = "Missing transaction"
	msgBadTransaction     = "Bad transaction"
	msgBadCommand         = "Bad command"
	msgIllegalCommand     = "Illegal command"
	msgVersionMismatch    = "Version mismatch"
	msgUnknownDestination = "Unknown destination"
	msgInvalidDestination = "Invalid destination"
)

// missingMessage is the ERROR message for a command without its header
// key, as RabbitMQ words it.
func missingMessage(command, key string) string {
	switch {
	case key == "destination":
		return msgMissingDestination
	case key == "transaction":
		return msgMissingTransaction
	case key == "id" && command == stomp.UNSUBSCRIBE:
		return msgMissingDestOrID
	}
	return msgMissingHeader
}

// refusalMessage is the ERROR message for a policy rejection: RabbitMQ's
// words where RabbitMQ refuses the destination for the same reason (a
// prefix it does not know, a name it cannot use), else chatrelay's.
func refusalMessage(r *destination.Rejection) string {
	switch r.Rule {
	case destination.RuleUnknownPrefix:
		return msgUnknownDestination
	case destination.RuleInvalidName:
		return msgInvalidDestination
	}
	return "destination refused: " + r.Destination
}

// supportedVersions lists the STOMP versions a session may negotiate,
// up to max (the handshake's subprotocol caps it), as in the version
// header of RabbitMQ's "Version mismatch" ERROR.
func supportedVersions(max stomp.Version) string {
	all := []string{"1.0", "1.1", "1.2"}
	n := int(max) + 1
	if n < 1 || n > len(all) {
		n = len(all)
	}
	return strings.Join(all[:n], ",")
}
