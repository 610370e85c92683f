package wire

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/zabkit/zabkit/tree"
)

// Sample messages: one per op with every field that op uses, plus messages
// with every field set and with edge values (negative and 64-bit integers,
// strings and data in each msgpack length class).

var (
	long300   = strings.Repeat("a", 300)          // str16
	long70000 = strings.Repeat("b", 70000)        // str32
	data128   = bytes.Repeat([]byte{0xab}, 128)   // bin8
	data300   = bytes.Repeat([]byte{0xcd}, 300)   // bin16
	data70000 = bytes.Repeat([]byte{0xef}, 70000) // bin32
	name40    = "/" + strings.Repeat("n", 39)     // str8
	fullStat  = tree.Stat{Czxid: tree.MakeZxid(1, 2), Mzxid: tree.MakeZxid(3, 4), Pzxid: math.MaxInt64, Ctime: 1700000000000, Mtime: -1, Version: math.MaxInt32, Cversion: math.MinInt32, Aversion: 7, EphemeralOwner: tree.SessionID(-5), DataLength: 128, NumChildren: 65536}
	smallStat = tree.Stat{Czxid: 1, Mzxid: 1, Pzxid: 1, Version: 1}
)

type namedRequest struct {
	name string
	req  Request
}

func sampleRequests() []namedRequest {
	ops := []tree.Op{
		{Type: tree.OpCreate, Path: "/m/a", Data: []byte("x"), Mode: tree.ModePersistentSequentialWithTTL, TTL: 60000},
		{Type: tree.OpSetData, Path: "/m/b", Data: data300, Version: 3},
		{Type: tree.OpDelete, Path: "/m/c", Version: tree.AnyVersion},
		{Type: tree.OpCheck, Path: "/m", Version: 0},
		{Type: tree.OpCreate, Path: ""},
	}
	many := make([]tree.Op, 20) // array16
	for i := range many {
		many[i] = tree.Op{Type: tree.OpCheck, Path: "/x", Version: int32(i)}
	}
	return []namedRequest{
		{"ping", Request{Xid: 1, Op: OpPing}},
		{"create", Request{Xid: 2, Op: OpCreate, Path: "/a", Data: []byte("hello"), Mode: tree.ModeEphemeralSequential}},
		{"createTTL", Request{Xid: 3, Op: OpCreate, Path: "/t", Mode: tree.ModePersistentWithTTL, TTL: 1 << 40}},
		{"delete", Request{Xid: 4, Op: OpDelete, Path: "/a", Version: tree.AnyVersion}},
		{"setData", Request{Xid: 5, Op: OpSetData, Path: "/a", Data: data128, Version: 12345}},
		{"setData big", Request{Xid: 6, Op: OpSetData, Path: long300, Data: data70000, Version: -2}},
		{"getData", Request{Xid: 7, Op: OpGetData, Path: "/a", Watch: true}},
		{"exists", Request{Xid: 8, Op: OpExists, Path: name40, Watch: true}},
		{"getChildren", Request{Xid: 9, Op: OpGetChildren, Path: "/", Watch: true, After: "node-0000000041", Max: 1000}},
		{"multi", Request{Xid: 10, Op: OpMulti, Ops: ops}},
		{"multi many", Request{Xid: 11, Op: OpMulti, Ops: many}},
		{"sync", Request{Xid: 12, Op: OpSync, Path: "/"}},
		{"getEphemerals", Request{Xid: 13, Op: OpGetEphemerals, Path: "/locks"}},
		{"check", Request{Xid: 14, Op: OpCheck, Path: "/a", Version: 9}},
		{"addWatch", Request{Xid: 15, Op: OpAddWatch, Path: "/a", WatchMode: WatchPersistentRecursive}},
		{"addWatch persistent", Request{Xid: 16, Op: OpAddWatch, Path: "/a", WatchMode: WatchPersistent}},
		{"removeWatches", Request{Xid: 17, Op: OpRemoveWatches, Path: "/a", WatchType: WatchTypeAny}},
		{"setWatches", Request{Xid: 18, Op: OpSetWatches, RelZxid: tree.MakeZxid(7, 99), Watches: &WatchSet{
			Data: []string{"/a", "/b"}, Exist: []string{"/missing"}, Child: []string{"/"},
			Persistent: []string{"/p"}, PersistentRecursive: []string{"/r", long300},
		}}},
		{"setWatches empty set", Request{Xid: 19, Op: OpSetWatches, Watches: &WatchSet{}}},
		{"countChildren", Request{Xid: 20, Op: OpCountChildren, Path: "/a"}},
		{"closeSession", Request{Xid: 21, Op: OpCloseSession}},
		{"linearizedRead", Request{Xid: 22, Op: OpLinearizedRead, Path: "/a"}},
		{"every field", Request{Xid: math.MaxInt64, Op: math.MaxUint8, Path: long70000, Data: []byte{0}, Version: math.MinInt32,
			Mode: 255, TTL: math.MinInt64, Watch: true, WatchMode: 200, WatchType: 3, After: "z", Max: math.MaxInt32,
			Ops: ops[:1], RelZxid: -1, Watches: &WatchSet{Data: []string{""}}}},
		{"negative xid", Request{Xid: -100000, Op: OpPing}},
		{"zero", Request{}},
	}
}

type namedResponse struct {
	name string
	resp Response
}

func sampleResponses() []namedResponse {
	children := make([]string, 40) // array16 of names
	for i := range children {
		children[i] = "node-" + strings.Repeat("0", 9) + string(rune('a'+i%26))
	}
	st := fullStat
	return []namedResponse{
		{"ping", Response{Xid: 1, Zxid: tree.MakeZxid(1, 1)}},
		{"create", Response{Xid: 2, Zxid: 3, Path: "/a0000000001", Stat: &smallStat}},
		{"getData", Response{Xid: 3, Zxid: 4, Data: data128, Stat: &st}},
		{"getData big", Response{Xid: 3, Zxid: 4, Data: data70000, Stat: &st}},
		{"exists missing", Response{Xid: 4, Zxid: 4, Code: CodeNoNode, Message: "/nope"}},
		{"getChildren", Response{Xid: 5, Zxid: 5, Children: children, Stat: &smallStat, More: true}},
		{"getChildren one", Response{Xid: 5, Zxid: 5, Children: []string{long300}}},
		{"countChildren", Response{Xid: 6, Zxid: 6, Count: 1 << 33}},
		{"multi", Response{Xid: 7, Zxid: 8, Code: CodeNodeExists, Results: []OpResult{
			{Type: tree.OpCreate, Code: CodeRolledBack, Path: "/m/a0000000001", Stat: &smallStat},
			{Type: tree.OpCreate, Code: CodeNodeExists},
			{Type: tree.OpSetData, Code: CodeRuntimeInconsistency, Stat: &st},
			{Type: tree.OpCheck},
		}}},
		{"sync", Response{Xid: 9, Zxid: 9, Path: "/"}},
		{"watch event", Response{Xid: XidWatchEvent, Zxid: tree.MakeZxid(2, 5), Event: &tree.Event{Type: tree.EventNodeChildrenChanged, Path: "/a", Zxid: tree.MakeZxid(2, 5)}}},
		{"error with long message", Response{Xid: 10, Code: CodeShuttingDown, Message: long70000}},
		{"every field", Response{Xid: math.MinInt64, Zxid: math.MaxInt64, Code: math.MinInt32, Message: "m", Path: "/p", Data: []byte{1},
			Stat: &st, Children: []string{"a", ""}, More: true, Count: -1, Results: []OpResult{{}}, Event: &tree.Event{}}},
		{"zero", Response{}},
	}
}

func sampleConnectRequests() []ConnectRequest {
	return []ConnectRequest{
		{ProtocolVersion: ProtocolVersion, Timeout: 10000},
		{ProtocolVersion: ProtocolVersion, LastZxidSeen: tree.MakeZxid(3, 77), Timeout: 4000, SessionID: 0x1234567890, Password: bytes.Repeat([]byte{7}, 16), Admin: AdminStatus},
		{ProtocolVersion: -1, LastZxidSeen: math.MinInt64, Timeout: math.MaxInt32, SessionID: math.MaxInt64, Password: []byte{}},
		{},
	}
}

func sampleConnectResponses() []ConnectResponse {
	return []ConnectResponse{
		{Code: CodeOK, ProtocolVersion: ProtocolVersion, Timeout: 10000, SessionID: 0x100000001, Password: bytes.Repeat([]byte{9}, 16), ServerID: 1, LastZxid: tree.MakeZxid(1, 5), MaxFrame: DefaultMaxFrame},
		{Code: CodeAuthFailed, Message: "wrong password", ProtocolVersion: ProtocolVersion},
		{Code: CodeTooManyConnections, ServerID: math.MaxUint32, MaxFrame: math.MinInt32, Password: []byte{}},
		{},
	}
}

// libEncode encodes v with the msgpack library as the wire encoders do:
// map-form structs, compact integers.
func libEncode(t testing.TB, v any, compact bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(compact)
	require.NoError(t, enc.Encode(v))
	return buf.Bytes()
}

func mustRequest(t testing.TB, r *Request) []byte {
	t.Helper()
	b, err := AppendRequest(nil, r)
	require.NoError(t, err)
	return b
}

func mustResponse(t testing.TB, r *Response) []byte {
	t.Helper()
	b, err := AppendResponse(nil, r)
	require.NoError(t, err)
	return b
}
