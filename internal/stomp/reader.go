package stomp

import "io"

// Reader reads successive frames from an io.Reader through a Decoder: it
// is the read loop of every stream client (Feed what Read returns, Next
// until nil, Read again). Heart-beat EOLs and stray NULs between frames
// are skipped, as the Decoder skips them. A Reader is not safe for
// concurrent use; the Decoder stays the caller's (SetVersion, Buffered).
type Reader struct {
	src io.Reader
	dec *Decoder
	buf []byte
}

// NewReader returns a Reader that reads src in pieces of at most len(buf)
// bytes into buf, which it owns from now on, and decodes them with dec.
// Frames dec already holds come first.
func NewReader(src io.Reader, dec *Decoder, buf []byte) *Reader {
	return &Reader{src: src, dec: dec, buf: buf}
}

// Next returns the next frame. It reads src until the decoder has one. A
// read error is returned once the bytes read with it have been fed, before
// any frame they complete; a decoding error is returned as the Decoder's,
// for good.
func (r *Reader) Next() (*Frame, error) {
	for {
		f, err := r.dec.Next()
		if err != nil || f != nil {
			return f, err
		}
		n, err := r.src.Read(r.buf)
		if n > 0 {
			if ferr := r.dec.Feed(r.buf[:n]); ferr != nil {
				return nil, ferr
			}
		}
		if err != nil {
			return nil, err
		}
	}
}
