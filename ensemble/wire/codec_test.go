package wire

import (
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/zabkit/zabkit/internal/mpsafe"
	"github.com/zabkit/zabkit/tree"
)

func TestRequestRoundTrip(t *testing.T) {
	for _, s := range sampleRequests() {
		t.Run(s.name, func(t *testing.T) {
			b := mustRequest(t, &s.req)
			var got Request
			require.NoError(t, DecodeRequest(b, &got))
			assert.Equal(t, s.req, got)

			// Byte for byte what the msgpack library writes, and the
			// library reads it back to the same struct.
			assert.Equal(t, libEncode(t, &s.req, true), b)
			var lib Request
			require.NoError(t, msgpack.Unmarshal(b, &lib))
			assert.Equal(t, s.req, lib)

			// The library's default (fixed-width integers) decodes too.
			got = Request{}
			require.NoError(t, DecodeRequest(libEncode(t, &s.req, false), &got))
			assert.Equal(t, s.req, got)
		})
	}
}

func TestResponseRoundTrip(t *testing.T) {
	for _, s := range sampleResponses() {
		t.Run(s.name, func(t *testing.T) {
			b := mustResponse(t, &s.resp)
			var got Response
			require.NoError(t, DecodeResponse(b, &got))
			assert.Equal(t, s.resp, got)

			assert.Equal(t, libEncode(t, &s.resp, true), b)
			var lib Response
			require.NoError(t, msgpack.Unmarshal(b, &lib))
			assert.Equal(t, s.resp, lib)

			got = Response{}
			require.NoError(t, DecodeResponse(libEncode(t, &s.resp, false), &got))
			assert.Equal(t, s.resp, got)
		})
	}
}

func TestConnectRoundTrip(t *testing.T) {
	for i, cr := range sampleConnectRequests() {
		b, err := AppendConnectRequest(nil, &cr)
		require.NoError(t, err)
		var got ConnectRequest
		require.NoError(t, DecodeConnectRequest(b, &got), "request %d", i)
		assert.Equal(t, cr, got, "request %d", i)
		assert.Equal(t, libEncode(t, &cr, true), b, "request %d", i)
		got = ConnectRequest{}
		require.NoError(t, DecodeConnectRequest(libEncode(t, &cr, false), &got))
		assert.Equal(t, cr, got, "request %d", i)
	}
	for i, cr := range sampleConnectResponses() {
		b, err := AppendConnectResponse(nil, &cr)
		require.NoError(t, err)
		var got ConnectResponse
		require.NoError(t, DecodeConnectResponse(b, &got), "response %d", i)
		assert.Equal(t, cr, got, "response %d", i)
		assert.Equal(t, libEncode(t, &cr, true), b, "response %d", i)
		got = ConnectResponse{}
		require.NoError(t, DecodeConnectResponse(libEncode(t, &cr, false), &got))
		assert.Equal(t, cr, got, "response %d", i)
	}
}

// The encoders patch a one-byte fixmap header, which holds at most 15
// fields; a struct that grows past that needs a map16 header there.
func TestStructsFitFixmap(t *testing.T) {
	for _, v := range []any{Request{}, Response{}, ConnectRequest{}, ConnectResponse{}, WatchSet{}, OpResult{}, tree.Op{}, tree.Stat{}, tree.Event{}} {
		assert.LessOrEqual(t, reflect.TypeOf(v).NumField(), 15, "%T", v)
	}
}

// Every exported field of every message must survive the round trip: a
// field added to messages.go without an encoder and decoder case fails here.
func TestEveryFieldEncoded(t *testing.T) {
	check := func(v any, roundTrip func(v any) any) {
		rv := reflect.ValueOf(v).Elem()
		for i := 0; i < rv.NumField(); i++ {
			f := rv.Type().Field(i)
			got := reflect.ValueOf(roundTrip(v)).Elem().Field(i)
			assert.False(t, got.IsZero(), "%s.%s lost in the round trip", rv.Type().Name(), f.Name)
		}
	}
	req := sampleRequests()
	var every Request
	for _, s := range req {
		if s.name == "every field" {
			every = s.req
		}
	}
	check(&every, func(v any) any {
		var out Request
		require.NoError(t, DecodeRequest(mustRequest(t, v.(*Request)), &out))
		return &out
	})
	var everyResp Response
	for _, s := range sampleResponses() {
		if s.name == "every field" {
			everyResp = s.resp
		}
	}
	check(&everyResp, func(v any) any {
		var out Response
		require.NoError(t, DecodeResponse(mustResponse(t, v.(*Response)), &out))
		return &out
	})
	cr := sampleConnectRequests()[1]
	check(&cr, func(v any) any {
		b, err := AppendConnectRequest(nil, v.(*ConnectRequest))
		require.NoError(t, err)
		var out ConnectRequest
		require.NoError(t, DecodeConnectRequest(b, &out))
		return &out
	})
	cresp := ConnectResponse{Code: 1, Message: "m", ProtocolVersion: 1, Timeout: 1, SessionID: 1, Password: []byte{1}, ServerID: 1, LastZxid: 1, MaxFrame: 1, Status: []byte{0x80}}
	check(&cresp, func(v any) any {
		b, err := AppendConnectResponse(nil, v.(*ConnectResponse))
		require.NoError(t, err)
		var out ConnectResponse
		require.NoError(t, DecodeConnectResponse(b, &out))
		return &out
	})
	ws := WatchSet{Data: []string{"a"}, Exist: []string{"b"}, Child: []string{"c"}, Persistent: []string{"d"}, PersistentRecursive: []string{"e"}}
	check(&ws, func(v any) any {
		var out Request
		require.NoError(t, DecodeRequest(mustRequest(t, &Request{Watches: v.(*WatchSet)}), &out))
		return out.Watches
	})
	op := tree.Op{Type: 1, Path: "/a", Data: []byte{1}, Version: 1, Mode: 1, TTL: 1}
	check(&op, func(v any) any {
		var out Request
		require.NoError(t, DecodeRequest(mustRequest(t, &Request{Ops: []tree.Op{*v.(*tree.Op)}}), &out))
		return &out.Ops[0]
	})
	res := OpResult{Type: 1, Code: 1, Path: "/a", Stat: &smallStat}
	check(&res, func(v any) any {
		var out Response
		require.NoError(t, DecodeResponse(mustResponse(t, &Response{Results: []OpResult{*v.(*OpResult)}}), &out))
		return &out.Results[0]
	})
	check(&fullStat, func(v any) any {
		var out Response
		require.NoError(t, DecodeResponse(mustResponse(t, &Response{Stat: v.(*tree.Stat)}), &out))
		return out.Stat
	})
	ev := tree.Event{Type: 1, Path: "/a", Zxid: 1}
	check(&ev, func(v any) any {
		var out Response
		require.NoError(t, DecodeResponse(mustResponse(t, &Response{Event: v.(*tree.Event)}), &out))
		return out.Event
	})
}

func TestDecodeResetsTarget(t *testing.T) {
	req := Request{Xid: 9, Path: "/old", Data: []byte("old"), Watches: &WatchSet{}}
	require.NoError(t, DecodeRequest(mustRequest(t, &Request{Xid: 1, Op: OpPing}), &req))
	assert.Equal(t, Request{Xid: 1, Op: OpPing}, req)
}

// Decoded messages copy what they keep, so the frame buffer can be reused.
func TestDecodeDoesNotAliasBody(t *testing.T) {
	want := Response{Xid: 1, Path: "/p", Data: []byte("data"), Children: []string{"a", "b"}, Event: &tree.Event{Path: "/e"}}
	b := mustResponse(t, &want)
	var got Response
	require.NoError(t, DecodeResponse(b, &got))
	for i := range b {
		b[i] = 0
	}
	assert.Equal(t, want, got)

	wantReq := Request{Xid: 1, Path: "/p", Data: []byte("data"), Ops: []tree.Op{{Path: "/o", Data: []byte("d")}}, Watches: &WatchSet{Data: []string{"/w"}}}
	b = mustRequest(t, &wantReq)
	var gotReq Request
	require.NoError(t, DecodeRequest(b, &gotReq))
	for i := range b {
		b[i] = 0xff
	}
	assert.Equal(t, wantReq, gotReq)
}

// What the msgpack library accepts for the same struct, the decoders accept:
// any key order, unknown keys, any integer width, nil for zero, str for bin.
func TestDecodeLenient(t *testing.T) {
	b := libEncode(t, map[string]any{
		"future": map[string]any{"nested": []any{1, "x", nil, 1.5, map[string]any{}}},
		"p":      []byte("/from-bin"),
		"d":      "from-str",
		"o":      uint64(5),
		"x":      int8(-3),
		"v":      nil,
		"w":      nil,
		"ops":    []any{nil, map[string]any{"t": 1, "p": "/a", "zz": true}},
		"ws":     nil,
	}, false)
	var got Request
	require.NoError(t, DecodeRequest(b, &got))
	assert.Equal(t, Request{Xid: -3, Op: OpGetData, Path: "/from-bin", Data: []byte("from-str"),
		Ops: []tree.Op{{}, {Type: tree.OpCreate, Path: "/a"}}}, got)

	var lib Request
	require.NoError(t, msgpack.Unmarshal(b, &lib))
	assert.Equal(t, lib, got)

	// A later duplicate key wins.
	b = []byte{0x82, 0xa1, 'x', 0x01, 0xa1, 'x', 0x02}
	require.NoError(t, DecodeRequest(b, &got))
	assert.Equal(t, int64(2), got.Xid)

	// Empty lists decode as empty, non-nil (as the library does); nil as nil.
	b = libEncode(t, map[string]any{"ch": []string{}, "r": nil, "s": nil, "e": nil}, true)
	var resp Response
	require.NoError(t, DecodeResponse(b, &resp))
	assert.NotNil(t, resp.Children)
	assert.Empty(t, resp.Children)
	assert.Nil(t, resp.Results)
	assert.Nil(t, resp.Stat)
	assert.Nil(t, resp.Event)
}

func TestDecodeRejectsBadValues(t *testing.T) {
	enc := func(v any) []byte { return libEncode(t, v, true) }
	cases := []struct {
		name  string
		body  []byte
		field string // what the error must mention
	}{
		{"array instead of map", enc([]any{1, 2}), "want a map"},
		{"int instead of map", enc(5), "want a map"},
		{"nil instead of map", enc(nil), "nil instead of a map"},
		{"string instead of map", enc("x"), "want a map"},
		{"int key", enc(map[int]int{1: 2}), "want a string"},
		{"nil key", []byte{0x81, 0xc0, 0x01}, "nil map key"},
		{"string xid", enc(map[string]any{"x": "1"}), "field x"},
		{"float xid", enc(map[string]any{"x": 1.0}), "field x"},
		{"xid over int64", enc(map[string]any{"x": uint64(math.MaxUint64)}), "field x"},
		{"op 256", enc(map[string]any{"o": 256}), "field o"},
		{"op negative", enc(map[string]any{"o": -1}), "field o"},
		{"version 2^31", enc(map[string]any{"v": int64(math.MaxInt32) + 1}), "field v"},
		{"version below int32", enc(map[string]any{"v": int64(math.MinInt32) - 1}), "field v"},
		{"max 2^32", enc(map[string]any{"mx": int64(1) << 32}), "field mx"},
		{"path int", enc(map[string]any{"p": 7}), "field p"},
		{"data map", enc(map[string]any{"d": map[string]int{}}), "field d"},
		{"watch int", enc(map[string]any{"w": 1}), "field w"},
		{"ops not array", enc(map[string]any{"ops": "x"}), "field ops"},
		{"op not map", enc(map[string]any{"ops": []any{1}}), "field ops"},
		{"op version string", enc(map[string]any{"ops": []any{map[string]any{"v": "1"}}}), "field ops.v"},
		{"op type 300", enc(map[string]any{"ops": []any{map[string]any{"t": 300}}}), "field ops.t"},
		{"watchset list of ints", enc(map[string]any{"ws": map[string]any{"d": []int{1}}}), "field ws.d"},
		{"ext value", []byte{0x81, 0xa1, 'p', 0xd4, 0x01, 0x00}, "field p"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r Request
			err := DecodeRequest(c.body, &r)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrMarshalling)
			assert.Contains(t, err.Error(), c.field)
		})
	}

	respCases := []struct {
		name  string
		body  []byte
		field string
	}{
		{"stat as array", enc(map[string]any{"s": []int{1, 2}}), "field s"},
		{"stat version 2^31", enc(map[string]any{"s": map[string]any{"v": int64(1) << 31}}), "field s.v"},
		{"children not strings", enc(map[string]any{"ch": []any{"a", 1}}), "field ch"},
		{"results code string", enc(map[string]any{"r": []any{map[string]any{"c": "x"}}}), "field r.c"},
		{"results stat bad", enc(map[string]any{"r": []any{map[string]any{"s": map[string]any{"cz": "x"}}}}), "field r.s.cz"},
		{"event type 256", enc(map[string]any{"e": map[string]any{"t": 256}}), "field e.t"},
		{"more int", enc(map[string]any{"mo": 1}), "field mo"},
		{"code over int32", enc(map[string]any{"c": int64(1) << 40}), "field c"},
	}
	for _, c := range respCases {
		t.Run("response "+c.name, func(t *testing.T) {
			var r Response
			err := DecodeResponse(c.body, &r)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrMarshalling)
			assert.Contains(t, err.Error(), c.field)
		})
	}

	var cr ConnectRequest
	err := DecodeConnectRequest(enc(map[string]any{"pv": "one"}), &cr)
	assert.ErrorIs(t, err, ErrMarshalling)
	assert.Contains(t, err.Error(), "connect request field pv")
	var cresp ConnectResponse
	err = DecodeConnectResponse(enc(map[string]any{"sid": -1}), &cresp)
	assert.ErrorIs(t, err, ErrMarshalling)
	assert.Contains(t, err.Error(), "connect response field sid")
}

// A Request sent where a ConnectRequest belongs decodes with
// ProtocolVersion 0, which the server refuses with CodeBadProtocol.
func TestRequestAsConnectRequest(t *testing.T) {
	var cr ConnectRequest
	require.NoError(t, DecodeConnectRequest(mustRequest(t, &Request{Xid: 1, Op: OpGetData, Path: "/a"}), &cr))
	assert.Equal(t, int32(0), cr.ProtocolVersion)
}

// allocBytes returns the bytes allocated by one call of f, averaged.
func allocBytes(f func()) uint64 {
	const runs = 20
	f() // warm up
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / runs
}

func TestDecodeHostile(t *testing.T) {
	valid := mustRequest(t, &Request{Xid: 1, Op: OpSetData, Path: "/a", Data: data128})
	deep := []byte{0x81, 0xa6, 'f', 'u', 't', 'u', 'r', 'e'} // {"future": [[[[...]]]]}
	for i := 0; i < 1000; i++ {
		deep = append(deep, 0x91)
	}
	deep = append(deep, 0x00)
	cases := map[string][]byte{
		"array32 claims 2^31":            {0xdd, 0x80, 0x00, 0x00, 0x00},
		"map32 claims 2^31":              {0xdf, 0x80, 0x00, 0x00, 0x00},
		"ops array32 claims 2^31":        {0x81, 0xa3, 'o', 'p', 's', 0xdd, 0x80, 0x00, 0x00, 0x00},
		"children array32 claims 2^32-1": {0x81, 0xa2, 'c', 'h', 0xdd, 0xff, 0xff, 0xff, 0xff},
		"data bin32 claims 4 GiB":        {0x81, 0xa1, 'd', 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00},
		"path str32 claims 2 GiB":        {0x81, 0xa1, 'p', 0xdb, 0x80, 0x00, 0x00, 0x00, 'a'},
		"truncated":                      valid[:len(valid)-1],
		"truncated header":               valid[:1],
		"trailing bytes":                 append(append([]byte{}, valid...), 0x00),
		"deep nesting":                   deep,
		"empty":                          {},
		"reserved byte":                  {0xc1},
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			var req Request
			var resp Response
			var cr ConnectRequest
			var cresp ConnectResponse
			for _, decode := range []func() error{
				func() error { return DecodeRequest(body, &req) },
				func() error { return DecodeResponse(body, &resp) },
				func() error { return DecodeConnectRequest(body, &cr) },
				func() error { return DecodeConnectResponse(body, &cresp) },
			} {
				err := decode()
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrMarshalling)
				assert.ErrorIs(t, err, mpsafe.ErrMalformed)
				n := allocBytes(func() { _ = decode() })
				assert.Less(t, n, uint64(4<<10), "rejecting %q allocated %d bytes", name, n)
			}
		})
	}
}

// The decoders allocate only what they return: no encoder, decoder or
// buffer per message.
func TestCodecAllocations(t *testing.T) {
	req := Request{Xid: 1, Op: OpSetData, Path: "/a/b", Data: data128, Version: 3}
	buf := make([]byte, 0, 512)
	assert.Zero(t, testing.AllocsPerRun(100, func() { buf, _ = AppendRequest(buf[:0], &req) }))
	var out Request
	// Path and Data.
	assert.Equal(t, 2.0, testing.AllocsPerRun(100, func() { _ = DecodeRequest(buf, &out) }))

	resp := Response{Xid: 1, Zxid: 2, Data: data128, Stat: &smallStat}
	assert.Zero(t, testing.AllocsPerRun(100, func() { buf, _ = AppendResponse(buf[:0], &resp) }))
	var outResp Response
	// Data and Stat.
	assert.Equal(t, 2.0, testing.AllocsPerRun(100, func() { _ = DecodeResponse(buf, &outResp) }))

	names := make([]string, 10000)
	for i := range names {
		names[i] = strings.Repeat("c", 1+i%20)
	}
	big := mustResponse(t, &Response{Children: names})
	// One backing string and one slice for any number of names.
	assert.Equal(t, 2.0, testing.AllocsPerRun(10, func() { _ = DecodeResponse(big, &outResp) }))
	assert.Equal(t, names, outResp.Children)
}

func TestEncodeRejectsImpossibleLength(t *testing.T) {
	e := encoder{}
	assert.True(t, e.tooLong(math.MaxUint32+1))
	assert.ErrorContains(t, e.err, "32-bit")
	b, err := e.result([]byte("keep"), "request")
	assert.ErrorIs(t, err, ErrMarshalling)
	assert.Equal(t, "keep", string(b))
}
