package transport

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/zabkit/zabkit/broadcast"
	"github.com/zabkit/zabkit/internal/mpsafe"
)

// A broadcast.Message is encoded as one msgpack array of messageFields
// values in this fixed order (every field always present, so nothing is
// ambiguous and the decoder needs no keys):
//
//	0  format version (codecVersion)
//	1  Type            uint
//	2  From            uint
//	3  To              uint
//	4  Vote.Leader     uint
//	5  Vote.Zxid       uint
//	6  Vote.Epoch      uint
//	7  Round           uint
//	8  State           uint
//	9  Session         uint
//	10 Epoch           uint
//	11 Counts          bool
//	12 Zxid            uint
//	13 Truncate        bool
//	14 Commit          uint
//	15 Epochs          nil, or array of uint
//	16 Entries         nil, or array of [Zxid uint, Data bin]
//	17 Snapshot        nil, or [Zxid uint, Data bin]
//
// Integers take their smallest msgpack form; a decoder accepts any unsigned
// width (and non-negative signed forms). An empty list is sent as nil and
// decodes as nil, as does empty Data. A new field means a new version: a
// peer rejects a version it does not know, and the connection is closed
// (ZAB's core then sees the peer as unreachable), so upgrade an ensemble
// with a version both sides read. TestEveryMessageFieldRoundTrips fails
// when broadcast.Message gains a field this codec does not carry.
const (
	codecVersion  = 1
	messageFields = 18
)

// extThreshold: a byte slice at least this long is not copied into the
// write buffer but written from where it lies (see batch).
const extThreshold = 64 << 10

// extRef is a byte slice to be written at offset at of an encoder's buffer.
type extRef struct {
	at   int
	data []byte
}

// encoder appends msgpack to b and remembers the first error. With refs
// set, long byte slices are recorded there instead of copied.
type encoder struct {
	b        []byte
	refs     *[]extRef
	extBytes int
	err      error
}

// AppendMessage appends the msgpack encoding of m (format above) to dst and
// returns the extended slice. It does not allocate when dst has room. It
// fails, returning dst unchanged and an error wrapping ErrFrameTooLarge,
// only if a byte slice or list is longer than msgpack can describe (4 GiB).
// It does not check Type or State: a receiver rejects unknown values.
func AppendMessage(dst []byte, m *broadcast.Message) ([]byte, error) {
	e := encoder{b: dst}
	e.message(m)
	if e.err != nil {
		return dst, e.err
	}
	return e.b, nil
}

func (e *encoder) message(m *broadcast.Message) {
	e.arrayLen(messageFields)
	e.uint(codecVersion)
	e.uint(uint64(m.Type))
	e.uint(m.From)
	e.uint(m.To)
	e.uint(m.Vote.Leader)
	e.uint(uint64(m.Vote.Zxid))
	e.uint(m.Vote.Epoch)
	e.uint(m.Round)
	e.uint(uint64(m.State))
	e.uint(m.Session)
	e.uint(m.Epoch)
	e.bool(m.Counts)
	e.uint(uint64(m.Zxid))
	e.bool(m.Truncate)
	e.uint(uint64(m.Commit))
	if len(m.Epochs) == 0 {
		e.nil()
	} else {
		e.arrayLen(len(m.Epochs))
		for _, z := range m.Epochs {
			e.uint(uint64(z))
		}
	}
	if len(m.Entries) == 0 {
		e.nil()
	} else {
		e.arrayLen(len(m.Entries))
		for i := range m.Entries {
			e.b = append(e.b, 0x92)
			e.uint(uint64(m.Entries[i].Zxid))
			e.bin(m.Entries[i].Data)
		}
	}
	if m.Snapshot == nil {
		e.nil()
	} else {
		e.b = append(e.b, 0x92)
		e.uint(uint64(m.Snapshot.Zxid))
		e.bin(m.Snapshot.Data)
	}
}

func (e *encoder) nil() { e.b = append(e.b, 0xc0) }

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 0xc3)
	} else {
		e.b = append(e.b, 0xc2)
	}
}

func (e *encoder) uint(v uint64) {
	switch {
	case v <= 0x7f:
		e.b = append(e.b, byte(v))
	case v <= math.MaxUint8:
		e.b = append(e.b, 0xcc, byte(v))
	case v <= math.MaxUint16:
		e.b = append(e.b, 0xcd, byte(v>>8), byte(v))
	case v <= math.MaxUint32:
		e.b = append(e.b, 0xce)
		e.b = binary.BigEndian.AppendUint32(e.b, uint32(v))
	default:
		e.b = append(e.b, 0xcf)
		e.b = binary.BigEndian.AppendUint64(e.b, v)
	}
}

func (e *encoder) arrayLen(n int) {
	switch {
	case n < 16:
		e.b = append(e.b, 0x90|byte(n))
	case n <= math.MaxUint16:
		e.b = append(e.b, 0xdc, byte(n>>8), byte(n))
	case uint64(n) <= math.MaxUint32:
		e.b = append(e.b, 0xdd)
		e.b = binary.BigEndian.AppendUint32(e.b, uint32(n))
	default:
		e.fail("list of %d elements", n)
	}
}

func (e *encoder) str(s string) {
	n := len(s)
	switch {
	case n < 32:
		e.b = append(e.b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		e.b = append(e.b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		e.b = append(e.b, 0xda, byte(n>>8), byte(n))
	default:
		e.fail("string of %d bytes", n)
		return
	}
	e.b = append(e.b, s...)
}

func (e *encoder) bin(p []byte) {
	n := len(p)
	switch {
	case n <= math.MaxUint8:
		e.b = append(e.b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		e.b = append(e.b, 0xc5, byte(n>>8), byte(n))
	case uint64(n) <= math.MaxUint32:
		e.b = append(e.b, 0xc6)
		e.b = binary.BigEndian.AppendUint32(e.b, uint32(n))
	default:
		e.fail("byte slice of %d bytes", n)
		return
	}
	if e.refs != nil && n >= extThreshold {
		*e.refs = append(*e.refs, extRef{at: len(e.b), data: p})
		e.extBytes += n
		return
	}
	e.b = append(e.b, p...)
}

func (e *encoder) fail(format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf("%w: %s exceeds the msgpack limit", ErrFrameTooLarge, fmt.Sprintf(format, args...))
	}
}

// DecodeMessage decodes body (the format above) into m, which it zeroes
// first. Nothing in m aliases body, so body may be reused at once. It
// allocates the Epochs and Entries slices and one buffer for all the data
// of Entries and Snapshot, nothing else.
//
// It returns nil or an error wrapping ErrMalformed: body fails mpsafe.Check
// (a length claim beyond the bytes present, deep nesting, trailing bytes),
// is not an array of the expected length, carries another format version,
// an unknown Type or State, or a value of the wrong msgpack type. It does not
// check that From or To make sense; the transport's reader does.
func DecodeMessage(body []byte, m *broadcast.Message) error {
	return decodeMessage(body, m, false)
}

// packetMessage is a decoded message and room for its Entries when it has
// one (a proposal): the reader allocates both at once.
type packetMessage struct {
	m   broadcast.Message
	one [1]broadcast.Entry
}

// decodePacket decodes body into a new Message as decodeMessage does, with
// one allocation for the Message and a single Entry (plus one for the data
// unless alias is set).
func decodePacket(body []byte, alias bool) (*broadcast.Message, error) {
	p := new(packetMessage)
	if err := decodeInto(body, &p.m, &p.one, alias); err != nil {
		return nil, err
	}
	return &p.m, nil
}

// decodeMessage is DecodeMessage; with alias set, Entries' and Snapshot's
// Data point into body instead of being copied (body was allocated for this
// frame alone and is handed over).
func decodeMessage(body []byte, m *broadcast.Message, alias bool) error {
	return decodeInto(body, m, nil, alias)
}

func decodeInto(body []byte, m *broadcast.Message, one *[1]broadcast.Entry, alias bool) error {
	*m = broadcast.Message{}
	if err := mpsafe.Check(body); err != nil {
		return fmt.Errorf("%w: message: %w", ErrMalformed, err)
	}
	d := decoder{b: body, one: one}
	if err := d.message(m); err != nil {
		*m = broadcast.Message{}
		return err
	}
	if d.off != len(body) {
		*m = broadcast.Message{}
		return d.fail("trailing bytes")
	}
	if !alias {
		detach(m)
	}
	return nil
}

// detach copies the data of m's Entries and Snapshot, which alias the
// frame, into one new buffer.
func detach(m *broadcast.Message) {
	total := 0
	for i := range m.Entries {
		total += len(m.Entries[i].Data)
	}
	if m.Snapshot != nil {
		total += len(m.Snapshot.Data)
	}
	if total == 0 {
		return
	}
	buf := make([]byte, total)
	off := 0
	cp := func(p []byte) []byte {
		if len(p) == 0 {
			return nil
		}
		n := copy(buf[off:], p)
		q := buf[off : off+n : off+n]
		off += n
		return q
	}
	for i := range m.Entries {
		m.Entries[i].Data = cp(m.Entries[i].Data)
	}
	if m.Snapshot != nil {
		m.Snapshot.Data = cp(m.Snapshot.Data)
	}
}

// decoder reads msgpack from b. Every read is bounds-checked; byte slices
// it returns alias b.
type decoder struct {
	b   []byte
	off int
	// one, if set, holds the Entries of a message that has exactly one,
	// instead of a new slice.
	one *[1]broadcast.Entry
}

func (d *decoder) fail(what string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrMalformed, what, d.off)
}

func (d *decoder) need(n int) error {
	if n < 0 || n > len(d.b)-d.off {
		return d.fail("truncated value")
	}
	return nil
}

func (d *decoder) be(n int) (uint64, error) {
	if err := d.need(n); err != nil {
		return 0, err
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	switch n {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), nil
	}
	return binary.BigEndian.Uint64(p), nil
}

func (d *decoder) typeByte() (byte, error) {
	if err := d.need(1); err != nil {
		return 0, err
	}
	c := d.b[d.off]
	d.off++
	return c, nil
}

// uint reads a non-negative integer of any msgpack width.
func (d *decoder) uint() (uint64, error) {
	c, err := d.typeByte()
	if err != nil {
		return 0, err
	}
	switch {
	case c <= 0x7f:
		return uint64(c), nil
	case c == 0xcc:
		return d.be(1)
	case c == 0xcd:
		return d.be(2)
	case c == 0xce:
		return d.be(4)
	case c == 0xcf:
		return d.be(8)
	case c >= 0xd0 && c <= 0xd3:
		v, err := d.be(1 << (c - 0xd0))
		if err != nil {
			return 0, err
		}
		shift := 64 - 8*(1<<(c-0xd0)) // sign-extend
		if int64(v<<shift)>>shift < 0 {
			return 0, d.fail("negative integer")
		}
		return v, nil
	}
	d.off--
	return 0, d.fail(fmt.Sprintf("want an unsigned integer, found type 0x%02x", c))
}

func (d *decoder) bool() (bool, error) {
	c, err := d.typeByte()
	if err != nil {
		return false, err
	}
	switch c {
	case 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	}
	d.off--
	return false, d.fail(fmt.Sprintf("want a bool, found type 0x%02x", c))
}

// arrayLen reads an array header; a nil reads as an empty array.
func (d *decoder) arrayLen() (int, error) {
	c, err := d.typeByte()
	if err != nil {
		return 0, err
	}
	var n uint64
	switch {
	case c >= 0x90 && c <= 0x9f:
		n = uint64(c & 0x0f)
	case c == 0xc0:
		return 0, nil
	case c == 0xdc:
		n, err = d.be(2)
	case c == 0xdd:
		n, err = d.be(4)
	default:
		d.off--
		return 0, d.fail(fmt.Sprintf("want an array, found type 0x%02x", c))
	}
	if err != nil {
		return 0, err
	}
	// Every element takes at least one byte: never trust a larger claim,
	// even if the body was not walked by mpsafe first.
	if n > uint64(len(d.b)-d.off) {
		return 0, d.fail("array longer than the bytes left")
	}
	return int(n), nil
}

// bytesOf reads a bin (or, with str set, a str) and returns it aliasing b.
func (d *decoder) bytesOf(str bool) ([]byte, error) {
	c, err := d.typeByte()
	if err != nil {
		return nil, err
	}
	var n uint64
	switch {
	case !str && c == 0xc4, str && c == 0xd9:
		n, err = d.be(1)
	case !str && c == 0xc5, str && c == 0xda:
		n, err = d.be(2)
	case !str && c == 0xc6, str && c == 0xdb:
		n, err = d.be(4)
	case str && c >= 0xa0 && c <= 0xbf:
		n = uint64(c & 0x1f)
	default:
		d.off--
		return nil, d.fail(fmt.Sprintf("want bin or str, found type 0x%02x", c))
	}
	if err != nil {
		return nil, err
	}
	if n > uint64(len(d.b)-d.off) {
		return nil, d.fail("byte string longer than the bytes left")
	}
	p := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return p, nil
}

func (d *decoder) message(m *broadcast.Message) error {
	n, err := d.arrayLen()
	if err != nil {
		return err
	}
	if n != messageFields {
		return d.fail(fmt.Sprintf("message of %d fields, want %d", n, messageFields))
	}
	var u [15]uint64 // fields 0..14, bools read as 0/1
	for i := range u {
		switch i {
		case 11, 13:
			var b bool
			b, err = d.bool()
			if b {
				u[i] = 1
			}
		default:
			u[i], err = d.uint()
		}
		if err != nil {
			return err
		}
	}
	if u[0] != codecVersion {
		return d.fail(fmt.Sprintf("format version %d, want %d", u[0], codecVersion))
	}
	// The String methods name every known value; anything they call
	// unknown is rejected, so a value added to broadcast is accepted
	// here as soon as it has a name.
	if u[1] > math.MaxUint8 || broadcast.MessageType(u[1]).String() == "Unknown" {
		return d.fail(fmt.Sprintf("unknown message type %d", u[1]))
	}
	if u[8] > math.MaxUint8 || broadcast.StateType(u[8]).String() == "unknown" {
		return d.fail(fmt.Sprintf("unknown peer state %d", u[8]))
	}
	m.Type = broadcast.MessageType(u[1])
	m.From = u[2]
	m.To = u[3]
	m.Vote = broadcast.Vote{Leader: u[4], Zxid: broadcast.Zxid(u[5]), Epoch: u[6]}
	m.Round = u[7]
	m.State = broadcast.StateType(u[8])
	m.Session = u[9]
	m.Epoch = u[10]
	m.Counts = u[11] == 1
	m.Zxid = broadcast.Zxid(u[12])
	m.Truncate = u[13] == 1
	m.Commit = broadcast.Zxid(u[14])

	if n, err = d.arrayLen(); err != nil {
		return err
	}
	if n > 0 {
		m.Epochs = make([]broadcast.Zxid, n)
		for i := range m.Epochs {
			z, err := d.uint()
			if err != nil {
				return err
			}
			m.Epochs[i] = broadcast.Zxid(z)
		}
	}
	if n, err = d.arrayLen(); err != nil {
		return err
	}
	if n == 1 && d.one != nil {
		m.Entries = d.one[:]
		if m.Entries[0], err = d.entry(); err != nil {
			return err
		}
	} else if n > 0 {
		m.Entries = make([]broadcast.Entry, n)
		for i := range m.Entries {
			if m.Entries[i], err = d.entry(); err != nil {
				return err
			}
		}
	}
	if d.off < len(d.b) && d.b[d.off] == 0xc0 {
		d.off++
	} else {
		e, err := d.entry()
		if err != nil {
			return err
		}
		m.Snapshot = &broadcast.Snapshot{Zxid: e.Zxid, Data: e.Data}
	}
	return nil
}

// entry reads [zxid, data] with data aliasing b (nil when empty).
func (d *decoder) entry() (broadcast.Entry, error) {
	n, err := d.arrayLen()
	if err != nil {
		return broadcast.Entry{}, err
	}
	if n != 2 {
		return broadcast.Entry{}, d.fail(fmt.Sprintf("entry of %d fields, want 2", n))
	}
	z, err := d.uint()
	if err != nil {
		return broadcast.Entry{}, err
	}
	data, err := d.bytesOf(false)
	if err != nil {
		return broadcast.Entry{}, err
	}
	if len(data) == 0 {
		data = nil
	}
	return broadcast.Entry{Zxid: broadcast.Zxid(z), Data: data}, nil
}
