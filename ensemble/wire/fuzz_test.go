package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// hostileBodies are seeds for every decoder fuzz target.
var hostileBodies = [][]byte{
	{},
	{0xc0},
	{0xc1},
	{0xdd, 0x80, 0x00, 0x00, 0x00},
	{0xdf, 0x80, 0x00, 0x00, 0x00},
	{0x81, 0xa3, 'o', 'p', 's', 0xdd, 0x80, 0x00, 0x00, 0x00},
	{0x81, 0xa2, 'c', 'h', 0xdc, 0xff, 0xff},
	{0x81, 0xa1, 'd', 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00},
	{0x81, 0xa1, 'o', 0xcd, 0x01, 0x00},
	{0x81, 0xa1, 'x', 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0},
	{0x82, 0xa1, 'x', 0x01, 0xa1, 'x', 0x02},
	{0x81, 0xc0, 0x01},
	append(bytes.Repeat([]byte{0x91}, 64), 0x00),
}

// checkDecodeBounded fails if decode allocated far more than the body's
// size: the decoders allocate what the body describes, never what it claims.
// The largest growth is a list of nil ops: 64 bytes of tree.Op per byte.
// While fuzzing, the engine's own goroutines allocate too, so the smaller of
// two measurements is taken and there is slack; a claim-sized allocation
// (the bug this catches) would be gigabytes.
func checkDecodeBounded(t *testing.T, body []byte, decode func()) {
	t.Helper()
	var n uint64 = math.MaxUint64
	for range 2 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		decode()
		runtime.ReadMemStats(&after)
		n = min(n, after.TotalAlloc-before.TotalAlloc)
	}
	if limit := uint64(80*len(body) + 256<<10); n > limit {
		t.Fatalf("decoding %d bytes allocated %d bytes", len(body), n)
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add(frame([]byte{0x80}))
	f.Add(append(frame(data128), frame([]byte{0xc0})...))
	f.Add([]byte{0x80, 0, 0, 0, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0, 0})
	f.Add([]byte{0, 0, 0x10, 0, 1, 2, 3})
	f.Fuzz(func(t *testing.T, stream []byte) {
		const max = 1 << 12
		r := bufio.NewReader(bytes.NewReader(stream))
		off := 0
		var buf []byte
		for {
			body, err := ReadFrame(r, max, buf)
			if err != nil {
				if err == io.EOF {
					require.Equal(t, len(stream), off, "io.EOF only at the end")
					return
				}
				require.True(t, errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrMarshalling) ||
					errors.Is(err, io.ErrUnexpectedEOF), "unexpected error %v", err)
				return
			}
			n := int(binary.BigEndian.Uint32(stream[off:]))
			require.Equal(t, n, len(body))
			require.True(t, n > 0 && n <= max)
			require.Equal(t, stream[off+4:off+4+n], body)
			off += 4 + n
			buf = body
		}
	})
}

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range sampleRequests() {
		if s.name != "every field" && s.name != "setData big" { // keep seeds small
			f.Add(mustRequest(f, &s.req))
		}
	}
	for _, b := range hostileBodies {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var got Request
		err := DecodeRequest(body, &got)
		checkDecodeBounded(t, body, func() { _ = DecodeRequest(body, &got) })
		if err != nil {
			require.ErrorIs(t, err, ErrMarshalling)
			return
		}
		// The msgpack library accepts whatever the decoder accepts.
		var lib Request
		require.NoError(t, msgpack.Unmarshal(body, &lib))
		got = normRequest(got)
		// Re-encoding is canonical: the library reads it back the same,
		// so does the decoder, and the bytes are the library's.
		canon := mustRequest(t, &got)
		var again Request
		require.NoError(t, DecodeRequest(canon, &again))
		require.Equal(t, got, normRequest(again))
		lib = Request{}
		require.NoError(t, msgpack.Unmarshal(canon, &lib))
		require.Equal(t, normRequest(again), normRequest(lib))
		require.Equal(t, libEncode(t, &got, true), canon)
	})
}

// normRequest maps what omitempty cannot carry (an empty but non-nil list or
// data) to nil, so a decoded message compares with its re-encoding.
func normRequest(r Request) Request {
	if len(r.Data) == 0 {
		r.Data = nil
	}
	if len(r.Ops) == 0 {
		r.Ops = nil
	}
	for i := range r.Ops {
		if len(r.Ops[i].Data) == 0 {
			r.Ops[i].Data = nil
		}
	}
	if r.Watches != nil {
		w := *r.Watches
		for _, l := range []*[]string{&w.Data, &w.Exist, &w.Child, &w.Persistent, &w.PersistentRecursive} {
			if len(*l) == 0 {
				*l = nil
			}
		}
		r.Watches = &w
	}
	return r
}

func normResponse(r Response) Response {
	if len(r.Data) == 0 {
		r.Data = nil
	}
	if len(r.Children) == 0 {
		r.Children = nil
	}
	if len(r.Results) == 0 {
		r.Results = nil
	}
	return r
}

func FuzzDecodeResponse(f *testing.F) {
	for _, s := range sampleResponses() {
		if s.name != "getData big" && s.name != "error with long message" {
			f.Add(mustResponse(f, &s.resp))
		}
	}
	for _, b := range hostileBodies {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var got Response
		err := DecodeResponse(body, &got)
		checkDecodeBounded(t, body, func() { _ = DecodeResponse(body, &got) })
		if err != nil {
			require.ErrorIs(t, err, ErrMarshalling)
			return
		}
		var lib Response
		require.NoError(t, msgpack.Unmarshal(body, &lib))
		got = normResponse(got)
		canon := mustResponse(t, &got)
		var again Response
		require.NoError(t, DecodeResponse(canon, &again))
		require.Equal(t, got, normResponse(again))
		lib = Response{}
		require.NoError(t, msgpack.Unmarshal(canon, &lib))
		require.Equal(t, normResponse(again), normResponse(lib))
		require.Equal(t, libEncode(t, &got, true), canon)
	})
}

func FuzzDecodeConnectRequest(f *testing.F) {
	for _, cr := range sampleConnectRequests() {
		b, err := AppendConnectRequest(nil, &cr)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add(mustRequest(f, &Request{Xid: 1, Op: OpGetData, Path: "/a"}))
	for _, b := range hostileBodies {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var got ConnectRequest
		err := DecodeConnectRequest(body, &got)
		checkDecodeBounded(t, body, func() { _ = DecodeConnectRequest(body, &got) })
		if err != nil {
			require.ErrorIs(t, err, ErrMarshalling)
			return
		}
		var lib ConnectRequest
		require.NoError(t, msgpack.Unmarshal(body, &lib))
		canon, err := AppendConnectRequest(nil, &got)
		require.NoError(t, err)
		var again ConnectRequest
		require.NoError(t, DecodeConnectRequest(canon, &again))
		require.Equal(t, got, again)
		lib = ConnectRequest{}
		require.NoError(t, msgpack.Unmarshal(canon, &lib))
		require.Equal(t, again, lib)
		require.Equal(t, libEncode(t, &got, true), canon)
	})
}

func FuzzDecodeConnectResponse(f *testing.F) {
	for _, cr := range sampleConnectResponses() {
		b, err := AppendConnectResponse(nil, &cr)
		require.NoError(f, err)
		f.Add(b)
	}
	for _, b := range hostileBodies {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var got ConnectResponse
		err := DecodeConnectResponse(body, &got)
		checkDecodeBounded(t, body, func() { _ = DecodeConnectResponse(body, &got) })
		if err != nil {
			require.ErrorIs(t, err, ErrMarshalling)
			return
		}
		var lib ConnectResponse
		require.NoError(t, msgpack.Unmarshal(body, &lib))
		canon, err := AppendConnectResponse(nil, &got)
		require.NoError(t, err)
		var again ConnectResponse
		require.NoError(t, DecodeConnectResponse(canon, &again))
		require.Equal(t, got, again)
		require.Equal(t, libEncode(t, &got, true), canon)
	})
}
