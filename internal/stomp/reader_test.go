package stomp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"testing/iotest"
)

func TestReaderFrames(t *testing.T) {
	var in bytes.Buffer
	in.WriteString("\n\r\n")
	in.Write(New(CONNECTED, "version", "1.2").Encode(V12))
	in.WriteString("\n\n")
	in.Write(benchMessage().Encode(V12))
	in.WriteString("\n")
	r := NewReader(iotest.OneByteReader(&in), NewDecoder(Limits{}), make([]byte, 7))
	f, err := r.Next()
	if err != nil || f.Command != CONNECTED || f.Header("version") != "1.2" {
		t.Fatalf("first = %v, %v", f, err)
	}
	f, err = r.Next()
	if err != nil || f.Command != MESSAGE || !bytes.Equal(f.Body, benchBody) {
		t.Fatalf("second = %v, %v", f, err)
	}
	if f, err = r.Next(); f != nil || err != io.EOF {
		t.Fatalf("at the end = %v, %v; want nil, EOF", f, err)
	}
}

func TestReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(iotest.TimeoutReader(bytes.NewReader(New(SEND).Encode(V12))), NewDecoder(Limits{}), make([]byte, 2))
	if f, err := r.Next(); f != nil || err != iotest.ErrTimeout {
		t.Fatalf("read error = %v, %v", f, err)
	}
	r = NewReader(iotest.ErrReader(boom), NewDecoder(Limits{}), make([]byte, 16))
	if _, err := r.Next(); err != boom {
		t.Fatalf("err = %v, want boom", err)
	}
	r = NewReader(bytes.NewReader([]byte("\x01\x02\n\n\x00")), NewDecoder(Limits{}), make([]byte, 16))
	var se *Error
	if _, err := r.Next(); !errors.As(err, &se) {
		t.Fatalf("err = %v, want a decoding *Error", err)
	}
}

// loopReader repeats its data forever.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

// BenchmarkReaderRoomMessage reads room MESSAGEs from a stream through a
// Reader with a 16 KiB buffer: the read path of chatbench and the relay.
func BenchmarkReaderRoomMessage(b *testing.B) {
	msg := benchMessage().Encode(V12)
	var batch []byte
	for range 64 {
		batch = append(batch, msg...)
	}
	r := NewReader(&loopReader{data: batch}, NewDecoder(Limits{}), make([]byte, 16<<10))
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := r.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

// chunkReader reads its source through buffers of exactly size bytes,
// the pooled ones, and fails the test for any other.
type chunkReader struct {
	t    *testing.T
	src  io.Reader
	size int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) != c.size {
		c.t.Fatalf("read into %d bytes, want a pooled %d", len(p), c.size)
	}
	return c.src.Read(p)
}

func TestReaderResetAcrossMessages(t *testing.T) {
	wire := New(SEND, "destination", "/queue/a").Encode(V12)
	wire = append(wire, New(SEND, "destination", "/queue/b").Encode(V12)...)
	// four "messages": the first frame is split across the first two,
	// the second frame is the rest of the second and the third; the
	// fourth is a heart-beat
	cut1, cut2 := 7, len(wire)-4
	msgs := [][]byte{wire[:cut1], wire[cut1:cut2], wire[cut2:], []byte("\n")}
	pool := &sync.Pool{New: func() any { b := make([]byte, 5); return &b }}
	r := NewPooledReader(nil, NewDecoder(Limits{}), pool)
	if f, err := r.Next(); f != nil || err != io.EOF {
		t.Fatalf("nil source = %v, %v; want nil, EOF", f, err)
	}
	var got []string
	for i, m := range msgs {
		r.Reset(&chunkReader{t, bytes.NewReader(m), 5})
		for {
			f, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			got = append(got, fmt.Sprintf("%s@%d", f.Header("destination"), i))
		}
	}
	if want := []string{"/queue/a@1", "/queue/b@2"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("frames = %v, want %v", got, want)
	}
}
