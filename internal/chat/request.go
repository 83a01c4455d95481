package chat

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"

	"chatrelay/internal/rooms"
	"chatrelay/internal/router"
)

// integerRE matches a JSON integer literal.
var integerRE = regexp.MustCompile(`^-?[0-9]+$`)

// sendRequest is the body of a SEND to /app/chat.send. "sender" is used
// only for sessions without a user of their own (Options.SenderFromBody);
// unknown fields are ignored.
type sendRequest struct {
	RoomID      json.RawMessage `json:"roomId"`
	Type        MessageType     `json:"type"`
	Sender      string          `json:"sender"`
	Message     string          `json:"message"`
	Attachments json.RawMessage `json:"attachments"`
}

// sendBody is a decoded, validated /app/chat.send body.
type sendBody struct {
	roomID string
	typ    MessageType // TALK when absent
	sender string      // as the client wrote it, "" when absent
	text   string
	files  []rooms.Attachment // TALK only
}

// parseSend decodes and validates a /app/chat.send body; rules say which
// attachment URLs are accepted.
func parseSend(body []byte, maxBytes int, rules rooms.AttachmentRules) (sendBody, error) {
	var req sendRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return sendBody{}, router.BadRequest("body must be a JSON object with roomId, type and message")
	}
	roomID, err := parseRoomID(req.RoomID)
	if err != nil {
		return sendBody{}, err
	}
	typ := req.Type
	if typ == "" {
		typ = Talk
	}
	if !typ.ClientSendable() {
		return sendBody{}, router.BadRequest("type must be TALK, ENTER or LEAVE")
	}
	if len(req.Message) > maxBytes {
		return sendBody{}, router.BadRequest("message is longer than %d bytes", maxBytes)
	}
	files, err := rooms.ParseAttachments(req.Attachments, rules)
	if err != nil {
		return sendBody{}, router.BadRequest("%v", err)
	}
	if len(files) > 0 && typ != Talk {
		return sendBody{}, router.BadRequest("only TALK messages carry attachments")
	}
	if typ == Talk && strings.TrimSpace(req.Message) == "" && len(files) == 0 {
		return sendBody{}, router.BadRequest("a TALK message needs text or attachments")
	}
	return sendBody{roomID: roomID, typ: typ, sender: req.Sender, text: req.Message, files: files}, nil
}

// parseRoomID accepts a JSON string or an integer-valued JSON number and
// checks it against roomIDRE.
func parseRoomID(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	var id string
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "", router.BadRequest("roomId is required")
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &id); err != nil {
			return "", router.BadRequest("roomId must be a string or an integer")
		}
	case integerRE.Match(raw):
		id = string(raw)
	default:
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return "", router.BadRequest("roomId must be a string or an integer")
		}
		id = strconv.FormatInt(int64(f), 10)
	}
	// the id becomes part of a routing key: no client may steer routing
	if !rooms.ValidID(id) {
		return "", router.BadRequest("roomId must be 1 to 64 of A-Z a-z 0-9 _ -")
	}
	return id, nil
}
