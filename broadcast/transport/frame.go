package transport

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"time"

	"github.com/zabkit/zabkit/broadcast"
)

// Frame kinds: the first byte of every frame body.
const (
	kindMessage = 1 // a ZAB message (codec.go)
	kindApp     = 2 // an application payload, the rest of the body as is
	kindHello   = 3 // handshake: the listener's challenge
	kindAuth    = 4 // handshake: the dialer's answer
	kindWelcome = 5 // handshake: the listener's proof
	kindRefuse  = 6 // handshake: a refusal, the reason as a msgpack str
)

const (
	// frameHeader is the size of a frame's length prefix.
	frameHeader = 4
	// keepBuffer: a frame body up to this size is read into a buffer the
	// reader reuses; a longer one gets a buffer of its own, which the
	// decoded packet then owns.
	keepBuffer = 64 << 10
	// writeChunk: a write deadline covers at most this many bytes.
	writeChunk = 4 << 20
	// maxKeptItems: a queue backing array longer than this is dropped
	// rather than kept for reuse.
	maxKeptItems = 4096
	// flushBytes: a writer writes once this many bytes are encoded, so
	// its buffer stays small however long the queue is.
	flushBytes = 256 << 10
)

// readFrame reads one frame body of at most limit bytes from r. A body up to
// keepBuffer bytes is read into buf (grown to keepBuffer if needed) and is
// valid until the next call with the same buf; owned is false. A longer
// body is read into a new slice that grows as the bytes arrive, so a claim
// that is never delivered costs little; owned is true. The length is
// checked against limit before anything is allocated: a longer claim returns
// ErrFrameTooLarge, an empty frame ErrMalformed. It returns io.EOF,
// unwrapped, when r ends cleanly before a frame starts.
func readFrame(r *bufio.Reader, limit int, buf []byte) (body []byte, owned bool, err error) {
	var hdr [frameHeader]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return nil, false, io.EOF
		}
		return nil, false, fmt.Errorf("reading frame header (%d of %d bytes): %w", n, frameHeader, err)
	}
	n := uint64(binary.BigEndian.Uint32(hdr[:]))
	if n == 0 {
		return nil, false, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	if n > uint64(limit) {
		return nil, false, fmt.Errorf("%w: %d bytes announced, limit %d", ErrFrameTooLarge, n, limit)
	}
	size := int(n)
	if size <= keepBuffer {
		if cap(buf) < size {
			buf = make([]byte, size, max(size, min(2*cap(buf), keepBuffer)))
		}
		buf = buf[:size]
		if got, err := io.ReadFull(r, buf); err != nil {
			return nil, false, truncated(got, size, err)
		}
		return buf, false, nil
	}
	body = make([]byte, 0, 2*keepBuffer)
	for len(body) < size {
		if len(body) == cap(body) {
			grown := make([]byte, len(body), min(2*cap(body), size))
			copy(grown, body)
			body = grown
		}
		got, err := io.ReadFull(r, body[len(body):min(cap(body), size)])
		body = body[:len(body)+got]
		if err != nil {
			return nil, false, truncated(len(body), size, err)
		}
	}
	return body, true, nil
}

func truncated(got, size int, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("frame truncated after %d of %d body bytes: %w", got, size, err)
}

// batch accumulates frames for one write. Small data is copied into b;
// byte slices of extThreshold bytes or more are referenced from refs and
// written from where they lie (writev), so a snapshot is never copied.
type batch struct {
	b      []byte
	refs   []extRef
	frames int
}

// reset empties the batch, dropping references to written data and a
// buffer grown for a large batch.
func (w *batch) reset() {
	if cap(w.b) > 2*flushBytes {
		w.b = nil // grown for one large message
	}
	w.b = w.b[:0]
	clear(w.refs)
	w.refs = w.refs[:0]
	w.frames = 0
}

func (w *batch) empty() bool { return w.frames == 0 }

// addMessage appends m as one frame. It returns an error wrapping
// ErrFrameTooLarge, and adds nothing, if the frame body would exceed max.
func (w *batch) addMessage(m *broadcast.Message, max int) error {
	start, nrefs := len(w.b), len(w.refs)
	e := encoder{b: append(w.b, 0, 0, 0, 0, kindMessage), refs: &w.refs}
	e.message(m)
	return w.finish(start, nrefs, e.b, e.extBytes, e.err, max)
}

// addApp appends payload as one frame; errors as addMessage.
func (w *batch) addApp(payload []byte, max int) error {
	start, nrefs := len(w.b), len(w.refs)
	b := append(w.b, 0, 0, 0, 0, kindApp)
	ext := 0
	if len(payload) >= extThreshold {
		w.refs = append(w.refs, extRef{at: len(b), data: payload})
		ext = len(payload)
	} else {
		b = append(b, payload...)
	}
	return w.finish(start, nrefs, b, ext, nil, max)
}

// finish checks the frame started at start and patches its length, or
// rolls the batch back.
func (w *batch) finish(start, nrefs int, b []byte, ext int, err error, max int) error {
	size := uint64(len(b)-start-frameHeader) + uint64(ext)
	if err == nil && (size > uint64(max) || size > math.MaxUint32) {
		err = fmt.Errorf("%w: %d byte frame, limit %d", ErrFrameTooLarge, size, max)
	}
	if err != nil {
		clear(w.refs[nrefs:])
		w.refs = w.refs[:nrefs]
		w.b = b[:start]
		return err
	}
	binary.BigEndian.PutUint32(b[start:], uint32(size))
	w.b = b
	w.frames++
	return nil
}

// buffers returns the batch as slices to write in order, appended to
// bufs[:0].
func (w *batch) buffers(bufs net.Buffers) net.Buffers {
	bufs = bufs[:0]
	prev := 0
	for _, r := range w.refs {
		if r.at > prev {
			bufs = append(bufs, w.b[prev:r.at])
		}
		bufs = append(bufs, r.data)
		prev = r.at
	}
	if len(w.b) > prev {
		bufs = append(bufs, w.b[prev:])
	}
	return bufs
}

// writeBuffers writes bufs to c in chunks of at most writeChunk bytes, each
// with its own deadline of timeout, one writev per chunk: a batch of small
// frames is one syscall. group is scratch space; the returned slice is it,
// for reuse.
func writeBuffers(c net.Conn, bufs, group net.Buffers, timeout time.Duration) (net.Buffers, error) {
	for len(bufs) > 0 {
		group = group[:0]
		size := 0
		for len(bufs) > 0 && size < writeChunk {
			s := bufs[0]
			if take := writeChunk - size; len(s) > take {
				group = append(group, s[:take])
				bufs[0] = s[take:]
				size += take
				break
			}
			group = append(group, s)
			size += len(s)
			bufs = bufs[1:]
		}
		err := c.SetWriteDeadline(time.Now().Add(timeout))
		if err == nil {
			g := group // WriteTo consumes its receiver
			_, err = g.WriteTo(c)
		}
		if err != nil {
			clear(group)
			return group[:0], err
		}
	}
	clear(group)
	return group[:0], nil
}
