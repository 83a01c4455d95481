package stomp

import (
	"io"
	"sync"
)

// Reader reads successive frames from an io.Reader through a Decoder: it
// is the read loop of every stream client (Feed what Read returns, Next
// until nil, Read again). Heart-beat EOLs and stray NULs between frames
// are skipped, as the Decoder skips them. A Reader is not safe for
// concurrent use; the Decoder stays the caller's (SetVersion, Buffered).
//
// A message-based client (one io.Reader per WebSocket message) Resets the
// Reader to each message's reader when Next returns io.EOF; the Decoder
// carries a frame split across messages over.
type Reader struct {
	src  io.Reader
	dec  *Decoder
	buf  []byte
	pool *sync.Pool
}

// NewReader returns a Reader that reads src in pieces of at most len(buf)
// bytes into buf, which it owns from now on, and decodes them with dec.
// Frames dec already holds come first. A nil src reads as empty.
func NewReader(src io.Reader, dec *Decoder, buf []byte) *Reader {
	return &Reader{src: src, dec: dec, buf: buf}
}

// NewPooledReader is NewReader with a buffer borrowed from pool, whose
// values are *[]byte, for each Read and returned once its bytes are fed:
// a Reader waiting in neither Read nor Next holds no buffer.
func NewPooledReader(src io.Reader, dec *Decoder, pool *sync.Pool) *Reader {
	return &Reader{src: src, dec: dec, pool: pool}
}

// Reset makes the Reader read src from now on; the decoder keeps what it
// holds. A nil src reads as empty.
func (r *Reader) Reset(src io.Reader) { r.src = src }

// Next returns the next frame. It reads src until the decoder has one. A
// read error (io.EOF at the end of src) is returned once the bytes read
// with it have been fed, before any frame they complete; a decoding error
// is returned as the Decoder's, for good.
func (r *Reader) Next() (*Frame, error) {
	for {
		f, err := r.dec.Next()
		if err != nil || f != nil {
			return f, err
		}
		if r.src == nil {
			return nil, io.EOF
		}
		if err := r.read(); err != nil {
			return nil, err
		}
	}
}

// read feeds the decoder what one Read of src returns, in the Reader's
// buffer or one borrowed from its pool for the call.
func (r *Reader) read() error {
	buf := r.buf
	if r.pool != nil {
		bp := r.pool.Get().(*[]byte)
		defer r.pool.Put(bp)
		buf = *bp
	}
	n, err := r.src.Read(buf)
	if n > 0 {
		if ferr := r.dec.Feed(buf[:n]); ferr != nil {
			return ferr
		}
	}
	return err
}
