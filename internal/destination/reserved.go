package destination

import "strings"

// Names the server or the broker own. They are refused whatever the
// allowlists say, and New refuses allowlists that name them: reaching one
// either lets a client pose as the server (a forged room announcement) or
// makes RabbitMQ close the connection the replica shares with every other
// client (a queue declared again with other arguments, a reserved name).

// reservedTopicWords are first words of topic names the server keeps for
// itself: per-user queues (user.<name>.<queue>) and its own state
// (chatrelay.presence).
var reservedTopicWords = []string{"user", "chatrelay"}

// roomWord is the first word of room topics (room.<id>): the server
// checks a room's access list on every SUBSCRIBE to one, so they must be
// named one room at a time, and clients send into rooms only through
// /app/chat.send.
const roomWord = "room"

// serverTopicWords are first words of topics the server publishes and
// clients may only read: rooms (room creations and deletions, the
// server's /topic/rooms) and room.<id> (room messages, ENTER and LEAVE).
// A SEND to them is refused whatever policy.client_send says.
var serverTopicWords = []string{"rooms", roomWord}

// generatedQueuePrefixes start queue names the broker makes or keeps for
// itself: amq.* (reserved by AMQP: amq.gen-*), stomp-* (the STOMP
// plugin's stomp-subscription-* queues, one per topic subscription) and
// mqtt-* (the MQTT plugin's). Compared without regard to case.
var generatedQueuePrefixes = []string{"amq.", "stomp-", "mqtt-"}

// serverQueueWords are first words of queue names the server declares or
// could: its streams (room.<id> histories, chatrelay.rooms, the room
// registry) and the user.* routing keys of per-user queues.
var serverQueueWords = []string{roomWord, "chatrelay", "user"}

// firstWord returns the part of a dotted name before its first dot.
func firstWord(name string) string {
	first, _, _ := strings.Cut(name, ".")
	return first
}

// checkTopicReserved refuses topic names (routing keys or binding patterns
// on amq.topic) that are or could match the server's reserved names.
func checkTopicReserved(dest, name string) *Rejection {
	first := firstWord(name)
	for _, r := range reservedTopicWords {
		if first == r {
			return reject(dest, RuleReserved, "topics %q and %q.* are reserved for the server", r, r)
		}
	}
	if first == "*" || first == "#" {
		return reject(dest, RuleReserved, "a wildcard first word could match the server's reserved topics")
	}
	return nil
}

// checkRoomTopic refuses a client SEND to a room topic and a wildcard
// subscription that could match room topics: either would pass by the
// checks of private rooms.
func checkRoomTopic(dest, name string, o op) *Rejection {
	if firstWord(name) != roomWord {
		return nil
	}
	if o == opSend {
		return reject(dest, RuleRoom, "rooms take messages through /app/chat.send, not by a SEND to their topic")
	}
	if strings.ContainsAny(name, "*#") {
		return reject(dest, RuleRoom, "room topics take no wildcards: subscribe to each room as /topic/room.<id>")
	}
	// room.<id>, room.<id>.typing and room.<id>.reads are checked
	// against the room's members; any other room.* topic would be a
	// broker topic next to a private room that nobody checks
	if words := strings.Split(name, "."); len(words) > 3 || (len(words) == 3 && words[2] != "typing" && words[2] != "reads") {
		return reject(dest, RuleRoom, "a room's topics are /topic/room.<id>, /topic/room.<id>.typing and /topic/room.<id>.reads")
	}
	return nil
}

// checkServerTopic refuses a client SEND to a topic the server publishes
// (see serverTopicWords): subscribers must be able to trust that what
// arrives there comes from the server.
func checkServerTopic(dest, name string, o op) *Rejection {
	if o != opSend {
		return nil
	}
	if rej := checkRoomTopic(dest, name, o); rej != nil {
		return rej
	}
	first := firstWord(name)
	for _, w := range serverTopicWords {
		if first == w {
			return reject(dest, RuleReserved, "topic %q is published by the server only: clients may subscribe to it, not send to it", name)
		}
	}
	return nil
}

// checkQueueName refuses a queue name (after /queue/ or /amq/queue/, or
// the routing key of the default exchange) the broker generates or the
// server uses. Subscribing to such a queue makes RabbitMQ declare it
// again with the STOMP plugin's arguments; when they differ (a stream, a
// stomp-subscription-* queue) or the name is reserved, the broker answers
// with an error that closes the replica's shared connection.
func checkQueueName(dest, name string) *Rejection {
	lower := strings.ToLower(name)
	for _, p := range generatedQueuePrefixes {
		if strings.HasPrefix(lower, p) {
			return reject(dest, RuleReserved, "queue names starting with %s are generated or reserved by the broker", p)
		}
	}
	switch first := firstWord(lower); first {
	case roomWord:
		return reject(dest, RuleRoom, "room streams are read as /topic/room.<id> with x-history or x-resume-after, where their access list is checked")
	case "chatrelay", "user":
		return reject(dest, RuleReserved, "queues %s and %s.* are the server's own", first, first)
	}
	return nil
}
