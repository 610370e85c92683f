package transport

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/zabkit/zabkit/internal/mpsafe"
)

// The handshake (see the package doc). Every handshake frame is a kind byte
// and a msgpack array:
//
//	hello   (listener) [version, cluster id str, server id, nonce bin16]
//	auth    (dialer)   [cluster id str, from, to, nonce bin16, mac bin32]
//	welcome (listener) [mac bin32]
//	refuse  (either)   reason str
//
// auth's mac is HMAC-SHA256(key, "zabkit-peer-v1" | listener nonce | from |
// to), welcome's is HMAC-SHA256(key, "zabkit-peer-v1-reply" | dialer nonce
// | to | from), ids as 8 bytes big-endian, key = SHA-256(cluster id | 0x00 |
// secret).
const (
	handshakeVersion  = 1
	handshakeMaxFrame = 4 << 10
	nonceSize         = 16
	macSize           = sha256.Size
	authLabel         = "zabkit-peer-v1"
	welcomeLabel      = "zabkit-peer-v1-reply"
	maxReason         = 200
)

type nonce = [nonceSize]byte

// handshaker holds what both sides of a handshake need.
type handshaker struct {
	clusterID string
	id        uint64
	key       [sha256.Size]byte
	member    func(id uint64) bool
}

func newHandshaker(clusterID, secret string, id uint64, member func(uint64) bool) *handshaker {
	return &handshaker{
		clusterID: clusterID,
		id:        id,
		key:       sha256.Sum256([]byte(clusterID + "\x00" + secret)),
		member:    member,
	}
}

func (h *handshaker) mac(label string, n *nonce, a, b uint64) [macSize]byte {
	m := hmac.New(sha256.New, h.key[:])
	var buf [len(welcomeLabel) + nonceSize + 16]byte
	p := append(buf[:0], label...)
	p = append(p, n[:]...)
	p = binary.BigEndian.AppendUint64(p, a)
	p = binary.BigEndian.AppendUint64(p, b)
	m.Write(p)
	var out [macSize]byte
	m.Sum(out[:0])
	return out
}

func refused(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrHandshake, fmt.Sprintf(format, args...))
}

// accept runs the listener's side on a new connection: it sends a hello
// with nonce ours, checks the dialer's auth and proves itself. It returns
// the dialer's authenticated server id, or an error wrapping ErrHandshake
// (after sending a refusal when the failure is the dialer's) or the
// connection's error.
func (h *handshaker) accept(r *bufio.Reader, w io.Writer, ours nonce) (uint64, error) {
	e := encoder{b: []byte{0, 0, 0, 0, kindHello}}
	e.arrayLen(4)
	e.uint(handshakeVersion)
	e.str(h.clusterID)
	e.uint(h.id)
	e.bin(ours[:])
	if err := sendFrame(w, e.b); err != nil {
		return 0, err
	}
	d, err := readHandshake(r, kindAuth)
	if err != nil {
		return 0, h.refuse(w, err)
	}
	var (
		cluster        []byte
		from, to       uint64
		theirs, theMAC []byte
	)
	err = d.fields(5, func(i int) (err error) {
		switch i {
		case 0:
			cluster, err = d.bytesOf(true)
		case 1:
			from, err = d.uint()
		case 2:
			to, err = d.uint()
		case 3:
			theirs, err = d.fixedBin(nonceSize)
		case 4:
			theMAC, err = d.fixedBin(macSize)
		}
		return err
	})
	switch {
	case err != nil:
		return 0, h.refuse(w, refused("malformed auth: %v", err))
	case string(cluster) != h.clusterID:
		return 0, h.refuse(w, refused("cluster id %q, want %q", cluster, h.clusterID))
	case from == h.id:
		return from, h.refuse(w, refused("dialer claims this member's id %d", from))
	case !h.member(from):
		return from, h.refuse(w, refused("dialer id %d is not a member", from))
	case to != h.id:
		return from, h.refuse(w, refused("dialer wants member %d, this is %d", to, h.id))
	}
	want := h.mac(authLabel, &ours, from, to)
	if !hmac.Equal(want[:], theMAC) {
		return from, h.refuse(w, refused("bad MAC from member %d (wrong secret)", from))
	}
	n := nonce(theirs)
	proof := h.mac(welcomeLabel, &n, to, from)
	e = encoder{b: []byte{0, 0, 0, 0, kindWelcome}}
	e.arrayLen(1)
	e.bin(proof[:])
	if err := sendFrame(w, e.b); err != nil {
		return from, err
	}
	return from, nil
}

// dial runs the dialer's side: it checks the listener's hello (cluster id,
// and that it is member to), answers with nonce ours and a MAC, and checks
// the listener's proof. It returns nil, or an error wrapping ErrHandshake
// (after sending a refusal when the failure is the listener's) or the
// connection's error.
func (h *handshaker) dial(r *bufio.Reader, w io.Writer, to uint64, ours nonce) error {
	d, err := readHandshake(r, kindHello)
	if err != nil {
		return h.refuse(w, err)
	}
	var (
		version, server uint64
		cluster, theirs []byte
	)
	err = d.fields(4, func(i int) (err error) {
		switch i {
		case 0:
			version, err = d.uint()
		case 1:
			cluster, err = d.bytesOf(true)
		case 2:
			server, err = d.uint()
		case 3:
			theirs, err = d.fixedBin(nonceSize)
		}
		return err
	})
	switch {
	case err != nil:
		return h.refuse(w, refused("malformed hello: %v", err))
	case version != handshakeVersion:
		return h.refuse(w, refused("handshake version %d, want %d", version, handshakeVersion))
	case string(cluster) != h.clusterID:
		return h.refuse(w, refused("cluster id %q, want %q", cluster, h.clusterID))
	case server != to:
		return h.refuse(w, refused("reached member %d, want %d", server, to))
	}
	n := nonce(theirs)
	mac := h.mac(authLabel, &n, h.id, to)
	e := encoder{b: []byte{0, 0, 0, 0, kindAuth}}
	e.arrayLen(5)
	e.str(h.clusterID)
	e.uint(h.id)
	e.uint(to)
	e.bin(ours[:])
	e.bin(mac[:])
	if err := sendFrame(w, e.b); err != nil {
		return err
	}
	if d, err = readHandshake(r, kindWelcome); err != nil {
		return h.refuse(w, err)
	}
	var proof []byte
	err = d.fields(1, func(int) (err error) {
		proof, err = d.fixedBin(macSize)
		return err
	})
	if err != nil {
		return h.refuse(w, refused("malformed welcome: %v", err))
	}
	want := h.mac(welcomeLabel, &ours, to, h.id)
	if !hmac.Equal(want[:], proof) {
		return h.refuse(w, refused("bad MAC from member %d (wrong secret)", to))
	}
	return nil
}

// refuse sends err's text as a refusal when err is the other side's fault
// (it wraps ErrHandshake and is not a refusal received), and returns err.
func (h *handshaker) refuse(w io.Writer, err error) error {
	if re := (*refusal)(nil); errors.As(err, &re) {
		return re.err
	}
	if !errors.Is(err, ErrHandshake) {
		return err
	}
	reason := err.Error()
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	e := encoder{b: []byte{0, 0, 0, 0, kindRefuse}}
	e.str(reason)
	_ = sendFrame(w, e.b) // best effort: the connection is closed next
	return err
}

// refusal is a refusal received from the other side: not answered.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// sendFrame patches the length of frame (a 4-byte placeholder and a body)
// and writes it in one Write.
func sendFrame(w io.Writer, frame []byte) error {
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-frameHeader))
	_, err := w.Write(frame)
	return err
}

// readHandshake reads one handshake frame and returns a decoder over its
// msgpack part, which mpsafe.Check has passed. A frame of another kind, a
// refusal (returned as a *refusal) or a malformed frame is an error wrapping
// ErrHandshake; a connection error is returned as is.
func readHandshake(r *bufio.Reader, kind byte) (*decoder, error) {
	body, _, err := readFrame(r, handshakeMaxFrame, nil)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrMalformed) {
			return nil, refused("reading frame: %v", err)
		}
		return nil, err
	}
	msg := body[1:]
	if err := mpsafe.Check(msg); err != nil {
		return nil, refused("malformed frame: %v", err)
	}
	d := &decoder{b: msg}
	switch body[0] {
	case kind:
		return d, nil
	case kindRefuse:
		reason, err := d.bytesOf(true)
		if err != nil {
			return nil, &refusal{refused("malformed refusal")}
		}
		return nil, &refusal{refused("refused by peer: %q", reason)}
	}
	return nil, refused("frame kind %d, want %d", body[0], kind)
}

// fields reads an array of exactly n values, calling f for each index.
func (d *decoder) fields(n int, f func(i int) error) error {
	got, err := d.arrayLen()
	if err != nil {
		return err
	}
	if got != n {
		return d.fail(fmt.Sprintf("%d fields, want %d", got, n))
	}
	for i := range n {
		if err := f(i); err != nil {
			return err
		}
	}
	if d.off != len(d.b) {
		return d.fail("trailing bytes")
	}
	return nil
}

// fixedBin reads a bin of exactly n bytes.
func (d *decoder) fixedBin(n int) ([]byte, error) {
	p, err := d.bytesOf(false)
	if err != nil {
		return nil, err
	}
	if len(p) != n {
		return nil, d.fail(fmt.Sprintf("%d bytes, want %d", len(p), n))
	}
	return p, nil
}
