package wire

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
)

// frameHeader is the size of a frame's length prefix.
const frameHeader = 4

// readChunk bounds what ReadFrame allocates ahead of the bytes that have
// actually arrived: a peer that claims a large frame and stalls costs this
// much, not the claim.
const readChunk = 64 << 10

// keepBuffer is the largest buffer a Writer or WriteFrame keeps for reuse;
// a larger one, grown for one big frame, is dropped after use so that idle
// connections do not pin megabytes each.
const keepBuffer = 64 << 10

// ReadFrame reads one frame from r and returns its body.
//
// max caps the body's length (max <= 0 means DefaultMaxFrame); the length is
// checked before anything is allocated, and a longer claim returns an error
// wrapping ErrFrameTooLarge that gives the claimed size. A zero length
// returns an error wrapping ErrMarshalling. After either error the stream is
// out of step and the connection must be closed.
//
// The body is read into buf when cap(buf) is large enough, so a caller that
// passes back the previous result reads without allocating; the returned
// slice is then only valid until the next call with the same buf. When buf
// is too small ReadFrame allocates as the bytes arrive, in steps that double
// from 64 KiB, so a claim that is never delivered costs little.
//
// It returns io.EOF, unwrapped, if r ends cleanly before a frame starts, an
// error wrapping io.ErrUnexpectedEOF if r ends inside a frame, and r's own
// error otherwise.
func ReadFrame(r *bufio.Reader, max int, buf []byte) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	hdr, err := r.Peek(frameHeader)
	if err != nil {
		if err == io.EOF {
			if len(hdr) == 0 {
				return nil, io.EOF
			}
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("wire: reading frame header (%d of %d bytes): %w", len(hdr), frameHeader, err)
	}
	n := uint64(binary.BigEndian.Uint32(hdr))
	_, _ = r.Discard(frameHeader) // cannot fail: the bytes are buffered
	if n == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrMarshalling)
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes claimed, limit %d", ErrFrameTooLarge, n, max)
	}
	size := int(n)
	if cap(buf) >= size || size <= readChunk {
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if got, err := io.ReadFull(r, buf); err != nil {
			return nil, truncated(got, size, err)
		}
		return buf, nil
	}
	// A large frame into a small buffer: grow as the bytes arrive.
	if cap(buf) < readChunk {
		buf = make([]byte, 0, readChunk)
	}
	buf = buf[:0]
	for len(buf) < size {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*cap(buf), size))
			copy(grown, buf)
			buf = grown
		}
		got, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+got]
		if err != nil {
			return nil, truncated(len(buf), size, err)
		}
	}
	return buf, nil
}

func truncated(got, size int, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("wire: frame truncated after %d of %d body bytes: %w", got, size, err)
}

// framePool holds the buffers WriteFrame joins a header and a body in.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// WriteFrame writes body to w as one frame (length prefix and body) in a
// single Write call. A body over 64 KiB is not copied: header and body go out
// in one writev on a TCP connection, in two Writes on other writers. It does
// not allocate for bodies up to 64 KiB. It returns an error wrapping
// ErrMarshalling for an empty body or one over 4 GiB, or w's error.
func WriteFrame(w io.Writer, body []byte) error {
	if err := checkBody(len(body), 0); err != nil {
		return err
	}
	if len(body)+frameHeader > keepBuffer {
		hdr := make([]byte, frameHeader)
		binary.BigEndian.PutUint32(hdr, uint32(len(body)))
		bufs := net.Buffers{hdr, body}
		_, err := bufs.WriteTo(w)
		return err
	}
	p := framePool.Get().(*[]byte)
	b := binary.BigEndian.AppendUint32((*p)[:0], uint32(len(body)))
	b = append(b, body...)
	_, err := w.Write(b)
	*p = b[:0]
	framePool.Put(p)
	return err
}

// checkBody checks a body's length against the frame format and max (0: no
// cap but the format's).
func checkBody(n, max int) error {
	if n == 0 {
		return fmt.Errorf("%w: empty frame body", ErrMarshalling)
	}
	if uint64(n) > math.MaxUint32 {
		return fmt.Errorf("%w: frame body of %d bytes exceeds the 4 GiB format limit", ErrMarshalling, n)
	}
	if max > 0 && n > max {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	return nil
}

// Writer batches frames in memory and sends them with one Write per Flush,
// so that a server answering many requests at once makes one syscall. The
// Write methods only append to the buffer; nothing reaches the underlying
// writer until Flush. A Writer is not safe for concurrent use.
type Writer struct {
	w   io.Writer
	max int
	buf []byte
}

// NewWriter returns a Writer that flushes to w and refuses bodies longer than
// maxFrame bytes (maxFrame <= 0: no cap but the format's 4 GiB), the
// receiver's ReadFrame limit, so that an oversized reply is an error here
// instead of a closed connection there.
func NewWriter(w io.Writer, maxFrame int) *Writer {
	return &Writer{w: w, max: maxFrame}
}

// Reset drops anything buffered and makes the Writer flush to w.
func (w *Writer) Reset(dst io.Writer) {
	w.w = dst
	w.buf = w.buf[:0]
}

// Buffered returns how many bytes are waiting for Flush.
func (w *Writer) Buffered() int { return len(w.buf) }

// WriteFrame buffers body as one frame. It returns an error wrapping
// ErrMarshalling for an empty body, or ErrFrameTooLarge for one over the
// Writer's cap, and then buffers nothing.
func (w *Writer) WriteFrame(body []byte) error {
	if err := checkBody(len(body), w.max); err != nil {
		return err
	}
	w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(len(body)))
	w.buf = append(w.buf, body...)
	return nil
}

// WriteRequest encodes req straight into the buffer as one frame. On error
// (see AppendRequest, and ErrFrameTooLarge over the cap) nothing is buffered.
func (w *Writer) WriteRequest(req *Request) error {
	at := w.start()
	b, err := AppendRequest(w.buf, req)
	return w.end(at, b, err)
}

// WriteResponse encodes resp straight into the buffer as one frame. On error
// (see AppendResponse, and ErrFrameTooLarge over the cap) nothing is
// buffered: the server can then send a shorter reply in its place.
func (w *Writer) WriteResponse(resp *Response) error {
	at := w.start()
	b, err := AppendResponse(w.buf, resp)
	return w.end(at, b, err)
}

// WriteConnectRequest encodes req straight into the buffer as one frame; see
// WriteRequest for errors.
func (w *Writer) WriteConnectRequest(req *ConnectRequest) error {
	at := w.start()
	b, err := AppendConnectRequest(w.buf, req)
	return w.end(at, b, err)
}

// WriteConnectResponse encodes resp straight into the buffer as one frame;
// see WriteRequest for errors.
func (w *Writer) WriteConnectResponse(resp *ConnectResponse) error {
	at := w.start()
	b, err := AppendConnectResponse(w.buf, resp)
	return w.end(at, b, err)
}

// start reserves a frame header and returns where it begins.
func (w *Writer) start() int {
	at := len(w.buf)
	w.buf = append(w.buf, 0, 0, 0, 0)
	return at
}

// end fills in the header reserved at at, or rolls the buffer back.
func (w *Writer) end(at int, b []byte, err error) error {
	if err == nil {
		err = checkBody(len(b)-at-frameHeader, w.max)
	}
	if err != nil {
		w.buf = b[:at]
		return err
	}
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-frameHeader))
	w.buf = b
	return nil
}

// Flush writes every buffered frame with one Write call and empties the
// buffer, whether or not the write succeeded: after an error the connection
// is broken and what was buffered is lost with it. It returns the
// underlying writer's error.
func (w *Writer) Flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.buf)
	if cap(w.buf) > keepBuffer {
		w.buf = nil
	} else {
		w.buf = w.buf[:0]
	}
	return err
}
