package chat

import "time"

// MessageType is the kind of a room message.
type MessageType string

// The room message types.
const (
	// Talk is an ordinary chat line.
	Talk MessageType = "TALK"
	// Enter announces that the sender joined the room.
	Enter MessageType = "ENTER"
	// Leave announces that the sender left the room.
	Leave MessageType = "LEAVE"
	// System is a message from the server; clients may not send it.
	System MessageType = "SYSTEM"
)

// ClientSendable reports whether clients may send messages of type t.
func (t MessageType) ClientSendable() bool {
	return t == Talk || t == Enter || t == Leave
}

// ChatMessage is a message as published to a room's topic.
type ChatMessage struct {
	ID      string      `json:"id"`
	RoomID  string      `json:"roomId"`
	Type    MessageType `json:"type"`
	Sender  string      `json:"sender"`
	Message string      `json:"message"`
	// SentAt is UTC; it is encoded as RFC 3339 with nanoseconds.
	SentAt time.Time `json:"sentAt"`
}

// RoomTopic returns the broker destination of a room.
func RoomTopic(roomID string) string { return "/topic/room." + roomID }
