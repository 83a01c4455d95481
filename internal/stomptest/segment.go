package stomptest

import "encoding/binary"

// clientMask is the masking key of the messages MaskedMessage builds; any
// key will do, since the server unmasks with the key the frame carries.
var clientMask = [4]byte{0x1f, 0x2e, 0x3d, 0x4c}

// MaskedMessage returns payload as one binary WebSocket message in a
// single final frame, masked as a client must send it: the bytes a test
// writes to a TCP connection itself.
func MaskedMessage(payload []byte) []byte {
	b := make([]byte, 0, 14+len(payload))
	b = append(b, 0x82) // FIN, binary
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, clientMask[:]...)
	for i, c := range payload {
		b = append(b, c^clientMask[i%4])
	}
	return b
}

// Segment sends each payload as one binary WebSocket message, all in a
// single write to the TCP connection under the WebSocket, so that they
// reach the server together (one segment on loopback when small): the
// server finds the later messages already read when it is done with the
// first. Do not call it while another message is being sent.
func (c *Client) Segment(payloads ...string) error {
	var b []byte
	for _, p := range payloads {
		b = append(b, MaskedMessage([]byte(p))...)
	}
	_, err := c.ws.UnderlyingConn().Write(b)
	return err
}
