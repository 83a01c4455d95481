package stomp

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzDecoder feeds arbitrary bytes, split at an arbitrary point, and checks
// that the decoder never panics, never holds more than its limit plus one
// feed, and that every frame it returns survives an encode/decode round
// trip.
func FuzzDecoder(f *testing.F) {
	seeds := []string{
		"CONNECT\naccept-version:1.2\nhost:/\n\n\x00",
		"SEND\ndestination:/app/chat.send\ncontent-length:5\n\nhe\x00lo\x00\n\n",
		"SUBSCRIBE\nid:0\ndestination:/topic/a\\cb\n\n\x00SEND\ndestination:x\n\nbody\x00",
		"\r\n\n\r\nDISCONNECT\r\nreceipt:77\r\n\r\n\x00",
		"SEND\ncontent-length:9223372036854775807\n\n",
		"SEND\nk:\\r\\n\\c\\\\\n\n\x00",
		"MESSAGE\n\n\x00\x00\x00",
		"\x00\x00\nCONNECT\naccept-version:1.2\n\n\x00\x00",
		"SUBSCRIBE\nid:0\ndestination:/topic/a\n\n\x00\n\x00SEND\ndestination:/topic/a\n\nx\x00\x00\r\n",
		"\x00\r\x00SEND\n\n\x00",
	}
	for _, s := range seeds {
		f.Add([]byte(s), uint16(3), uint8(2))
	}
	limits := Limits{MaxFrameBytes: 4096, MaxHeaders: 20, MaxHeaderBytes: 1024}
	f.Fuzz(func(t *testing.T, data []byte, split uint16, ver uint8) {
		v := Version(ver % 3)
		d := NewDecoder(limits)
		d.SetVersion(v)
		cut := int(split) % (len(data) + 1)
		var frames []*Frame
		for _, part := range [][]byte{data[:cut], data[cut:]} {
			if err := d.Feed(part); err != nil {
				return
			}
			if d.Buffered() > limits.MaxFrameBytes+len(part) {
				t.Fatalf("holds %d bytes", d.Buffered())
			}
			for {
				fr, err := d.Next()
				if err != nil {
					return
				}
				if fr == nil {
					break
				}
				frames = append(frames, fr)
			}
		}
		for _, fr := range frames {
			if len(fr.Headers) > limits.MaxHeaders {
				t.Fatalf("%d headers", len(fr.Headers))
			}
			if v == V10 || !escapes(v, fr.Command) {
				continue // unescaped forms are lossy for \n; skip the round trip
			}
			d2 := NewDecoder(Limits{MaxFrameBytes: 1 << 20, MaxHeaders: 1000, MaxHeaderBytes: 1 << 20})
			d2.SetVersion(v)
			if err := d2.Feed(fr.Encode(v)); err != nil {
				t.Fatal(err)
			}
			back, err := d2.Next()
			if err != nil || back == nil {
				t.Fatalf("re-decode of %q: %v %v", fr.Encode(v), back, err)
			}
			if back.Command != fr.Command || !bytes.Equal(back.Body, fr.Body) {
				t.Fatalf("round trip changed frame: %+v -> %+v", fr, back)
			}
			for i, h := range fr.Headers {
				if h.Key == "content-length" {
					continue
				}
				if v == V11 {
					// 1.1 has no escape for CR: the encoder writes a
					// space rather than a bare CR that could end the line
					h = Header{strings.ReplaceAll(h.Key, "\r", " "), strings.ReplaceAll(h.Value, "\r", " ")}
				}
				if back.Headers[i] != h {
					t.Fatalf("header %d: %q -> %q", i, h, back.Headers[i])
				}
			}
		}
	})
}
