package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/zabkit/zabkit/internal/mpsafe"
	"github.com/zabkit/zabkit/tree"
)

// The decoders below read the msgpack map form of the message structs
// without reflection. Each first runs mpsafe.Check over the whole body, so
// no length claim can exceed the bytes present, nesting is bounded and there
// are no trailing bytes; the decoder itself still bounds-checks every read.
//
// They accept what github.com/vmihailenco/msgpack/v5 accepts for the same
// struct, minus its silent truncations: keys may come in any order, unknown
// keys are skipped (so fields can be added later), a later duplicate key
// wins, integers may use any width, nil reads as the zero value, str and bin
// are interchangeable. They reject, wrapping ErrMarshalling: a body that is
// not a map, a key that is not a string, a value of the wrong type, and an
// integer that does not fit its field (a negative OpCode, an int32 field
// holding 2^32). Everything decoded is copied out of body, so body may be
// reused at once.

// DecodeRequest decodes body into req, which it zeroes first. It returns nil
// or an error wrapping ErrMarshalling that names the bad field. It does not
// check that req.Op is a known op or that its fields make sense for it: that
// is the server's job (ErrUnimplemented, ErrBadArguments).
func DecodeRequest(body []byte, req *Request) error {
	*req = Request{}
	d, err := newDecoder(body, "request")
	if err != nil {
		return err
	}
	return d.request(req)
}

// DecodeResponse decodes body into resp, which it zeroes first. It returns
// nil or an error wrapping ErrMarshalling that names the bad field.
func DecodeResponse(body []byte, resp *Response) error {
	*resp = Response{}
	d, err := newDecoder(body, "response")
	if err != nil {
		return err
	}
	return d.response(resp)
}

// DecodeConnectRequest decodes body into req, which it zeroes first. It
// returns nil or an error wrapping ErrMarshalling that names the bad field.
// A Request sent in its place decodes with ProtocolVersion 0, which the
// server refuses with CodeBadProtocol.
func DecodeConnectRequest(body []byte, req *ConnectRequest) error {
	*req = ConnectRequest{}
	d, err := newDecoder(body, "connect request")
	if err != nil {
		return err
	}
	return d.connectRequest(req)
}

// DecodeConnectResponse decodes body into resp, which it zeroes first. It
// returns nil or an error wrapping ErrMarshalling that names the bad field.
func DecodeConnectResponse(body []byte, resp *ConnectResponse) error {
	*resp = ConnectResponse{}
	d, err := newDecoder(body, "connect response")
	if err != nil {
		return err
	}
	return d.connectResponse(resp)
}

type decoder struct {
	b    []byte
	off  int
	what string // the message kind, for errors
	// keys[:depth] are the keys being decoded, outermost first, aliasing
	// b: errors name the field without decoding paying for it.
	keys  [8][]byte
	depth int
}

func newDecoder(body []byte, what string) (decoder, error) {
	if err := mpsafe.Check(body); err != nil {
		return decoder{}, fmt.Errorf("%w: %s: %w", ErrMarshalling, what, err)
	}
	return decoder{b: body, what: what}, nil
}

func (d *decoder) fail(format string, args ...any) error {
	where := d.what
	for i := 0; i < d.depth && i < len(d.keys); i++ {
		if i == 0 {
			where += " field "
		} else {
			where += "."
		}
		where += string(d.keys[i])
	}
	return fmt.Errorf("%w: %s: %s at offset %d", ErrMarshalling, where, fmt.Sprintf(format, args...), d.off)
}

func (d *decoder) typeErr(want string, c byte) error {
	return d.fail("want %s, found msgpack type 0x%02x", want, c)
}

// next returns the type byte of the next value and moves past it.
func (d *decoder) next() (byte, error) {
	if d.off < len(d.b) {
		c := d.b[d.off]
		d.off++
		return c, nil
	}
	return 0, d.truncated()
}

func (d *decoder) truncated() error { return d.fail("truncated value") }

// take returns the next n bytes.
func (d *decoder) take(n uint64) ([]byte, error) {
	if n <= uint64(len(d.b)-d.off) {
		p := d.b[d.off : d.off+int(n)]
		d.off += int(n)
		return p, nil
	}
	return nil, d.short(n)
}

func (d *decoder) short(n uint64) error {
	return d.fail("length %d exceeds the %d bytes left", n, len(d.b)-d.off)
}

// size reads a big-endian length of w bytes.
func (d *decoder) size(w int) (uint64, error) {
	p, err := d.take(uint64(w))
	if err != nil {
		return 0, err
	}
	switch w {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), nil
	}
	return binary.BigEndian.Uint64(p), nil
}

// mapLen reads a map header; nil reads as -1.
func (d *decoder) mapLen() (int, error) {
	c, err := d.next()
	if err != nil {
		return 0, err
	}
	switch {
	case c >= 0x80 && c <= 0x8f:
		return int(c & 0x0f), nil
	case c == 0xc0:
		return -1, nil
	case c == 0xde:
		n, err := d.size(2)
		return int(n), err
	case c == 0xdf:
		n, err := d.size(4)
		return int(n), err
	}
	return 0, d.typeErr("a map", c)
}

// arrayLen reads an array header; nil reads as -1. Every element takes at
// least a byte, so a count above the bytes left is refused here too.
func (d *decoder) arrayLen() (int, error) {
	c, err := d.next()
	if err != nil {
		return 0, err
	}
	var n uint64
	switch {
	case c >= 0x90 && c <= 0x9f:
		n = uint64(c & 0x0f)
	case c == 0xc0:
		return -1, nil
	case c == 0xdc:
		n, err = d.size(2)
	case c == 0xdd:
		n, err = d.size(4)
	default:
		return 0, d.typeErr("an array", c)
	}
	if err != nil {
		return 0, err
	}
	if n > uint64(len(d.b)-d.off) {
		return 0, d.fail("array of %d elements in %d bytes", n, len(d.b)-d.off)
	}
	return int(n), nil
}

// raw reads a str or bin value and returns its bytes (aliasing the body);
// nil reads as ok == false.
func (d *decoder) raw() (p []byte, ok bool, err error) {
	if d.off < len(d.b) { // fixstr, as every key is
		if c := d.b[d.off]; c&0xe0 == 0xa0 {
			if end := d.off + 1 + int(c&0x1f); end <= len(d.b) {
				p = d.b[d.off+1 : end]
				d.off = end
				return p, true, nil
			}
		}
	}
	c, err := d.next()
	if err != nil {
		return nil, false, err
	}
	var n uint64
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n = uint64(c & 0x1f)
	case c == 0xc0:
		return nil, false, nil
	case c == 0xc4 || c == 0xd9:
		n, err = d.size(1)
	case c == 0xc5 || c == 0xda:
		n, err = d.size(2)
	case c == 0xc6 || c == 0xdb:
		n, err = d.size(4)
	default:
		return nil, false, d.typeErr("a string or bytes", c)
	}
	if err != nil {
		return nil, false, err
	}
	p, err = d.take(n)
	return p, true, err
}

func (d *decoder) str() (string, error) {
	p, _, err := d.raw()
	return string(p), err
}

// bytes returns a copy; nil stays nil, an empty value is an empty slice (as
// the msgpack library decodes it).
func (d *decoder) bytes() ([]byte, error) {
	p, ok, err := d.raw()
	if err != nil || !ok {
		return nil, err
	}
	return append(make([]byte, 0, len(p)), p...), nil
}

func (d *decoder) bool() (bool, error) {
	c, err := d.next()
	if err != nil {
		return false, err
	}
	switch c {
	case 0xc0, 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	}
	return false, d.typeErr("a bool", c)
}

// integer reads any msgpack integer. neg is set for a negative value, in
// which case the value is in s; otherwise it is in u.
func (d *decoder) integer() (u uint64, s int64, neg bool, err error) {
	c, err := d.next()
	if err != nil {
		return 0, 0, false, err
	}
	switch {
	case c <= 0x7f:
		return uint64(c), 0, false, nil
	case c >= 0xe0:
		return 0, int64(int8(c)), true, nil
	}
	switch c {
	case 0xc0:
		return 0, 0, false, nil
	case 0xcc, 0xcd, 0xce, 0xcf:
		u, err = d.size(1 << (c - 0xcc))
		return u, 0, false, err
	case 0xd0, 0xd1, 0xd2, 0xd3:
		w := 1 << (c - 0xd0)
		v, err := d.size(w)
		if err != nil {
			return 0, 0, false, err
		}
		switch w { // sign-extend
		case 1:
			s = int64(int8(v))
		case 2:
			s = int64(int16(v))
		case 4:
			s = int64(int32(v))
		default:
			s = int64(v)
		}
		if s >= 0 {
			return uint64(s), 0, false, nil
		}
		return 0, s, true, nil
	}
	return 0, 0, false, d.typeErr("an integer", c)
}

// int reads an integer that must lie in [lo, hi].
func (d *decoder) int(lo, hi int64) (int64, error) {
	if d.off < len(d.b) && d.b[d.off] <= 0x7f && int64(d.b[d.off]) <= hi { // positive fixint
		v := int64(d.b[d.off])
		d.off++
		return v, nil
	}
	u, s, neg, err := d.integer()
	if err != nil {
		return 0, err
	}
	if neg {
		if s < lo {
			return 0, d.fail("%d is out of range [%d, %d]", s, lo, hi)
		}
		return s, nil
	}
	if u > uint64(hi) {
		return 0, d.fail("%d is out of range [%d, %d]", u, lo, hi)
	}
	return int64(u), nil
}

// uint reads an unsigned integer no larger than hi.
func (d *decoder) uint(hi uint64) (uint64, error) {
	u, s, neg, err := d.integer()
	if err != nil {
		return 0, err
	}
	if neg {
		return 0, d.fail("%d is negative", s)
	}
	if u > hi {
		return 0, d.fail("%d is out of range [0, %d]", u, hi)
	}
	return u, nil
}

func (d *decoder) int64() (int64, error) { return d.int(math.MinInt64, math.MaxInt64) }
func (d *decoder) int32() (int32, error) {
	v, err := d.int(math.MinInt32, math.MaxInt32)
	return int32(v), err
}
func (d *decoder) uint8() (uint8, error) {
	v, err := d.uint(math.MaxUint8)
	return uint8(v), err
}

// skip moves past one value of any kind (an unknown field).
func (d *decoder) skip() error {
	n, err := mpsafe.CheckPrefix(d.b[d.off:], mpsafe.DefaultMaxDepth)
	if err != nil {
		return d.fail("%v", err)
	}
	d.off += n
	return nil
}

// record decodes a struct that must be present: like fields, but a nil
// map is an error.
func (d *decoder) record(field func(k []byte) (bool, error)) error {
	ok, err := d.fields(field)
	if err == nil && !ok {
		err = d.fail("nil instead of a map")
	}
	return err
}

// fields reads a map header and calls field for each key; field decodes the
// value and reports whether it knew the key. Unknown keys are skipped. A nil
// map calls nothing and reports false.
func (d *decoder) fields(field func(k []byte) (bool, error)) (present bool, err error) {
	n, err := d.mapLen()
	if err != nil || n < 0 {
		return false, err
	}
	level := d.depth
	d.depth++
	for i := 0; i < n; i++ {
		if level < len(d.keys) {
			d.keys[level] = nil
		}
		k, ok, err := d.raw()
		if err != nil {
			return false, err
		}
		if !ok {
			return false, d.fail("nil map key")
		}
		if level < len(d.keys) {
			d.keys[level] = k
		}
		known, err := field(k)
		if err != nil {
			return false, err
		}
		if !known {
			if err := d.skip(); err != nil {
				return false, err
			}
		}
	}
	d.depth = level
	return true, nil
}

func (d *decoder) request(r *Request) error {
	return d.record(func(k []byte) (bool, error) {
		var err error
		var v uint8
		switch string(k) {
		case "x":
			r.Xid, err = d.int64()
		case "o":
			v, err = d.uint8()
			r.Op = OpCode(v)
		case "p":
			r.Path, err = d.str()
		case "d":
			r.Data, err = d.bytes()
		case "v":
			r.Version, err = d.int32()
		case "m":
			v, err = d.uint8()
			r.Mode = tree.CreateMode(v)
		case "ttl":
			r.TTL, err = d.int64()
		case "w":
			r.Watch, err = d.bool()
		case "wm":
			v, err = d.uint8()
			r.WatchMode = WatchMode(v)
		case "wt":
			v, err = d.uint8()
			r.WatchType = WatchType(v)
		case "af":
			r.After, err = d.str()
		case "mx":
			r.Max, err = d.int32()
		case "ops":
			r.Ops, err = d.ops()
		case "rz":
			var z int64
			z, err = d.int64()
			r.RelZxid = tree.Zxid(z)
		case "ws":
			r.Watches, err = d.watchSet()
		default:
			return false, nil
		}
		return true, err
	})
}

func (d *decoder) ops() ([]tree.Op, error) {
	n, err := d.arrayLen()
	if err != nil || n < 0 {
		return nil, err
	}
	ops := make([]tree.Op, n)
	for i := range ops {
		o := &ops[i]
		_, err := d.fields(func(k []byte) (bool, error) {
			var err error
			switch string(k) {
			case "t":
				var v uint8
				v, err = d.uint8()
				o.Type = tree.OpType(v)
			case "p":
				o.Path, err = d.str()
			case "d":
				o.Data, err = d.bytes()
			case "v":
				o.Version, err = d.int32()
			case "m":
				var v uint8
				v, err = d.uint8()
				o.Mode = tree.CreateMode(v)
			case "ttl":
				o.TTL, err = d.int64()
			default:
				return false, nil
			}
			return true, err
		})
		if err != nil { // a nil element decodes as the zero Op, as the library does
			return nil, err
		}
	}
	return ops, nil
}

func (d *decoder) watchSet() (*WatchSet, error) {
	w := new(WatchSet)
	ok, err := d.fields(func(k []byte) (bool, error) {
		var err error
		switch string(k) {
		case "d":
			w.Data, err = d.strs()
		case "e":
			w.Exist, err = d.strs()
		case "c":
			w.Child, err = d.strs()
		case "p":
			w.Persistent, err = d.strs()
		case "r":
			w.PersistentRecursive, err = d.strs()
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil || !ok {
		return nil, err
	}
	return w, nil
}

// strs decodes a list of strings into one backing string: two allocations
// for the whole list however long it is (a page of 100,000 child names).
func (d *decoder) strs() ([]string, error) {
	n, err := d.arrayLen()
	if err != nil || n < 0 {
		return nil, err
	}
	start := d.off
	total := 0
	for i := 0; i < n; i++ {
		p, _, err := d.raw()
		if err != nil {
			return nil, err
		}
		total += len(p)
	}
	end := d.off
	var sb strings.Builder
	sb.Grow(total)
	d.off = start
	for i := 0; i < n; i++ {
		p, _, _ := d.raw() // checked by the first pass
		sb.Write(p)
	}
	all := sb.String()
	out := make([]string, n)
	at := 0
	d.off = start
	for i := range out {
		p, _, _ := d.raw()
		out[i] = all[at : at+len(p)]
		at += len(p)
	}
	d.off = end
	return out, nil
}

func (d *decoder) stat() (*tree.Stat, error) {
	s := new(tree.Stat)
	ok, err := d.fields(func(k []byte) (bool, error) {
		var err error
		var v int64
		switch string(k) {
		case "cz":
			v, err = d.int64()
			s.Czxid = tree.Zxid(v)
		case "mz":
			v, err = d.int64()
			s.Mzxid = tree.Zxid(v)
		case "pz":
			v, err = d.int64()
			s.Pzxid = tree.Zxid(v)
		case "ct":
			s.Ctime, err = d.int64()
		case "mt":
			s.Mtime, err = d.int64()
		case "v":
			s.Version, err = d.int32()
		case "cv":
			s.Cversion, err = d.int32()
		case "av":
			s.Aversion, err = d.int32()
		case "eo":
			v, err = d.int64()
			s.EphemeralOwner = tree.SessionID(v)
		case "dl":
			s.DataLength, err = d.int32()
		case "nc":
			s.NumChildren, err = d.int32()
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil || !ok {
		return nil, err
	}
	return s, nil
}

func (d *decoder) event() (*tree.Event, error) {
	ev := new(tree.Event)
	ok, err := d.fields(func(k []byte) (bool, error) {
		var err error
		switch string(k) {
		case "t":
			var v uint8
			v, err = d.uint8()
			ev.Type = tree.EventType(v)
		case "p":
			ev.Path, err = d.str()
		case "z":
			var v int64
			v, err = d.int64()
			ev.Zxid = tree.Zxid(v)
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil || !ok {
		return nil, err
	}
	return ev, nil
}

func (d *decoder) code() (Code, error) {
	v, err := d.int32()
	return Code(v), err
}

func (d *decoder) results() ([]OpResult, error) {
	n, err := d.arrayLen()
	if err != nil || n < 0 {
		return nil, err
	}
	rs := make([]OpResult, n)
	for i := range rs {
		r := &rs[i]
		_, err := d.fields(func(k []byte) (bool, error) {
			var err error
			switch string(k) {
			case "t":
				var v uint8
				v, err = d.uint8()
				r.Type = tree.OpType(v)
			case "c":
				r.Code, err = d.code()
			case "p":
				r.Path, err = d.str()
			case "s":
				r.Stat, err = d.stat()
			default:
				return false, nil
			}
			return true, err
		})
		if err != nil {
			return nil, err
		}
	}
	return rs, nil
}

func (d *decoder) response(r *Response) error {
	return d.record(func(k []byte) (bool, error) {
		var err error
		switch string(k) {
		case "x":
			r.Xid, err = d.int64()
		case "z":
			var v int64
			v, err = d.int64()
			r.Zxid = tree.Zxid(v)
		case "c":
			r.Code, err = d.code()
		case "msg":
			r.Message, err = d.str()
		case "p":
			r.Path, err = d.str()
		case "d":
			r.Data, err = d.bytes()
		case "s":
			r.Stat, err = d.stat()
		case "ch":
			r.Children, err = d.strs()
		case "mo":
			r.More, err = d.bool()
		case "n":
			r.Count, err = d.int64()
		case "r":
			r.Results, err = d.results()
		case "e":
			r.Event, err = d.event()
		default:
			return false, nil
		}
		return true, err
	})
}

func (d *decoder) connectRequest(r *ConnectRequest) error {
	return d.record(func(k []byte) (bool, error) {
		var err error
		var v int64
		switch string(k) {
		case "pv":
			r.ProtocolVersion, err = d.int32()
		case "lz":
			v, err = d.int64()
			r.LastZxidSeen = tree.Zxid(v)
		case "to":
			r.Timeout, err = d.int32()
		case "s":
			v, err = d.int64()
			r.SessionID = tree.SessionID(v)
		case "pw":
			r.Password, err = d.bytes()
		case "adm":
			r.Admin, err = d.str()
		default:
			return false, nil
		}
		return true, err
	})
}

func (d *decoder) connectResponse(r *ConnectResponse) error {
	return d.record(func(k []byte) (bool, error) {
		var err error
		var v int64
		switch string(k) {
		case "c":
			r.Code, err = d.code()
		case "msg":
			r.Message, err = d.str()
		case "pv":
			r.ProtocolVersion, err = d.int32()
		case "to":
			r.Timeout, err = d.int32()
		case "s":
			v, err = d.int64()
			r.SessionID = tree.SessionID(v)
		case "pw":
			r.Password, err = d.bytes()
		case "sid":
			var u uint64
			u, err = d.uint(math.MaxUint32)
			r.ServerID = uint32(u)
		case "lz":
			v, err = d.int64()
			r.LastZxid = tree.Zxid(v)
		case "mf":
			r.MaxFrame, err = d.int32()
		case "st":
			r.Status, err = d.bytes()
		default:
			return false, nil
		}
		return true, err
	})
}
