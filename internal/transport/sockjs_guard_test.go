package transport

import (
	"encoding/binary"
	"testing"
)

// wsFrame encodes a masked client frame header followed by its payload.
func wsFrame(fin bool, opcode byte, payload []byte) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	var hdr []byte
	switch n := len(payload); {
	case n < 126:
		hdr = []byte{b0, 0x80 | byte(n)}
	case n <= 0xffff:
		hdr = []byte{b0, 0x80 | 126, 0, 0}
		binary.BigEndian.PutUint16(hdr[2:], uint16(n))
	default:
		hdr = make([]byte, 10)
		hdr[0], hdr[1] = b0, 0x80|127
		binary.BigEndian.PutUint64(hdr[2:], uint64(n))
	}
	hdr = append(hdr, 1, 2, 3, 4) // masking key; the scanner never unmasks
	return append(hdr, payload...)
}

// TestFrameScanner feeds the scanner byte by byte and in one piece:
// messages add up over continuation frames, control frames in between do
// not count, and every size encoding is read.
func TestFrameScanner(t *testing.T) {
	const limit = 300
	cases := []struct {
		name   string
		stream [][]byte
		over   bool
	}{
		{"small messages", [][]byte{wsFrame(true, 1, make([]byte, 200)), wsFrame(true, 2, make([]byte, 300))}, false},
		{"16-bit length", [][]byte{wsFrame(true, 1, make([]byte, 301))}, true},
		{"64-bit length", [][]byte{wsFrame(true, 2, make([]byte, 70000))}, true},
		{"fragments add up", [][]byte{wsFrame(false, 1, make([]byte, 150)), wsFrame(true, 9, []byte("ping")), wsFrame(false, 0, make([]byte, 150)), wsFrame(true, 0, []byte{1})}, true},
		{"fragments within", [][]byte{wsFrame(false, 1, make([]byte, 150)), wsFrame(true, 10, make([]byte, 125)), wsFrame(true, 0, make([]byte, 150))}, false},
		{"count restarts after FIN", [][]byte{wsFrame(true, 1, make([]byte, 250)), wsFrame(true, 1, make([]byte, 250))}, false},
	}
	for _, c := range cases {
		var all []byte
		for _, f := range c.stream {
			all = append(all, f...)
		}
		var whole, bytewise frameScanner
		if got := whole.feed(all, limit); got != c.over {
			t.Errorf("%s, in one piece: over %v, want %v", c.name, got, c.over)
		}
		got := false
		for i := range all {
			got = bytewise.feed(all[i:i+1], limit) || got
		}
		if got != c.over {
			t.Errorf("%s, byte by byte: over %v, want %v", c.name, got, c.over)
		}
	}
}

// TestCountMessages counts the messages of the frames sockjs-go writes.
func TestCountMessages(t *testing.T) {
	for in, want := range map[string]int{
		"o\n":                              0,
		"h\n":                              0,
		`c[3000,"Go away!"]` + "\n":        0,
		`a["one"]` + "\n":                  1,
		`a["a\"],[\\","b","c"]` + "\n":     3,
		"data: a[\"x%0Ay\",\"z\"]\r\n\r\n": 2,
		`a[]`:                              0,
	} {
		if got := countMessages([]byte(in)); got != want {
			t.Errorf("countMessages(%q) = %d, want %d", in, got, want)
		}
	}
}
