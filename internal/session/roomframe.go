package session

import (
	"strconv"
	"sync"
	"unicode/utf8"

	"chatrelay/internal/rooms"
	"chatrelay/internal/stomp"
)

// A room's feed hands each message to every local subscriber in turn.
// Their MESSAGE frames differ only in the subscription header, so the
// rest is encoded once: a head ("MESSAGE", destination) and a tail
// (message-id, x-offset, content-type, content-length, body, NUL) shared
// by every copy, around the subscriber's own subscription line. The bytes
// are exactly those stomp.Frame.Encode writes for the whole frame.

// roomFrameSlots is how many recently encoded room messages are kept:
// one per slot, a slot chosen by destination, version and offset.
// Consecutive offsets of one destination take consecutive slots, so a
// join storm's replays of up to roomFrameSlots messages (x-history)
// encode each message once for all the joiners, not once per joiner.
const roomFrameSlots = 128

// roomFrames is the process-wide cache of encoded room messages. It holds
// at most roomFrameSlots messages; a slot taken by another room or
// version costs an encoding, never a wrong frame, since every field that
// decides the bytes is compared.
var roomFrames frameCache

// frameCache is a small direct-mapped cache of encoded room messages.
type frameCache struct {
	slots [roomFrameSlots]frameSlot
}

// frameSlot is one cached encoding and what it was encoded from.
type frameSlot struct {
	mu      sync.Mutex
	display string
	version stomp.Version
	id      string
	offset  int64
	body    *byte // the body's first byte: the feed shares one slice
	n       int
	// head and tail are never modified once built: queued frames
	// share them; text says both are valid UTF-8
	head, tail []byte
	text       bool
}

// parts returns the shared head and tail of room message m with body
// (not empty) for subscribers of destination display under version v,
// and whether both are valid UTF-8.
func (c *frameCache) parts(display string, v stomp.Version, m *rooms.Message, body []byte) (head, tail []byte, text bool) {
	sl := &c.slots[slotOf(display, v, m.Offset)]
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.head != nil && sl.offset == m.Offset && sl.n == len(body) && sl.body == &body[0] &&
		sl.version == v && sl.id == m.ID && sl.display == display {
		return sl.head, sl.tail, sl.text
	}
	head = make([]byte, 0, len(stomp.MESSAGE)+len(display)+16)
	head = append(head, stomp.MESSAGE...)
	head = append(head, '\n')
	head = stomp.AppendHeader(head, stomp.MESSAGE, v, "destination", display)
	tail = make([]byte, 0, len(m.ID)+len(body)+96)
	tail = stomp.AppendHeader(tail, stomp.MESSAGE, v, "message-id", m.ID)
	var num [20]byte
	tail = stomp.AppendHeader(tail, stomp.MESSAGE, v, "x-offset", string(strconv.AppendInt(num[:0], m.Offset, 10)))
	tail = stomp.AppendHeader(tail, stomp.MESSAGE, v, "content-type", "application/json")
	tail = stomp.AppendBody(tail, body)
	sl.display, sl.version, sl.id, sl.offset, sl.body, sl.n = display, v, m.ID, m.Offset, &body[0], len(body)
	sl.head, sl.tail = head, tail
	sl.text = utf8.Valid(head) && utf8.Valid(tail)
	return head, tail, sl.text
}

// slotOf picks the slot of a message at offset for a destination and
// version: the destination's and version's hash (FNV-1a) plus the offset,
// so that a destination's consecutive messages share no slot.
func slotOf(display string, v stomp.Version, offset int64) int {
	h := uint32(2166136261)
	for i := 0; i < len(display); i++ {
		h ^= uint32(display[i])
		h *= 16777619
	}
	h ^= uint32(v)
	h *= 16777619
	return int((uint64(h) + uint64(offset)) % roomFrameSlots)
}

// subscriptionHeader is the encoded subscription line of a room
// subscription's MESSAGEs under v.
func subscriptionHeader(id string, v stomp.Version) []byte {
	return stomp.AppendHeader(nil, stomp.MESSAGE, v, "subscription", id)
}

// queueRoomMessage queues room message m with body (not empty) for sub.
func (s *Session) queueRoomMessage(sub *subscription, m *rooms.Message, body []byte) {
	head, tail, text := roomFrames.parts(sub.display, s.writeVersion(), m, body)
	text = text && !s.opts.BinaryFrames && utf8.Valid(sub.header)
	s.push(queued{head: head, mid: sub.header, tail: tail, command: stomp.MESSAGE, text: text})
}
