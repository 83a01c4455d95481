package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"chatrelay/internal/chat"
	"chatrelay/internal/destination"
	"chatrelay/internal/rooms"
	"chatrelay/internal/rooms/confirm"
	"chatrelay/internal/stomp"
)

// defaultPushSender is the sender of a push that names none.
const defaultPushSender = "system"

// roomPush is a room message as published by server push: a rooms.Message
// without an offset (the room's history assigns it).
type roomPush struct {
	ID      string            `json:"id"`
	RoomID  string            `json:"roomId"`
	Type    rooms.MessageType `json:"type"`
	Sender  string            `json:"sender"`
	Message string            `json:"message"`
	SentAt  time.Time         `json:"sentAt"`
	// Attachments: TALK and SYSTEM pushes may link to files
	// (rooms.ParseAttachments)
	Attachments []rooms.Attachment `json:"attachments,omitempty"`
}

// pushAccepted is the answer of a push: the id of the message sent.
type pushAccepted struct {
	ID string `json:"id"`
}

// pushRequest is the body of both push endpoints; Type is for rooms only.
type pushRequest struct {
	Message     *string           `json:"message"`
	Type        rooms.MessageType `json:"type"`
	Sender      *string           `json:"sender"`
	Attachments json.RawMessage   `json:"attachments"`
}

// pushToRoom handles POST /api/rooms/{id}/messages with the API key: body
// {"message","type" (default SYSTEM),"sender" (default "system")}. With a
// Confirmer it answers 201 {"id"} once the message is seen stored in the
// room's history (from which it reaches subscribers on every replica),
// and 503 {"code":"not_stored"} when it was not within the Confirmer's
// timeout. Without one it answers 202 once the broker has accepted the
// message for the room's topic.
func (a *api) pushToRoom(w http.ResponseWriter, r *http.Request) error {
	if err := a.requireKey(r); err != nil {
		return err
	}
	room, err := a.room(r)
	if err != nil {
		return err
	}
	var req pushRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	typ := req.Type
	if typ == "" {
		typ = rooms.System
	}
	switch typ {
	case rooms.Talk, rooms.Enter, rooms.Leave, rooms.System:
	default:
		return errorf(http.StatusBadRequest, "type must be TALK, ENTER, LEAVE or SYSTEM")
	}
	files, err := rooms.ParseAttachments(req.Attachments, a.opts.Attachments)
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	if len(files) > 0 && typ != rooms.Talk && typ != rooms.System {
		return errorf(http.StatusBadRequest, "only TALK and SYSTEM messages carry attachments")
	}
	// ENTER and LEAVE may come without text, as clients send them; a
	// message with attachments may too
	text, err := a.pushText(req.Message, typ == rooms.Enter || typ == rooms.Leave || len(files) > 0)
	if err != nil {
		return err
	}
	sender, err := pushSender(req.Sender)
	if err != nil {
		return err
	}
	msg := roomPush{
		ID:          a.opts.NewID(),
		RoomID:      room.ID,
		Type:        typ,
		Sender:      sender,
		Message:     text,
		SentAt:      a.opts.Now().UTC(),
		Attachments: files,
	}
	if a.opts.Confirm != nil {
		if err := a.store(r.Context(), msg); err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, pushAccepted{ID: msg.ID})
		return nil
	}
	if err := a.opts.Store.Open(r.Context(), room.ID); err != nil {
		if errors.Is(err, rooms.ErrNotFound) {
			return errRoomNotFound
		}
		a.opts.Logger.Warn("httpapi: room not opened for a push", "room", room.ID, "err", err)
		return errorf(http.StatusServiceUnavailable, "the room could not be readied for messages")
	}
	if err := a.publish(r.Context(), rooms.Topic(room.ID), msg); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, pushAccepted{ID: msg.ID})
	return nil
}

// store publishes msg through the Confirmer and waits until it is seen
// stored: 503 not_stored when it was not in time, 404 when the room went
// away meanwhile. A client that gives up first gets nothing; the
// confirmation goes on.
func (a *api) store(ctx context.Context, msg roomPush) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("httpapi: encode push: %w", err)
	}
	err = a.opts.Confirm.Store(ctx, msg.RoomID, msg.ID, body)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, rooms.ErrNotFound):
		return errRoomNotFound
	case errors.Is(err, confirm.ErrBusy):
		return &httpError{status: http.StatusServiceUnavailable, code: CodeBusy, key: "rooms.confirm.max_pending",
			msg: fmt.Sprintf("too many room messages wait to be stored on this server: message %s was not sent; send it again shortly", msg.ID)}
	case ctx.Err() != nil:
		// the client left: nobody reads this answer
		return errorf(http.StatusServiceUnavailable, "the request ended before message %s was seen stored", msg.ID)
	}
	a.opts.Logger.Warn("httpapi: push not seen stored", "room", msg.RoomID, "id", msg.ID, "err", err)
	return &httpError{status: http.StatusServiceUnavailable, code: CodeNotStored, key: "rooms.confirm.timeout",
		msg: fmt.Sprintf("message %s was not seen stored in room %s within %s: it may be lost, or still appear", msg.ID, msg.RoomID, a.opts.Confirm.Timeout())}
}

// CodeNotStored is the error code of a room push that was not seen stored
// in time.
const CodeNotStored = "not_stored"

// CodeBusy is the error code of a room push refused because too many room
// messages wait to be seen stored (rooms.confirm.max_pending).
const CodeBusy = "busy"

// pushToUser handles POST /api/users/{name}/messages with the API key:
// body {"message","sender" (default "system")}. It delivers a
// chat.DirectMessage to every session of the user subscribed to
// /user/queue/messages, on every replica, and answers 202 once the broker
// has accepted it. The sender is not a session, so nothing is echoed.
func (a *api) pushToUser(w http.ResponseWriter, r *http.Request) error {
	if err := a.requireKey(r); err != nil {
		return err
	}
	to := r.PathValue("name")
	if !chat.ValidUserName(to) {
		return errorf(http.StatusBadRequest, "user name must be 1 to 64 letters, digits or ._@+~-")
	}
	var req pushRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	text, err := a.pushText(req.Message, false)
	if err != nil {
		return err
	}
	sender, err := pushSender(req.Sender)
	if err != nil {
		return err
	}
	msg := chat.DirectMessage{
		ID:      a.opts.NewID(),
		From:    sender,
		To:      to,
		Message: text,
		SentAt:  a.opts.Now().UTC(),
	}
	if err := a.publish(r.Context(), destination.UserTopic(to, chat.DMQueue), msg); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, pushAccepted{ID: msg.ID})
	return nil
}

// pushText validates a pushed message's text: present, within
// MaxMessageBytes, and not blank unless blankOK.
func (a *api) pushText(message *string, blankOK bool) (string, error) {
	if message == nil && !blankOK {
		return "", errorf(http.StatusBadRequest, "message is required")
	}
	var text string
	if message != nil {
		text = *message
	}
	if len(text) > a.opts.MaxMessageBytes {
		return "", errorf(http.StatusBadRequest, "message is longer than %d bytes", a.opts.MaxMessageBytes)
	}
	if !blankOK && strings.TrimSpace(text) == "" {
		return "", errorf(http.StatusBadRequest, "message needs text")
	}
	return text, nil
}

// pushSender returns the sender a push names, "system" when none; it must
// look like a user name.
func pushSender(sender *string) (string, error) {
	if sender == nil || *sender == "" {
		return defaultPushSender, nil
	}
	if !chat.ValidUserName(*sender) {
		return "", errorf(http.StatusBadRequest, "sender must be 1 to 64 letters, digits or ._@+~-")
	}
	return *sender, nil
}

// publish sends msg as JSON to dest and waits until the broker accepts it,
// the request is cancelled, or PublishTimeout passes. A broker refusal
// answers 503; no verdict in time answers 504 (the message may still be
// delivered later).
func (a *api) publish(ctx context.Context, dest string, msg any) error {
	if a.opts.Publisher == nil {
		return errorf(http.StatusServiceUnavailable, "server push is unavailable")
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("httpapi: encode push: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, a.opts.PublishTimeout)
	defer cancel()
	// Buffered and never blocking: the publisher may call back from any
	// goroutine, before or after Publish returns, and we may have left.
	accepted := make(chan error, 1)
	onAccepted := func(err error) {
		select {
		case accepted <- err:
		default:
		}
	}
	headers := stomp.Headers{{Key: "content-type", Value: "application/json"}}
	if err := a.opts.Publisher.Publish(dest, headers, body, onAccepted); err != nil {
		a.opts.Logger.Warn("httpapi: push refused", "destination", dest, "err", err)
		return errorf(http.StatusServiceUnavailable, "the broker did not accept the message")
	}
	select {
	case err := <-accepted:
		if err != nil {
			a.opts.Logger.Warn("httpapi: push not accepted", "destination", dest, "err", err)
			return errorf(http.StatusServiceUnavailable, "the broker did not accept the message")
		}
		return nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			a.opts.Logger.Warn("httpapi: push not confirmed in time", "destination", dest)
		}
		return errorf(http.StatusGatewayTimeout, "the broker did not confirm the message in time")
	}
}
