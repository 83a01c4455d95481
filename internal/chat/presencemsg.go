package chat

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/confirm"
	"chatrelay/internal/stomp"
)

// openTimeout bounds the opening of a room (its stream's declaration, on
// its first message) for a presence message, whose announcer waits for it,
// and for chat.send without confirms, whose session waits.
const openTimeout = 5 * time.Second

// PresenceMessages returns the function that publishes one ENTER
// (entered) or LEAVE message of user into a room, with the server's text
// in language (SystemText): presence.AnnounceOptions.Publish, which
// decides which to send (coalesced, rate-limited, none in big rooms).
// post, when not nil, is offered the message first (rabbitstore.Store's
// PostAsync: a room without a stream takes it into the registry, in order
// with the replica's other messages to the room, and publishes it through
// the publish it is given once the room has a stream); it does not block.
// Otherwise the room is opened (open: rooms.Store.Open, bounded by
// openTimeout) and the message published to its topic. A message that
// fails is logged to log and dropped.
func PresenceMessages(pub confirm.Publisher, open func(ctx context.Context, roomID string) error,
	post func(roomID, msgID string, body []byte, publish func()) bool, language string, log *slog.Logger) func(roomID, user string, entered bool) {
	return func(roomID, user string, entered bool) {
		typ := rooms.Leave
		if entered {
			typ = rooms.Enter
		}
		id := uuid.NewString()
		body, err := json.Marshal(ChatMessage{
			ID: id, RoomID: roomID, Type: typ, Sender: user, SentAt: time.Now().UTC(),
			Message: SystemText(typ, user, language),
		})
		if err != nil {
			return
		}
		publish := func() {
			h := stomp.Headers{{Key: "content-type", Value: "application/json"}}
			if err := pub.Publish(rooms.Topic(roomID), h, body, nil); err != nil {
				log.Warn("presence message not published", "room", roomID, "err", err)
			}
		}
		if post != nil && post(roomID, id, body, publish) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
		err = open(ctx, roomID)
		cancel()
		if err != nil {
			log.Warn("presence message not published: the room could not be opened", "room", roomID, "err", err)
			return
		}
		publish()
	}
}
