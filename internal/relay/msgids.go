package relay

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"

	"chatrelay/internal/stomp"
)

// Message ids. Clients never see the message-id or ack values the broker
// gives a delivery: RabbitMQ's "T_<subscription>@@session-<id>@@<tag>"
// names its internal session, the relay's upstream subscription and how
// many messages that subscription has had, and go-stomp's are a counter
// per connection. Every MESSAGE leaves the relay with a message-id of the
// relay's own, the same for every copy of one upstream delivery; a
// client-ack delivery carries the same value as its ack header, and the
// client's ACK or NACK, whether it names it as STOMP 1.2's id or as STOMP
// 1.1's message-id, is mapped back to the broker's id through the
// client's own ackLog. So an id that was not delivered to this client —
// another client's, a made-up one, one already settled — is found in no
// table and never reaches the broker.
//
// The broker also passes a SEND's receipt and transaction headers on to
// every MESSAGE it makes of it (RabbitMQ 3.10 does), and those are the
// relay's own upstream counters: they are dropped too, as is the "id"
// copy of its message-id go-stomp's server adds.
//
// The ids are an AES-128 encryption, under a key drawn at random when the
// relay is made, of the connection's index and a counter: they never
// repeat in the relay's life (AES is a permutation of distinct inputs),
// and neither the counter nor anything of the broker can be read from
// them, nor the next one predicted from those seen before.

// msgIDLen is the length of a message id: 16 bytes in unpadded base64url.
const msgIDLen = 22

// newIDCipher returns the relay's id cipher under a fresh random key.
func newIDCipher() cipher.Block {
	var key [16]byte
	rand.Read(key[:]) // never fails (it aborts the program instead)
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // a 16-byte key is always valid
	}
	return b
}

// idGen issues the message ids of one upstream connection. Guarded by
// the upConn's mutex; its buffers live in it, so an id costs a single
// allocation: the string.
type idGen struct {
	block   cipher.Block // shared by the relay's connections
	conn    uint64       // the connection's index: keeps connections' ids apart
	n       uint64
	in, out [aes.BlockSize]byte
	text    [msgIDLen]byte
}

// next returns a new id.
func (g *idGen) next() string {
	g.n++
	binary.BigEndian.PutUint64(g.in[:8], g.conn)
	binary.BigEndian.PutUint64(g.in[8:], g.n)
	g.block.Encrypt(g.out[:], g.in[:])
	base64.RawURLEncoding.Encode(g.text[:], g.out[:])
	return string(g.text[:])
}

// clientHeaders rewrites the headers of an upstream MESSAGE in place for
// clients: message-id becomes id, ack becomes id when ack is true and
// goes otherwise, receipt and transaction go, and so does an "id" header
// repeating the broker's message-id (go-stomp's server adds one). A
// MESSAGE without redelivered (go-stomp's, first deliveries) gets
// redelivered:false, as RabbitMQ marks every MESSAGE.
func clientHeaders(h stomp.Headers, id string, ack bool) stomp.Headers {
	upID, hasID := h.Get("message-id")
	_, marked := h.Get("redelivered")
	out := h[:0]
	seen := false
	for _, kv := range h {
		switch kv.Key {
		case "ack", "receipt", "transaction":
			continue
		case "id":
			if hasID && kv.Value == upID {
				continue
			}
		case "message-id":
			if seen {
				continue
			}
			seen = true
			kv.Value = id
		}
		out = append(out, kv)
	}
	if !hasID {
		out = append(out, stomp.Header{Key: "message-id", Value: id})
	}
	if !marked {
		out = append(out, stomp.Header{Key: "redelivered", Value: "false"})
	}
	if ack {
		out = append(out, stomp.Header{Key: "ack", Value: id})
	}
	return out
}
