package chat

import "chatrelay/internal/rooms"

// MessageType is the kind of a room message (rooms.MessageType).
type MessageType = rooms.MessageType

// The room message types.
const (
	// Talk is an ordinary chat line.
	Talk = rooms.Talk
	// Enter announces that the sender joined the room.
	Enter = rooms.Enter
	// Leave announces that the sender left the room.
	Leave = rooms.Leave
	// System is a message from the server; clients may not send it.
	System = rooms.System
)

// ChatMessage is a message as published to a room's topic: rooms.Post.
// The room's store adds the history offset when it delivers it
// (rooms.Message).
type ChatMessage = rooms.Post

// RoomTopic returns the broker destination of a room.
func RoomTopic(roomID string) string { return rooms.Topic(roomID) }
