package stomp

import (
	"bytes"
	"fmt"
	"strconv"
)

// Limits bound what the decoder accepts. Every check happens before the
// memory for the offending part is allocated: a peer cannot make the
// decoder hold more than MaxFrameBytes plus one network read.
type Limits struct {
	// MaxFrameBytes bounds a whole frame: command, headers, body and the
	// NUL that ends it.
	MaxFrameBytes int
	// MaxHeaders bounds the number of header lines in one frame.
	MaxHeaders int
	// MaxHeaderBytes bounds the command line plus all header lines.
	MaxHeaderBytes int
}

// DefaultLimits are the limits used when a field of Limits is zero.
var DefaultLimits = Limits{MaxFrameBytes: 64 << 10, MaxHeaders: 100, MaxHeaderBytes: 16 << 10}

func (l Limits) withDefaults() Limits {
	if l.MaxFrameBytes <= 0 {
		l.MaxFrameBytes = DefaultLimits.MaxFrameBytes
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultLimits.MaxHeaders
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultLimits.MaxHeaderBytes
	}
	if l.MaxHeaderBytes > l.MaxFrameBytes {
		l.MaxHeaderBytes = l.MaxFrameBytes
	}
	return l
}

// Error is a fatal decoding error: the stream cannot be trusted after it.
type Error struct {
	// Reason is a short, client-safe description.
	Reason string
	// Limit names the Limits field the input exceeded (LimitFrameBytes,
	// LimitHeaders or LimitHeaderBytes); "" for malformed input.
	Limit string
}

// Names of the limits an Error may report as exceeded.
const (
	LimitFrameBytes  = "max_frame_bytes"
	LimitHeaders     = "max_headers"
	LimitHeaderBytes = "max_header_bytes"
)

func (e *Error) Error() string { return "stomp: " + e.Reason }

func errorf(format string, a ...any) *Error { return &Error{Reason: fmt.Sprintf(format, a...)} }

// overLimit is an Error for input that exceeds the named limit.
func overLimit(limit, format string, a ...any) *Error {
	return &Error{Reason: fmt.Sprintf(format, a...), Limit: limit}
}

// Decoder turns a byte stream that arrives in arbitrary pieces into frames.
// Feed it bytes, then call Next until it returns a nil frame. Heart-beat
// EOLs and stray NULs between frames are skipped. A Decoder is not safe
// for concurrent use.
type Decoder struct {
	limits  Limits
	version Version
	buf     []byte // unconsumed input; buf[start:] is live
	start   int
	// state of the frame being decoded; head is nil while in the header part
	head      *Frame
	bodyStart int   // offset of the body in buf, relative to start
	bodyLen   int64 // content-length, or -1
	scan      int   // where the next search for a terminator resumes, relative to start
	err       error
}

// NewDecoder returns a decoder with the given limits; zero fields take
// DefaultLimits. It decodes as STOMP 1.2 until SetVersion says otherwise.
func NewDecoder(l Limits) *Decoder {
	return &Decoder{limits: l.withDefaults(), version: V12, bodyLen: -1}
}

// SetVersion sets the version used to unescape header values.
func (d *Decoder) SetVersion(v Version) { d.version = v }

// Limits returns the limits in force.
func (d *Decoder) Limits() Limits { return d.limits }

// Buffered returns how many bytes are held waiting for the rest of a frame.
func (d *Decoder) Buffered() int { return len(d.buf) - d.start }

// Release drops the decoder's input buffer when it holds nothing
// unconsumed (no partial frame), so that an idle connection keeps none;
// the next Feed makes a new one.
func (d *Decoder) Release() {
	if d.err == nil && d.head == nil && d.start == len(d.buf) {
		d.buf, d.start, d.scan = nil, 0, 0
	}
}

// Feed appends p to the input. It fails once the pending, incomplete frame
// would exceed MaxFrameBytes.
func (d *Decoder) Feed(p []byte) error {
	if d.err != nil {
		return d.err
	}
	if d.start > 0 && d.start == len(d.buf) {
		d.buf, d.start = d.buf[:0], 0
	}
	// Next refuses an incomplete frame longer than the limit, so what is
	// held here is at most one limit plus the bytes of this call.
	if d.Buffered() > d.limits.MaxFrameBytes {
		return d.fail(overLimit(LimitFrameBytes, "frame exceeds %d bytes", d.limits.MaxFrameBytes))
	}
	if d.start > 0 && d.start > cap(d.buf)/2 {
		n := copy(d.buf, d.buf[d.start:])
		d.buf, d.start = d.buf[:n], 0
	}
	d.buf = append(d.buf, p...)
	return nil
}

func (d *Decoder) fail(err error) error {
	d.err = err
	d.buf, d.start, d.head = nil, 0, nil
	return err
}

// Next returns the next complete frame, or nil when more input is needed.
// After an error the decoder is dead and returns the same error forever.
func (d *Decoder) Next() (*Frame, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.head == nil {
		d.skipNoise()
		ok, err := d.parseHead()
		if err != nil || !ok {
			return nil, err
		}
	}
	return d.parseBody()
}

// skipNoise drops what stands between frames: heart-beat EOLs, and NULs
// from clients that end a frame with two of them or send "\x00\n" as a
// heart-beat. RabbitMQ's STOMP parser skips the same bytes (its grammar
// calls them noise: *(NUL | eol)). Skipped bytes are consumed at once, so
// an endless run of them holds no memory; the session bounds it as it
// bounds heart-beats.
func (d *Decoder) skipNoise() {
	for d.start < len(d.buf) {
		switch {
		case d.buf[d.start] == '\n', d.buf[d.start] == 0:
			d.start++
		case d.buf[d.start] == '\r' && d.start+1 < len(d.buf) && d.buf[d.start+1] == '\n':
			d.start += 2
		default:
			// a lone \r is left for parseHead to refuse
			return
		}
		d.scan = 0
	}
}

// parseHead parses the command and headers once the blank line that ends
// them has arrived.
func (d *Decoder) parseHead() (bool, error) {
	live := d.buf[d.start:]
	from := d.scan
	// the blank line may begin within the last two bytes already scanned
	if from -= 2; from < 0 {
		from = 0
	}
	end := -1
	for i := from; i < len(live); i++ {
		if live[i] != '\n' {
			continue
		}
		// a header part ends with "\n\n" or "\n\r\n"
		if i+1 < len(live) && live[i+1] == '\n' {
			end = i + 2
			break
		}
		if i+2 < len(live) && live[i+1] == '\r' && live[i+2] == '\n' {
			end = i + 3
			break
		}
	}
	if end < 0 {
		d.scan = len(live)
		if len(live) > d.limits.MaxHeaderBytes {
			return false, d.fail(overLimit(LimitHeaderBytes, "headers exceed %d bytes", d.limits.MaxHeaderBytes))
		}
		return false, nil
	}
	if end-1 > d.limits.MaxHeaderBytes {
		return false, d.fail(overLimit(LimitHeaderBytes, "headers exceed %d bytes", d.limits.MaxHeaderBytes))
	}
	f, err := d.parseLines(live[:end])
	if err != nil {
		return false, d.fail(err)
	}
	d.head = f
	d.bodyStart = end
	d.scan = end
	d.bodyLen = -1
	if v, ok := f.Headers.Get("content-length"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return false, d.fail(errorf("invalid content-length %q", v))
		}
		// the body and its NUL must fit: the limit parseBody applies
		if n > int64(d.limits.MaxFrameBytes-end-1) {
			return false, d.fail(overLimit(LimitFrameBytes, "frame exceeds %d bytes (content-length %d)", d.limits.MaxFrameBytes, n))
		}
		d.bodyLen = n
	}
	return true, nil
}

// parseLines parses a complete header part: command line, header lines,
// blank line.
func (d *Decoder) parseLines(b []byte) (*Frame, error) {
	f := &Frame{}
	first := true
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		line := b[:i]
		b = b[i+1:]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if first {
			if len(line) == 0 {
				return nil, errorf("empty command")
			}
			if !validCommand(line) {
				return nil, errorf("malformed command line")
			}
			f.Command = string(line)
			first = false
			continue
		}
		if len(line) == 0 {
			break
		}
		if len(f.Headers) >= d.limits.MaxHeaders {
			return nil, overLimit(LimitHeaders, "more than %d headers", d.limits.MaxHeaders)
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return nil, errorf("header line without a colon")
		}
		v := d.version
		if !escapes(v, f.Command) {
			v = V10
		}
		key, err := unescape(line[:colon], v)
		if err != nil {
			return nil, errorf("%v", err)
		}
		value, err := unescape(line[colon+1:], v)
		if err != nil {
			return nil, errorf("%v", err)
		}
		f.Headers = append(f.Headers, Header{key, value})
	}
	return f, nil
}

// validCommand accepts upper-case ASCII letters only, which covers every
// STOMP command and keeps binary junk out of error messages.
func validCommand(b []byte) bool {
	if len(b) > 32 {
		return false
	}
	for _, c := range b {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// parseBody completes the current frame once its body and NUL are in.
func (d *Decoder) parseBody() (*Frame, error) {
	live := d.buf[d.start:]
	var end int // index of the terminating NUL in live
	if d.bodyLen >= 0 {
		need := d.bodyStart + int(d.bodyLen)
		if len(live) <= need {
			return nil, nil
		}
		if live[need] != 0 {
			return nil, d.fail(errorf("frame not terminated by NUL after content-length"))
		}
		end = need
	} else {
		i := bytes.IndexByte(live[d.scan:], 0)
		if i < 0 {
			d.scan = len(live)
			if len(live) > d.limits.MaxFrameBytes {
				return nil, d.fail(overLimit(LimitFrameBytes, "frame exceeds %d bytes", d.limits.MaxFrameBytes))
			}
			return nil, nil
		}
		end = d.scan + i
	}
	if end+1 > d.limits.MaxFrameBytes {
		return nil, d.fail(overLimit(LimitFrameBytes, "frame exceeds %d bytes", d.limits.MaxFrameBytes))
	}
	f := d.head
	if n := end - d.bodyStart; n > 0 {
		f.Body = append(make([]byte, 0, n), live[d.bodyStart:end]...)
	}
	d.start += end + 1
	d.head, d.scan, d.bodyLen = nil, 0, -1
	return f, nil
}
