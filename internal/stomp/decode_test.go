package stomp

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// decodeAll feeds input in pieces of size chunk and returns every frame.
func decodeAll(t testing.TB, d *Decoder, input []byte, chunk int) ([]*Frame, error) {
	t.Helper()
	var frames []*Frame
	for len(input) > 0 {
		n := min(chunk, len(input))
		if err := d.Feed(input[:n]); err != nil {
			return frames, err
		}
		input = input[n:]
		for {
			f, err := d.Next()
			if err != nil {
				return frames, err
			}
			if f == nil {
				break
			}
			frames = append(frames, f)
		}
	}
	return frames, nil
}

func TestDecodeSplitAtEveryByte(t *testing.T) {
	body := []byte("bin\x00ary\nbody")
	in := New(SEND, "destination", "/app/chat.send", "receipt", "r1")
	in.Body = body
	stream := append([]byte("\n\r\n"), in.Encode(V12)...)
	stream = append(stream, '\n')
	stream = append(stream, New(DISCONNECT, "receipt", "bye").Encode(V12)...)
	for chunk := 1; chunk <= len(stream); chunk++ {
		frames, err := decodeAll(t, NewDecoder(Limits{}), stream, chunk)
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		if len(frames) != 2 {
			t.Fatalf("chunk %d: got %d frames", chunk, len(frames))
		}
		f := frames[0]
		if f.Command != SEND || f.Header("destination") != "/app/chat.send" || !bytes.Equal(f.Body, body) {
			t.Fatalf("chunk %d: bad frame %+v", chunk, f)
		}
		if frames[1].Command != DISCONNECT || frames[1].Header("receipt") != "bye" {
			t.Fatalf("chunk %d: bad second frame %+v", chunk, frames[1])
		}
	}
}

func TestDecodeWithoutContentLengthAndCRLF(t *testing.T) {
	stream := "SEND\r\ndestination:/topic/a\r\n\r\nhello\x00\r\n\r\nSUBSCRIBE\nid:1\ndestination:/topic/a\n\n\x00"
	frames, err := decodeAll(t, NewDecoder(Limits{}), []byte(stream), 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 2 || string(frames[0].Body) != "hello" || frames[0].Header("destination") != "/topic/a" {
		t.Fatalf("frames: %+v", frames)
	}
	if frames[1].Command != SUBSCRIBE || frames[1].Header("id") != "1" || frames[1].Body != nil {
		t.Fatalf("second: %+v", frames[1])
	}
}

// TestDecodeSkipsNULsBetweenFrames tolerates what RabbitMQ tolerates: NULs
// where a command would start, alone or mixed with EOLs, before the first
// frame and between frames, split at every byte.
func TestDecodeSkipsNULsBetweenFrames(t *testing.T) {
	connect := "CONNECT\naccept-version:1.2\nhost:/\n\n\x00"
	sub := "SUBSCRIBE\nid:0\ndestination:/topic/a\n\n\x00"
	send := "SEND\ndestination:/topic/a\ncontent-length:2\n\nhi\x00"
	tests := []struct {
		name, in string
		want     []string // commands
	}{
		{"NUL NUL after a frame", connect + "\x00", []string{CONNECT}},
		{"NUL NUL between frames", connect + "\x00" + sub + "\x00", []string{CONNECT, SUBSCRIBE}},
		{"NUL EOL between frames", connect + "\x00\n" + sub + "\x00\n\x00" + send, []string{CONNECT, SUBSCRIBE, SEND}},
		{"NUL CRLF between frames", sub + "\x00\r\n\x00\r\n" + send, []string{SUBSCRIBE, SEND}},
		{"NULs before the first CONNECT", "\x00\x00\n\x00" + connect, []string{CONNECT}},
		{"only NULs", strings.Repeat("\x00", 100), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for chunk := 1; chunk <= len(tt.in); chunk++ {
				d := NewDecoder(Limits{})
				frames, err := decodeAll(t, d, []byte(tt.in), chunk)
				if err != nil {
					t.Fatalf("chunk %d: %v", chunk, err)
				}
				var got []string
				for _, f := range frames {
					got = append(got, f.Command)
				}
				if strings.Join(got, ",") != strings.Join(tt.want, ",") {
					t.Fatalf("chunk %d: frames %v, want %v", chunk, got, tt.want)
				}
				if d.Buffered() != 0 {
					t.Fatalf("chunk %d: %d bytes held after the last frame", chunk, d.Buffered())
				}
				if tt.want != nil && frames[len(frames)-1].Command == SEND && string(frames[len(frames)-1].Body) != "hi" {
					t.Fatalf("chunk %d: SEND body %q", chunk, frames[len(frames)-1].Body)
				}
			}
		})
	}
}

// TestDecodeNULsHoldNoMemory feeds a megabyte of NULs in pieces: the
// decoder keeps nothing of them, as with heart-beat EOLs.
func TestDecodeNULsHoldNoMemory(t *testing.T) {
	d := NewDecoder(Limits{MaxFrameBytes: 4096})
	nuls := make([]byte, 1000)
	for range 1000 {
		if err := d.Feed(nuls); err != nil {
			t.Fatal(err)
		}
		if f, err := d.Next(); f != nil || err != nil {
			t.Fatalf("frame %v, err %v from NULs", f, err)
		}
		if d.Buffered() != 0 {
			t.Fatalf("decoder holds %d bytes of NULs", d.Buffered())
		}
	}
}

func TestEscapingPerVersion(t *testing.T) {
	value := "a:b\nc\\d"
	tests := []struct {
		v    Version
		wire string
	}{
		{V12, `k:a\cb\nc\\d`},
		{V11, `k:a\cb\nc\\d`},
		{V10, "k:a:b c\\d"},
	}
	for _, tt := range tests {
		f := New(MESSAGE, "k", value)
		got := string(f.Encode(tt.v))
		if !strings.Contains(got, tt.wire+"\n") {
			t.Errorf("%v: encoded %q, want line %q", tt.v, got, tt.wire)
		}
		d := NewDecoder(Limits{})
		d.SetVersion(tt.v)
		frames, err := decodeAll(t, d, []byte(got), 1<<20)
		if err != nil || len(frames) != 1 {
			t.Fatalf("%v: %v %v", tt.v, frames, err)
		}
		want := value
		if tt.v == V10 {
			want = "a:b c\\d"
		}
		if h := frames[0].Header("k"); h != want {
			t.Errorf("%v: decoded %q, want %q", tt.v, h, want)
		}
	}
	// CONNECT is never unescaped, even under 1.2.
	d := NewDecoder(Limits{})
	frames, err := decodeAll(t, d, []byte("CONNECT\nlogin:a\\b\n\n\x00"), 100)
	if err != nil || frames[0].Header("login") != `a\b` {
		t.Fatalf("CONNECT escaping: %v %v", frames, err)
	}
	// \r is an escape only in 1.2.
	for _, v := range []Version{V11, V12} {
		d := NewDecoder(Limits{})
		d.SetVersion(v)
		_, err := decodeAll(t, d, []byte("SEND\nk:\\r\n\n\x00"), 100)
		if (err == nil) != (v == V12) {
			t.Errorf("%v: \\r escape gave %v", v, err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	small := Limits{MaxFrameBytes: 1024, MaxHeaders: 3, MaxHeaderBytes: 256}
	tests := []struct {
		name, in, want string
	}{
		{"bad escape", "SEND\nk:\\x\n\n\x00", "escape"},
		{"no colon", "SEND\nnocolon\n\n\x00", "colon"},
		{"lower-case command", "send\n\n\x00", "command"},
		{"binary junk", "\x01\x02\x03\n\n\x00", "command"},
		{"too many headers", "SEND\na:1\nb:2\nc:3\nd:4\n\n\x00", "more than 3 headers"},
		{"long header line", "SEND\nk:" + strings.Repeat("x", 300), "headers exceed"},
		{"huge content-length", "SEND\ncontent-length:9223372036854775807\n\n", "exceeds"},
		{"negative content-length", "SEND\ncontent-length:-1\n\n", "content-length"},
		{"content-length overflow", "SEND\ncontent-length:99999999999999999999\n\n", "content-length"},
		{"missing NUL", "SEND\ncontent-length:1\n\nab", "NUL"},
		{"body too long", "SEND\n\n" + strings.Repeat("x", 2000), "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(small)
			_, err := decodeAll(t, d, []byte(tt.in), 7)
			var se *Error
			if !errors.As(err, &se) || !strings.Contains(se.Reason, tt.want) {
				t.Fatalf("got %v, want error containing %q", err, tt.want)
			}
			if d.Buffered() != 0 {
				t.Fatalf("dead decoder still holds %d bytes", d.Buffered())
			}
			if _, again := d.Next(); again != err {
				t.Fatalf("decoder not dead after error: %v", again)
			}
		})
	}
}

func TestDecoderMemoryStaysBounded(t *testing.T) {
	d := NewDecoder(Limits{MaxFrameBytes: 4096})
	junk := bytes.Repeat([]byte("A"), 1000)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = d.Feed(junk)
		if err == nil {
			_, err = d.Next()
		}
		if d.Buffered() > 4096+len(junk) {
			t.Fatalf("decoder holds %d bytes", d.Buffered())
		}
	}
	if err == nil {
		t.Fatal("100 KB of junk without a frame end was accepted")
	}
}

// TestDecoderRelease: Release drops the buffer once every frame is
// consumed, and keeps a partial frame, which later input completes.
func TestDecoderRelease(t *testing.T) {
	d := NewDecoder(Limits{})
	if err := d.Feed([]byte("SEND\ndestination:/a\n\nhi\x00SEND\ndesti")); err != nil {
		t.Fatal(err)
	}
	if f, err := d.Next(); err != nil || f == nil || string(f.Body) != "hi" {
		t.Fatalf("first frame: %v %v", f, err)
	}
	if f, err := d.Next(); err != nil || f != nil {
		t.Fatalf("partial frame: %v %v", f, err)
	}
	d.Release()
	if d.buf == nil || d.Buffered() == 0 {
		t.Fatalf("Release dropped a partial frame (%d bytes buffered)", d.Buffered())
	}
	if err := d.Feed([]byte("nation:/b\n\nho\x00\n")); err != nil {
		t.Fatal(err)
	}
	if f, err := d.Next(); err != nil || f == nil || string(f.Body) != "ho" || f.Header("destination") != "/b" {
		t.Fatalf("second frame: %v %v", f, err)
	}
	if f, err := d.Next(); err != nil || f != nil {
		t.Fatalf("after the second frame: %v %v", f, err)
	}
	d.Release()
	if d.buf != nil {
		t.Fatalf("Release kept %d bytes of buffer with nothing unconsumed", cap(d.buf))
	}
	if err := d.Feed([]byte("SEND\ndestination:/c\n\n\x00")); err != nil {
		t.Fatal(err)
	}
	if f, err := d.Next(); err != nil || f == nil || f.Header("destination") != "/c" {
		t.Fatalf("frame after Release: %v %v", f, err)
	}
}

func TestHeadersSetDel(t *testing.T) {
	h := Headers{{"a", "1"}, {"b", "2"}, {"a", "3"}}
	h = h.Set("a", "x")
	if len(h) != 2 || h.Value("a") != "x" || h.Value("b") != "2" {
		t.Fatalf("Set: %v", h)
	}
	h = h.Del("a")
	if _, ok := h.Get("a"); ok || len(h) != 1 {
		t.Fatalf("Del: %v", h)
	}
}

func TestEncodeOwnsContentLength(t *testing.T) {
	f := New(MESSAGE, "content-length", "999", "content-length", "1")
	f.Body = []byte("abc")
	got := string(f.Encode(V12))
	if strings.Count(got, "content-length") != 1 || !strings.Contains(got, "content-length:3\n") {
		t.Fatalf("encoded %q", got)
	}
}

func BenchmarkDecode(b *testing.B) {
	f := New(MESSAGE, "destination", "/topic/room.1", "subscription", "sub-0", "message-id", "T_1@@session@@1")
	f.Body = bytes.Repeat([]byte("x"), 200)
	wire := f.Encode(V12)
	d := NewDecoder(Limits{})
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for i := 0; i < b.N; i++ {
		_ = d.Feed(wire)
		if fr, err := d.Next(); err != nil || fr == nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	f := New(MESSAGE, "destination", "/topic/room.1", "subscription", "sub-0", "message-id", "T_1@@session@@1")
	f.Body = bytes.Repeat([]byte("x"), 200)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = f.Append(buf[:0], V12)
	}
}

// TestDecodeFrameLimitBoundary: MaxFrameBytes counts the whole frame with
// its NUL, with or without content-length; a content-length that cannot
// fit is refused from the headers, before the body arrives.
func TestDecodeFrameLimitBoundary(t *testing.T) {
	const limit = 1024
	frame := func(size int, withLength bool) string {
		head := "SEND\ndestination:/topic/a\n"
		if withLength {
			head += "content-length:0000\n" // placeholder of the final width
		}
		n := size - len(head) - len("\n") - len("\x00")
		if withLength {
			head = strings.Replace(head, "0000", fmt.Sprintf("%04d", n), 1)
		}
		return head + "\n" + strings.Repeat("x", n) + "\x00"
	}
	for _, withLength := range []bool{false, true} {
		for _, chunk := range []int{7, 1 << 20} {
			in := frame(limit, withLength)
			if len(in) != limit {
				t.Fatalf("test frame is %d bytes", len(in))
			}
			frames, err := decodeAll(t, NewDecoder(Limits{MaxFrameBytes: limit}), []byte(in), chunk)
			if err != nil || len(frames) != 1 {
				t.Fatalf("content-length %v, chunk %d: a %d-byte frame: %v", withLength, chunk, limit, err)
			}
			_, err = decodeAll(t, NewDecoder(Limits{MaxFrameBytes: limit}), []byte(frame(limit+1, withLength)), chunk)
			var se *Error
			if !errors.As(err, &se) || se.Limit != LimitFrameBytes {
				t.Fatalf("content-length %v, chunk %d: a %d-byte frame: got %v", withLength, chunk, limit+1, err)
			}
			if withLength && !strings.Contains(se.Reason, "content-length") {
				t.Fatalf("refused late: %q", se.Reason)
			}
		}
	}
}
