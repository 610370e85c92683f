package wire

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/zabkit/zabkit/tree"
)

// The encoders below write the msgpack map form that
// github.com/vmihailenco/msgpack/v5 produces for the message structs (same
// keys, same field order, same omitempty rules, integers in their smallest
// form as with Encoder.UseCompactInts), without reflection and without
// allocating when dst has room. A test checks that the bytes are identical to
// the library's, so either side may use either encoder.
//
// Every struct encoded here has at most 15 fields, so its map header is one
// fixmap byte written first and patched with the field count at the end. A
// test fails if a struct outgrows that.

// encoder appends msgpack to b and remembers the first error.
type encoder struct {
	b   []byte
	err error
}

// AppendRequest appends the msgpack body of req to dst and returns the
// extended slice. It does not allocate when dst has room. It fails, wrapping
// ErrMarshalling, only if a string, byte slice or list is longer than msgpack
// can describe (4 GiB).
func AppendRequest(dst []byte, req *Request) ([]byte, error) {
	e := encoder{b: dst}
	e.request(req)
	return e.result(dst, "request")
}

// AppendResponse appends the msgpack body of resp to dst and returns the
// extended slice; see AppendRequest for allocation and errors.
func AppendResponse(dst []byte, resp *Response) ([]byte, error) {
	e := encoder{b: dst}
	e.response(resp)
	return e.result(dst, "response")
}

// AppendConnectRequest appends the msgpack body of req to dst and returns
// the extended slice; see AppendRequest for allocation and errors.
func AppendConnectRequest(dst []byte, req *ConnectRequest) ([]byte, error) {
	e := encoder{b: dst}
	e.connectRequest(req)
	return e.result(dst, "connect request")
}

// AppendConnectResponse appends the msgpack body of resp to dst and returns
// the extended slice; see AppendRequest for allocation and errors.
func AppendConnectResponse(dst []byte, resp *ConnectResponse) ([]byte, error) {
	e := encoder{b: dst}
	e.connectResponse(resp)
	return e.result(dst, "connect response")
}

// result returns the encoded bytes, or dst unchanged and the error.
func (e *encoder) result(dst []byte, what string) ([]byte, error) {
	if e.err != nil {
		return dst, fmt.Errorf("%w: encoding %s: %w", ErrMarshalling, what, e.err)
	}
	return e.b, nil
}

func (e *encoder) request(r *Request) {
	at := e.mapStart()
	n := 0
	e.key("x")
	e.int(r.Xid)
	e.key("o")
	e.uint(uint64(r.Op))
	n += 2
	if r.Path != "" {
		e.key("p")
		e.str(r.Path)
		n++
	}
	if len(r.Data) != 0 {
		e.key("d")
		e.bin(r.Data)
		n++
	}
	if r.Version != 0 {
		e.key("v")
		e.int(int64(r.Version))
		n++
	}
	if r.Mode != 0 {
		e.key("m")
		e.uint(uint64(r.Mode))
		n++
	}
	if r.TTL != 0 {
		e.key("ttl")
		e.int(r.TTL)
		n++
	}
	if r.Watch {
		e.key("w")
		e.bool(true)
		n++
	}
	if r.WatchMode != 0 {
		e.key("wm")
		e.uint(uint64(r.WatchMode))
		n++
	}
	if r.WatchType != 0 {
		e.key("wt")
		e.uint(uint64(r.WatchType))
		n++
	}
	if r.After != "" {
		e.key("af")
		e.str(r.After)
		n++
	}
	if r.Max != 0 {
		e.key("mx")
		e.int(int64(r.Max))
		n++
	}
	if len(r.Ops) != 0 {
		e.key("ops")
		e.arrayLen(len(r.Ops))
		for i := range r.Ops {
			e.op(&r.Ops[i])
		}
		n++
	}
	if r.RelZxid != 0 {
		e.key("rz")
		e.int(int64(r.RelZxid))
		n++
	}
	if r.Watches != nil {
		e.key("ws")
		e.watchSet(r.Watches)
		n++
	}
	e.mapEnd(at, n)
}

func (e *encoder) op(o *tree.Op) {
	at := e.mapStart()
	n := 2
	e.key("t")
	e.uint(uint64(o.Type))
	e.key("p")
	e.str(o.Path)
	if len(o.Data) != 0 {
		e.key("d")
		e.bin(o.Data)
		n++
	}
	if o.Version != 0 {
		e.key("v")
		e.int(int64(o.Version))
		n++
	}
	if o.Mode != 0 {
		e.key("m")
		e.uint(uint64(o.Mode))
		n++
	}
	if o.TTL != 0 {
		e.key("ttl")
		e.int(o.TTL)
		n++
	}
	e.mapEnd(at, n)
}

func (e *encoder) watchSet(w *WatchSet) {
	at := e.mapStart()
	n := 0
	lists := [...]struct {
		k string
		v []string
	}{{"d", w.Data}, {"e", w.Exist}, {"c", w.Child}, {"p", w.Persistent}, {"r", w.PersistentRecursive}}
	for _, l := range lists {
		if len(l.v) != 0 {
			e.key(l.k)
			e.strs(l.v)
			n++
		}
	}
	e.mapEnd(at, n)
}

func (e *encoder) response(r *Response) {
	at := e.mapStart()
	n := 2
	e.key("x")
	e.int(r.Xid)
	e.key("z")
	e.int(int64(r.Zxid))
	if r.Code != 0 {
		e.key("c")
		e.int(int64(r.Code))
		n++
	}
	if r.Message != "" {
		e.key("msg")
		e.str(r.Message)
		n++
	}
	if r.Path != "" {
		e.key("p")
		e.str(r.Path)
		n++
	}
	if len(r.Data) != 0 {
		e.key("d")
		e.bin(r.Data)
		n++
	}
	if r.Stat != nil {
		e.key("s")
		e.stat(r.Stat)
		n++
	}
	if len(r.Children) != 0 {
		e.key("ch")
		e.strs(r.Children)
		n++
	}
	if r.More {
		e.key("mo")
		e.bool(true)
		n++
	}
	if r.Count != 0 {
		e.key("n")
		e.int(r.Count)
		n++
	}
	if len(r.Results) != 0 {
		e.key("r")
		e.arrayLen(len(r.Results))
		for i := range r.Results {
			e.opResult(&r.Results[i])
		}
		n++
	}
	if r.Event != nil {
		e.key("e")
		e.event(r.Event)
		n++
	}
	e.mapEnd(at, n)
}

func (e *encoder) opResult(r *OpResult) {
	at := e.mapStart()
	n := 2
	e.key("t")
	e.uint(uint64(r.Type))
	e.key("c")
	e.int(int64(r.Code))
	if r.Path != "" {
		e.key("p")
		e.str(r.Path)
		n++
	}
	if r.Stat != nil {
		e.key("s")
		e.stat(r.Stat)
		n++
	}
	e.mapEnd(at, n)
}

func (e *encoder) stat(s *tree.Stat) {
	e.b = append(e.b, 0x80|11)
	e.key("cz")
	e.int(int64(s.Czxid))
	e.key("mz")
	e.int(int64(s.Mzxid))
	e.key("pz")
	e.int(int64(s.Pzxid))
	e.key("ct")
	e.int(s.Ctime)
	e.key("mt")
	e.int(s.Mtime)
	e.key("v")
	e.int(int64(s.Version))
	e.key("cv")
	e.int(int64(s.Cversion))
	e.key("av")
	e.int(int64(s.Aversion))
	e.key("eo")
	e.int(int64(s.EphemeralOwner))
	e.key("dl")
	e.int(int64(s.DataLength))
	e.key("nc")
	e.int(int64(s.NumChildren))
}

func (e *encoder) event(ev *tree.Event) {
	e.b = append(e.b, 0x80|3)
	e.key("t")
	e.uint(uint64(ev.Type))
	e.key("p")
	e.str(ev.Path)
	e.key("z")
	e.int(int64(ev.Zxid))
}

func (e *encoder) connectRequest(r *ConnectRequest) {
	n := 5
	if r.Admin != "" {
		n++
	}
	e.b = append(e.b, 0x80|byte(n))
	e.key("pv")
	e.int(int64(r.ProtocolVersion))
	e.key("lz")
	e.int(int64(r.LastZxidSeen))
	e.key("to")
	e.int(int64(r.Timeout))
	e.key("s")
	e.int(int64(r.SessionID))
	e.key("pw")
	e.binOrNil(r.Password)
	if r.Admin != "" {
		e.key("adm")
		e.str(r.Admin)
	}
}

func (e *encoder) connectResponse(r *ConnectResponse) {
	at := e.mapStart()
	n := 8
	e.key("c")
	e.int(int64(r.Code))
	if r.Message != "" {
		e.key("msg")
		e.str(r.Message)
		n++
	}
	e.key("pv")
	e.int(int64(r.ProtocolVersion))
	e.key("to")
	e.int(int64(r.Timeout))
	e.key("s")
	e.int(int64(r.SessionID))
	e.key("pw")
	e.binOrNil(r.Password)
	e.key("sid")
	e.uint(uint64(r.ServerID))
	e.key("lz")
	e.int(int64(r.LastZxid))
	e.key("mf")
	e.int(int64(r.MaxFrame))
	if len(r.Status) != 0 {
		e.key("st")
		e.bin(r.Status)
		n++
	}
	e.mapEnd(at, n)
}

// mapStart writes a fixmap header to be patched by mapEnd.
func (e *encoder) mapStart() int {
	e.b = append(e.b, 0x80)
	return len(e.b) - 1
}

func (e *encoder) mapEnd(at, n int) { e.b[at] = 0x80 | byte(n) }

// key writes a short constant key (a fixstr: every key is under 32 bytes).
func (e *encoder) key(k string) {
	e.b = append(e.b, 0xa0|byte(len(k)))
	e.b = append(e.b, k...)
}

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 0xc3)
	} else {
		e.b = append(e.b, 0xc2)
	}
}

// uint writes v in its smallest msgpack form.
func (e *encoder) uint(v uint64) {
	switch {
	case v <= math.MaxInt8:
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

// int writes v in its smallest msgpack form.
func (e *encoder) int(v int64) {
	switch {
	case v >= 0:
		e.uint(uint64(v))
	case v >= -32:
		e.b = append(e.b, byte(v))
	case v >= math.MinInt8:
		e.b = append(e.b, 0xd0, byte(v))
	case v >= math.MinInt16:
		e.b = append(e.b, 0xd1, byte(v>>8), byte(v))
	case v >= math.MinInt32:
		e.b = append(e.b, 0xd2)
		e.b = binary.BigEndian.AppendUint32(e.b, uint32(v))
	default:
		e.b = append(e.b, 0xd3)
		e.b = binary.BigEndian.AppendUint64(e.b, uint64(v))
	}
}

// tooLong records an error for a length msgpack cannot describe.
func (e *encoder) tooLong(n int) bool {
	if uint64(n) > math.MaxUint32 {
		if e.err == nil {
			e.err = fmt.Errorf("length %d exceeds msgpack's 32-bit limit", n)
		}
		return true
	}
	return false
}

func (e *encoder) str(s string) {
	n := len(s)
	if e.tooLong(n) {
		return
	}
	switch {
	case n < 32:
		e.b = append(e.b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		e.b = append(e.b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		e.b = append(e.b, 0xda, byte(n>>8), byte(n))
	default:
		e.b = append(e.b, 0xdb)
		e.b = binary.BigEndian.AppendUint32(e.b, uint32(n))
	}
	e.b = append(e.b, s...)
}

func (e *encoder) bin(v []byte) {
	n := len(v)
	if e.tooLong(n) {
		return
	}
	switch {
	case n <= math.MaxUint8:
		e.b = append(e.b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		e.b = append(e.b, 0xc5, byte(n>>8), byte(n))
	default:
		e.b = append(e.b, 0xc6)
		e.b = binary.BigEndian.AppendUint32(e.b, uint32(n))
	}
	e.b = append(e.b, v...)
}

// binOrNil writes nil for a nil slice (a field without omitempty).
func (e *encoder) binOrNil(v []byte) {
	if v == nil {
		e.b = append(e.b, 0xc0)
		return
	}
	e.bin(v)
}

func (e *encoder) arrayLen(n int) {
	if e.tooLong(n) {
		return
	}
	switch {
	case n < 16:
		e.b = append(e.b, 0x90|byte(n))
	case n <= math.MaxUint16:
		e.b = append(e.b, 0xdc, byte(n>>8), byte(n))
	default:
		e.b = append(e.b, 0xdd)
		e.b = binary.BigEndian.AppendUint32(e.b, uint32(n))
	}
}

func (e *encoder) strs(v []string) {
	e.arrayLen(len(v))
	for _, s := range v {
		e.str(s)
	}
}
