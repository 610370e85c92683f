package tree

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewTree(t *testing.T) {
	tr := New(Config{})
	assert.Equal(t, 1, tr.NodeCount())
	assert.Equal(t, Zxid(0), tr.LastZxid())
	st, err := tr.Exists("/")
	require.NoError(t, err)
	assert.Equal(t, Stat{}, st)
	data, _, err := tr.Get("/")
	require.NoError(t, err)
	assert.NotNil(t, data)
	assert.Empty(t, data)
	assert.Equal(t, New(Config{}).Digest(), tr.Digest())
	require.NoError(t, checkInvariants(tr))
}

func TestCreateStat(t *testing.T) {
	a := newApplier(t)
	a.now = 5000
	r := a.create("/a", "hello", ModePersistent)
	require.NoError(t, r.Err)
	assert.Equal(t, "/a", r.Path)
	want := Stat{Czxid: 1, Mzxid: 1, Pzxid: 1, Ctime: 5001, Mtime: 5001, DataLength: 5}
	assert.Equal(t, want, r.Stat)
	data, st, err := a.tr.Get("/a")
	require.NoError(t, err)
	assert.Equal(t, []byte("hello"), data)
	assert.Equal(t, want, st)

	root, _ := a.tr.Exists("/")
	assert.Equal(t, Stat{Pzxid: 1, Cversion: 1, NumChildren: 1}, root)

	// A child changes the parent's pzxid, cversion and numChildren only.
	a.mustCreate("/a/b", "", ModePersistent)
	st, _ = a.tr.Exists("/a")
	assert.Equal(t, Stat{Czxid: 1, Mzxid: 1, Pzxid: 2, Ctime: 5001, Mtime: 5001, DataLength: 5, Cversion: 1, NumChildren: 1}, st)

	// setData: mzxid, mtime, version, dataLength; not ctime, czxid, pzxid.
	r = a.set("/a", "hi", AnyVersion)
	require.NoError(t, r.Err)
	want = Stat{Czxid: 1, Mzxid: 3, Pzxid: 2, Ctime: 5001, Mtime: 5003, Version: 1, DataLength: 2, Cversion: 1, NumChildren: 1}
	assert.Equal(t, want, r.Stat)
	st, _ = a.tr.Exists("/a")
	assert.Equal(t, want, st)

	// Deleting a child: pzxid and cversion again.
	require.NoError(t, a.del("/a/b", 0).Err)
	st, _ = a.tr.Exists("/a")
	assert.Equal(t, Stat{Czxid: 1, Mzxid: 3, Pzxid: 4, Ctime: 5001, Mtime: 5003, Version: 1, DataLength: 2, Cversion: 2}, st)
	assert.Equal(t, 2, a.tr.NodeCount())
	assert.Equal(t, Zxid(4), a.tr.LastZxid())
	require.NoError(t, checkInvariants(a.tr))
}

func TestCreateErrors(t *testing.T) {
	a := newApplier(t)
	a.session(7)
	a.mustCreate("/p", "", ModePersistent)
	a.sess = 7
	a.mustCreate("/e", "", ModeEphemeral)
	a.sess = 0
	big := strings.Repeat("x", DefaultMaxDataBytes+1)
	tests := []struct {
		name string
		op   Op
		sess SessionID
		err  error
	}{
		{"exists", Op{Path: "/p"}, 0, ErrNodeExists},
		{"root", Op{Path: "/"}, 0, ErrNodeExists},
		{"no parent", Op{Path: "/x/y"}, 0, ErrNoNode},
		{"under ephemeral", Op{Path: "/e/x"}, 0, ErrNoChildrenForEphemerals},
		{"under ephemeral seq", Op{Path: "/e/x", Mode: ModePersistentSequential}, 0, ErrNoChildrenForEphemerals},
		{"ephemeral without session", Op{Path: "/q", Mode: ModeEphemeral}, 0, ErrNoSession},
		{"ephemeral unknown session", Op{Path: "/q", Mode: ModeEphemeralSequential}, 99, ErrNoSession},
		{"bad mode", Op{Path: "/q", Mode: 9}, 0, ErrBadArguments},
		{"ttl without ttl", Op{Path: "/q", Mode: ModePersistentWithTTL}, 0, ErrBadArguments},
		{"ttl negative", Op{Path: "/q", Mode: ModePersistentSequentialWithTTL, TTL: -5}, 0, ErrBadArguments},
		{"ttl too long", Op{Path: "/q", Mode: ModePersistentWithTTL, TTL: MaxTTL + 1}, 0, ErrBadArguments},
		{"ttl on persistent", Op{Path: "/q", Mode: ModePersistent, TTL: 10}, 0, ErrBadArguments},
		{"ttl on container", Op{Path: "/q", Mode: ModeContainer, TTL: 10}, 0, ErrBadArguments},
		{"invalid path", Op{Path: "/q/"}, 0, ErrBadArguments},
		{"relative", Op{Path: "q"}, 0, ErrBadArguments},
		{"dot", Op{Path: "/p/."}, 0, ErrBadArguments},
		{"too big", Op{Path: "/q", Data: []byte(big)}, 0, ErrBadArguments},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := stateOf(a.tr)
			a.sess = tt.sess
			defer func() { a.sess = 0 }()
			op := tt.op
			op.Type = OpCreate
			r, evs := a.op(op)
			assert.ErrorIs(t, r.Err, tt.err)
			assert.Empty(t, evs)
			after := stateOf(a.tr)
			before.LastZxid = after.LastZxid
			assert.Equal(t, before, after, "a failed create changes nothing but LastZxid")
		})
	}
}

func TestDataLimit(t *testing.T) {
	a := newApplier(t)
	a.tr = New(Config{MaxDataBytes: 4})
	require.NoError(t, a.create("/a", "1234", ModePersistent).Err)
	assert.ErrorIs(t, a.create("/b", "12345", ModePersistent).Err, ErrBadArguments)
	assert.ErrorIs(t, a.set("/a", "12345", AnyVersion).Err, ErrBadArguments)
	require.NoError(t, a.set("/a", "4321", AnyVersion).Err)
}

func TestSequential(t *testing.T) {
	a := newApplier(t)
	a.session(1)
	a.mustCreate("/q", "", ModePersistent)
	assert.Equal(t, "/q/n0000000000", a.mustCreate("/q/n", "", ModePersistentSequential))
	assert.Equal(t, "/q/n0000000001", a.mustCreate("/q/n", "", ModePersistentSequential))
	a.mustCreate("/q/plain", "", ModePersistent) // counts too
	assert.Equal(t, "/q/x0000000003", a.mustCreate("/q/x", "", ModePersistentSequential))
	require.NoError(t, a.del("/q/plain", AnyVersion).Err) // deletes count too
	a.sess = 1
	assert.Equal(t, "/q/0000000005", a.mustCreate("/q/", "", ModeEphemeralSequential))
	a.sess = 0
	r, _ := a.op(Op{Type: OpCreate, Path: "/q/t-", Mode: ModePersistentSequentialWithTTL, TTL: 1000})
	require.NoError(t, r.Err)
	assert.Equal(t, "/q/t-0000000006", r.Path)
	assert.Equal(t, "/0000000001", a.mustCreate("/", "", ModePersistentSequential))

	// A name taken by a plain create makes the sequential create fail.
	a.mustCreate("/q/s0000000008", "", ModePersistent)
	assert.ErrorIs(t, a.create("/q/s", "", ModePersistentSequential).Err, ErrNodeExists)

	names, st, more, err := a.tr.Children("/q", "", 0)
	require.NoError(t, err)
	assert.False(t, more)
	assert.Equal(t, []string{"0000000005", "n0000000000", "n0000000001", "s0000000008", "t-0000000006", "x0000000003"}, names)
	assert.Equal(t, int32(6), st.NumChildren)
	require.NoError(t, checkInvariants(a.tr))
}

func TestSequentialOverflow(t *testing.T) {
	a := newApplier(t)
	a.mustCreate("/q", "", ModePersistent)
	a.mustCreate("/q/a", "", ModePersistent)
	ensureExt(a.tr.lookup("/q")) // white box: bring the counter near the end
	before := a.tr.h.kids("/q", a.tr.lookup("/q"))
	a.tr.lookup("/q").ext.cversion = math.MaxInt32 - 1
	a.tr.digest += a.tr.h.kids("/q", a.tr.lookup("/q")) - before

	assert.Equal(t, "/q/s2147483646", a.mustCreate("/q/s", "", ModePersistentSequential))
	st, _ := a.tr.Exists("/q")
	assert.Equal(t, int32(math.MaxInt32), st.Cversion)
	snap := stateOf(a.tr)
	r := a.create("/q/s", "", ModePersistentSequential)
	assert.ErrorIs(t, r.Err, ErrSequenceOverflow)
	snap.LastZxid = a.tr.LastZxid()
	assert.Equal(t, snap, stateOf(a.tr))

	// Plain creates and deletes still work; the counter stays at the top.
	a.mustCreate("/q/b", "", ModePersistent)
	require.NoError(t, a.del("/q/b", AnyVersion).Err)
	st, _ = a.tr.Exists("/q")
	assert.Equal(t, int32(math.MaxInt32), st.Cversion)
	assert.ErrorIs(t, a.create("/q/s", "", ModePersistentSequential).Err, ErrSequenceOverflow)
	require.NoError(t, checkInvariants(a.tr))
}

func TestConditionalOps(t *testing.T) {
	a := newApplier(t)
	a.mustCreate("/a", "v0", ModePersistent)
	a.mustCreate("/a/c", "", ModePersistent)
	tests := []struct {
		name string
		op   Op
		err  error
	}{
		{"set bad version", Op{Type: OpSetData, Path: "/a", Version: 3}, ErrBadVersion},
		{"set missing", Op{Type: OpSetData, Path: "/nope", Version: AnyVersion}, ErrNoNode},
		{"set invalid", Op{Type: OpSetData, Path: "//", Version: AnyVersion}, ErrBadArguments},
		{"delete bad version", Op{Type: OpDelete, Path: "/a/c", Version: 1}, ErrBadVersion},
		{"delete not empty", Op{Type: OpDelete, Path: "/a", Version: AnyVersion}, ErrNotEmpty},
		{"delete bad version before not empty", Op{Type: OpDelete, Path: "/a", Version: 9}, ErrBadVersion},
		{"delete missing", Op{Type: OpDelete, Path: "/a/zz", Version: AnyVersion}, ErrNoNode},
		{"delete root", Op{Type: OpDelete, Path: "/", Version: AnyVersion}, ErrBadArguments},
		{"check bad version", Op{Type: OpCheck, Path: "/a", Version: 1}, ErrBadVersion},
		{"check missing", Op{Type: OpCheck, Path: "/b", Version: AnyVersion}, ErrNoNode},
		{"check ok", Op{Type: OpCheck, Path: "/a", Version: 0}, nil},
		{"check root", Op{Type: OpCheck, Path: "/", Version: AnyVersion}, nil},
		{"unknown op", Op{Type: 42, Path: "/a"}, ErrBadArguments},
		{"delete expired on plain node", Op{Type: OpDeleteExpired, Path: "/a/c"}, ErrBadArguments},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := stateOf(a.tr)
			r, evs := a.op(tt.op)
			if tt.err == nil {
				assert.NoError(t, r.Err)
			} else {
				assert.ErrorIs(t, r.Err, tt.err)
			}
			assert.Equal(t, tt.op.Type, r.Type)
			assert.Equal(t, Stat{}, r.Stat)
			assert.Empty(t, evs)
			after := stateOf(a.tr)
			before.LastZxid = after.LastZxid
			assert.Equal(t, before, after)
		})
	}

	r := a.set("/a", "v1", 0)
	require.NoError(t, r.Err)
	assert.Equal(t, int32(1), r.Stat.Version)
	assert.ErrorIs(t, a.set("/a", "v2", 0).Err, ErrBadVersion)
	require.NoError(t, a.set("/a", "v2", 1).Err)
	require.NoError(t, a.set("/", "root data", AnyVersion).Err)
	data, st, err := a.tr.Get("/")
	require.NoError(t, err)
	assert.Equal(t, "root data", string(data))
	assert.Equal(t, int32(1), st.Version)
	require.NoError(t, a.del("/a/c", 0).Err)
	require.NoError(t, a.del("/a", 2).Err)
	_, err = a.tr.Exists("/a")
	assert.ErrorIs(t, err, ErrNoNode)
	require.NoError(t, checkInvariants(a.tr))
}

func TestEvents(t *testing.T) {
	a := newApplier(t)
	_, evs := a.op(Op{Type: OpCreate, Path: "/a"})
	assert.Equal(t, "NodeCreated:/a NodeChildrenChanged:/", eventsString(evs))
	assert.Equal(t, Zxid(1), evs[0].Zxid)
	_, evs = a.op(Op{Type: OpCreate, Path: "/a/b"})
	assert.Equal(t, "NodeCreated:/a/b NodeChildrenChanged:/a", eventsString(evs))
	_, evs = a.op(Op{Type: OpSetData, Path: "/a/b", Version: AnyVersion})
	assert.Equal(t, "NodeDataChanged:/a/b", eventsString(evs))
	_, evs = a.op(Op{Type: OpCheck, Path: "/a/b", Version: AnyVersion})
	assert.Empty(t, evs)
	_, evs = a.op(Op{Type: OpDelete, Path: "/a/b", Version: AnyVersion})
	assert.Equal(t, "NodeDeleted:/a/b NodeChildrenChanged:/a", eventsString(evs))
	assert.Equal(t, Zxid(5), evs[1].Zxid)
}

func TestZxidOrder(t *testing.T) {
	tr := New(Config{})
	_, _, err := tr.Apply(&Txn{Zxid: 0, Kind: TxnNoop})
	assert.ErrorIs(t, err, ErrZxidOrder)
	_, _, err = tr.Apply(&Txn{Zxid: 5, Kind: TxnNoop})
	require.NoError(t, err)
	assert.Equal(t, Zxid(5), tr.LastZxid())
	_, _, err = tr.Apply(&Txn{Zxid: 5, Kind: TxnOps, Ops: []Op{{Type: OpCreate, Path: "/a"}}})
	assert.ErrorIs(t, err, ErrZxidOrder)
	_, err = tr.Exists("/a")
	assert.ErrorIs(t, err, ErrNoNode)
	_, _, err = tr.Apply(nil)
	assert.ErrorIs(t, err, ErrBadArguments)

	res, _, err := tr.Apply(&Txn{Zxid: 6, Kind: 99})
	require.NoError(t, err)
	assert.ErrorIs(t, res.Err, ErrBadArguments)
	res, _, err = tr.Apply(&Txn{Zxid: 7, Kind: TxnOps})
	require.NoError(t, err)
	assert.ErrorIs(t, res.Err, ErrBadArguments)
	assert.Equal(t, Zxid(7), tr.LastZxid())
}

func TestMulti(t *testing.T) {
	a := newApplier(t)
	a.mustCreate("/a", "x", ModePersistent)
	res, evs := a.txn(&Txn{Kind: TxnMulti, Ops: []Op{
		{Type: OpCreate, Path: "/a/b", Data: []byte("1")},
		{Type: OpCreate, Path: "/a/b/c"},
		{Type: OpSetData, Path: "/a/b", Data: []byte("22"), Version: 0},
		{Type: OpCheck, Path: "/a/b", Version: 1},
		{Type: OpCreate, Path: "/a/s", Mode: ModePersistentSequential},
		{Type: OpDelete, Path: "/a/b/c", Version: 0},
	}})
	require.NoError(t, res.Err)
	require.Len(t, res.Ops, 6)
	for _, r := range res.Ops {
		assert.NoError(t, r.Err)
	}
	assert.Equal(t, "/a/b", res.Ops[0].Path)
	assert.Equal(t, "/a/s0000000001", res.Ops[4].Path)
	assert.Equal(t, int32(1), res.Ops[2].Stat.Version)
	assert.Equal(t, "NodeCreated:/a/b NodeChildrenChanged:/a NodeCreated:/a/b/c NodeChildrenChanged:/a/b "+
		"NodeDataChanged:/a/b NodeCreated:/a/s0000000001 NodeChildrenChanged:/a "+
		"NodeDeleted:/a/b/c NodeChildrenChanged:/a/b", eventsString(evs))
	st, _ := a.tr.Exists("/a/b")
	assert.Equal(t, Stat{Czxid: 2, Mzxid: 2, Pzxid: 2, Ctime: a.now, Mtime: a.now, Version: 1, Cversion: 2, DataLength: 2}, st)
	require.NoError(t, checkInvariants(a.tr))

	// Empty multi: fine, nothing happens.
	res, evs = a.txn(&Txn{Kind: TxnMulti})
	require.NoError(t, res.Err)
	assert.Empty(t, res.Ops)
	assert.Empty(t, evs)
}

func TestMultiRollback(t *testing.T) {
	a := newApplier(t)
	a.session(3)
	a.mustCreate("/a", "x", ModePersistent)
	a.mustCreate("/a/old", "o", ModePersistent)
	a.mustCreate("/c", "", ModeContainer)
	a.mustCreate("/c/k", "", ModePersistent)
	a.mustCreate("/big", "", ModePersistent)
	for range 1300 { // enough children for several chunks
		a.mustCreate("/big/n", "", ModePersistentSequential)
	}
	tests := []struct {
		name   string
		ops    []Op
		failAt int
		err    error
	}{
		{"last op fails", []Op{
			{Type: OpCreate, Path: "/a/b", Data: []byte("1")},
			{Type: OpSetData, Path: "/a", Data: []byte("yy"), Version: AnyVersion},
			{Type: OpDelete, Path: "/a/old", Version: AnyVersion},
			{Type: OpCreate, Path: "/a/e", Mode: ModeEphemeral},
			{Type: OpCreate, Path: "/a/t", Mode: ModePersistentWithTTL, TTL: 5},
			{Type: OpDelete, Path: "/c/k", Version: AnyVersion},
			{Type: OpCreate, Path: "/big/m", Mode: ModePersistentSequential},
			{Type: OpDelete, Path: "/big/n0000000005", Version: AnyVersion},
			{Type: OpCheck, Path: "/a", Version: 0},
		}, 8, ErrBadVersion},
		{"middle op fails", []Op{
			{Type: OpCreate, Path: "/x"},
			{Type: OpCreate, Path: "/x/y"},
			{Type: OpCreate, Path: "/nope/y"},
			{Type: OpCreate, Path: "/z"},
			{Type: OpSetData, Path: "/a", Version: AnyVersion},
		}, 2, ErrNoNode},
		{"first op fails", []Op{
			{Type: OpDelete, Path: "/a", Version: AnyVersion},
			{Type: OpCreate, Path: "/z"},
		}, 0, ErrNotEmpty},
		{"create delete create", []Op{
			{Type: OpCreate, Path: "/r"},
			{Type: OpDelete, Path: "/r", Version: AnyVersion},
			{Type: OpCreate, Path: "/r", Data: []byte("again")},
			{Type: OpDelete, Path: "/a/old", Version: AnyVersion},
			{Type: OpCreate, Path: "/a/old", Mode: ModeContainer},
			{Type: OpCreate, Path: "/r", Data: []byte("exists")},
		}, 5, ErrNodeExists},
		{"bad arguments", []Op{
			{Type: OpCreate, Path: "/ok"},
			{Type: OpCreate, Path: "/bad/"},
		}, 1, ErrBadArguments},
		{"delete every big child then fail", bigDeletes(1300, Op{Type: OpCheck, Path: "/none", Version: AnyVersion}), 1300, ErrNoNode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, frozen := range []bool{false, true} {
				var f *Frozen
				if frozen {
					f = a.tr.Snapshot()
				}
				before := stateOf(a.tr)
				a.sess = 3
				res, evs := a.txn(&Txn{Kind: TxnMulti, Ops: tt.ops})
				a.sess = 0
				assert.ErrorIs(t, res.Err, tt.err)
				assert.Empty(t, evs)
				require.Len(t, res.Ops, len(tt.ops))
				for i, r := range res.Ops {
					assert.Equal(t, tt.ops[i].Type, r.Type)
					switch {
					case i < tt.failAt:
						assert.ErrorIs(t, r.Err, ErrRolledBack, "op %d", i)
					case i == tt.failAt:
						assert.ErrorIs(t, r.Err, tt.err, "op %d", i)
					default:
						assert.ErrorIs(t, r.Err, ErrRuntimeInconsistency, "op %d", i)
					}
				}
				after := stateOf(a.tr)
				assert.Equal(t, before.LastZxid+1, after.LastZxid)
				before.LastZxid = after.LastZxid
				assert.Equal(t, before, after, "a failed multi changes nothing")
				require.NoError(t, checkInvariants(a.tr))
				if f != nil {
					f.Release()
				}
			}
		})
	}
}

func bigDeletes(n int, last Op) []Op {
	var ops []Op
	for i := range n {
		ops = append(ops, Op{Type: OpDelete, Path: "/big/n" + pad10(i), Version: AnyVersion})
	}
	return append(ops, last)
}

func pad10(i int) string {
	s := "0000000000" + itoa(i)
	return s[len(s)-10:]
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestSessions(t *testing.T) {
	a := newApplier(t)
	a.session(0x20)
	a.session(0x10)
	s, ok := a.tr.Session(0x10)
	require.True(t, ok)
	assert.Equal(t, Session{ID: 0x10, Timeout: 10000, Password: []byte("pw0x10")}, s)
	s.Password[0] = 'X' // a copy
	s, _ = a.tr.Session(0x10)
	assert.Equal(t, byte('p'), s.Password[0])
	all := a.tr.Sessions()
	require.Len(t, all, 2)
	assert.Equal(t, SessionID(0x10), all[0].ID)
	assert.Equal(t, SessionID(0x20), all[1].ID)

	res, _ := a.txn(&Txn{Kind: TxnCreateSession})
	assert.ErrorIs(t, res.Err, ErrBadArguments)
	res, _ = a.txn(&Txn{Kind: TxnCloseSession, Session: 0x99})
	assert.ErrorIs(t, res.Err, ErrNoSession)
	res, evs := a.txn(&Txn{Kind: TxnNoop})
	require.NoError(t, res.Err)
	assert.Empty(t, evs)

	a.mustCreate("/app", "", ModePersistent)
	a.mustCreate("/other", "", ModePersistent)
	a.sess = 0x10
	a.mustCreate("/app/m1", "", ModeEphemeral)
	a.mustCreate("/app/m", "", ModeEphemeralSequential)
	a.mustCreate("/other/x", "", ModeEphemeral)
	a.sess = 0x20
	a.mustCreate("/app/z", "", ModeEphemeral)
	a.sess = 0
	st, _ := a.tr.Exists("/app/m1")
	assert.Equal(t, SessionID(0x10), st.EphemeralOwner)

	assert.Equal(t, []string{"/app/m0000000001", "/app/m1", "/other/x"}, a.tr.Ephemerals(0x10, ""))
	assert.Equal(t, []string{"/app/m0000000001", "/app/m1", "/other/x"}, a.tr.Ephemerals(0x10, "/"))
	assert.Equal(t, []string{"/app/m0000000001", "/app/m1"}, a.tr.Ephemerals(0x10, "/app"))
	assert.Equal(t, []string{"/app/m1"}, a.tr.Ephemerals(0x10, "/app/m1"))
	assert.Equal(t, []string{"/app/m0000000001", "/app/m1", "/app/z", "/other/x"}, a.tr.Ephemerals(0, ""))
	assert.Empty(t, a.tr.Ephemerals(0x30, ""))
	assert.NotNil(t, a.tr.Ephemerals(0x30, ""))

	res, evs = a.txn(&Txn{Kind: TxnCloseSession, Session: 0x10})
	require.NoError(t, res.Err)
	assert.Equal(t, "NodeDeleted:/app/m0000000001 NodeChildrenChanged:/app NodeDeleted:/app/m1 NodeChildrenChanged:/app "+
		"NodeDeleted:/other/x NodeChildrenChanged:/other", eventsString(evs))
	for _, e := range evs {
		assert.Equal(t, a.zxid, e.Zxid)
	}
	_, ok = a.tr.Session(0x10)
	assert.False(t, ok)
	assert.Empty(t, a.tr.Ephemerals(0x10, ""))
	assert.Equal(t, []string{"/app/z"}, a.tr.Ephemerals(0, ""))
	st, _ = a.tr.Exists("/app")
	assert.Equal(t, a.zxid, st.Pzxid)
	assert.Equal(t, int32(5), st.Cversion) // 3 creates, 2 deletes
	assert.Equal(t, int32(1), st.NumChildren)
	require.NoError(t, checkInvariants(a.tr))

	// Creating a session again replaces its row (ZooKeeper's behaviour).
	res, _ = a.txn(&Txn{Kind: TxnCreateSession, Session: 0x20, Timeout: 5})
	require.NoError(t, res.Err)
	s, _ = a.tr.Session(0x20)
	assert.Equal(t, int32(5), s.Timeout)
	assert.Equal(t, []string{"/app/z"}, a.tr.Ephemerals(0x20, ""))
}

func TestContainerAndTTL(t *testing.T) {
	a := newApplier(t)
	a.now = 1000
	a.mustCreate("/c", "", ModeContainer)
	r, _ := a.op(Op{Type: OpCreate, Path: "/t", Mode: ModePersistentWithTTL, TTL: 100})
	require.NoError(t, r.Err)
	assert.Equal(t, SessionID(0), r.Stat.EphemeralOwner)
	tMtime := r.Stat.Mtime

	// A fresh container never expires; a TTL node waits for its TTL.
	assert.Empty(t, a.tr.Expired(tMtime+100))
	assert.Equal(t, []Op{{Type: OpDeleteExpired, Path: "/t"}}, a.tr.Expired(tMtime+101))

	// A container expires once it had a child and has none.
	a.mustCreate("/c/x", "", ModePersistent)
	assert.Empty(t, a.tr.Expired(0))
	require.NoError(t, a.del("/c/x", AnyVersion).Err)
	assert.Equal(t, []Op{{Type: OpDeleteExpired, Path: "/c"}}, a.tr.Expired(0))
	assert.Equal(t, []Op{{Type: OpDeleteExpired, Path: "/c"}, {Type: OpDeleteExpired, Path: "/t"}}, a.tr.Expired(tMtime+101))

	// A TTL node with a child, or changed since, stays.
	a.mustCreate("/t/k", "", ModePersistent)
	assert.Equal(t, []Op{{Type: OpDeleteExpired, Path: "/c"}}, a.tr.Expired(tMtime+1000))
	res, _ := a.txn(&Txn{Kind: TxnOps, Time: tMtime + 1000, Ops: []Op{{Type: OpDeleteExpired, Path: "/t"}}})
	assert.ErrorIs(t, res.Err, ErrNotEmpty)
	require.NoError(t, a.del("/t/k", AnyVersion).Err)
	a.now = tMtime + 50
	require.NoError(t, a.set("/t", "touch", AnyVersion).Err)
	res, _ = a.txn(&Txn{Kind: TxnOps, Time: tMtime + 120, Ops: []Op{{Type: OpDeleteExpired, Path: "/t"}}})
	assert.ErrorIs(t, res.Err, ErrBadArguments, "the TTL runs from the last change")

	res, evs := a.txn(&Txn{Kind: TxnOps, Time: tMtime + 1000, Ops: []Op{{Type: OpDeleteExpired, Path: "/t"}}})
	require.NoError(t, res.Err)
	assert.Equal(t, "NodeDeleted:/t NodeChildrenChanged:/", eventsString(evs))
	res, evs = a.txn(&Txn{Kind: TxnOps, Ops: []Op{{Type: OpDeleteExpired, Path: "/c"}}})
	require.NoError(t, res.Err)
	assert.Equal(t, "NodeDeleted:/c NodeChildrenChanged:/", eventsString(evs))
	res, _ = a.txn(&Txn{Kind: TxnOps, Ops: []Op{{Type: OpDeleteExpired, Path: "/c"}}})
	assert.ErrorIs(t, res.Err, ErrNoNode)
	assert.Empty(t, a.tr.Expired(math.MaxInt64/2))
	assert.Equal(t, 1, a.tr.NodeCount())
	require.NoError(t, checkInvariants(a.tr))

	// Containers and TTL nodes may have children; ephemerals may not.
	a.mustCreate("/c2", "", ModeContainer)
	a.mustCreate("/c2/k", "", ModeContainer)
	require.NoError(t, checkInvariants(a.tr))
}

func TestChildrenPaging(t *testing.T) {
	a := newApplier(t)
	a.mustCreate("/d", "", ModePersistent)
	const n = 2000 // several chunks
	var want []string
	for i := n - 1; i >= 0; i-- { // reverse order: splits in the middle
		name := "k" + pad10(i*7)
		a.mustCreate("/d/"+name, "", ModePersistent)
	}
	for i := range n {
		want = append(want, "k"+pad10(i*7))
	}
	names, st, more, err := a.tr.Children("/d", "", 0)
	require.NoError(t, err)
	assert.False(t, more)
	assert.Equal(t, want, names)
	assert.Equal(t, int32(n), st.NumChildren)

	var got []string
	after := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 100)
		page, _, more, err := a.tr.Children("/d", after, 37)
		require.NoError(t, err)
		got = append(got, page...)
		if !more {
			break
		}
		assert.Len(t, page, 37)
		after = page[len(page)-1]
	}
	assert.Equal(t, want, got)

	// after need not be a child's name.
	page, _, more, err := a.tr.Children("/d", "k0000000008", 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"k0000000014", "k0000000021"}, page)
	assert.True(t, more)
	page, _, more, err = a.tr.Children("/d", "z", 2)
	require.NoError(t, err)
	assert.Empty(t, page)
	assert.False(t, more)
	page, _, more, err = a.tr.Children("/d", want[n-3], 2)
	require.NoError(t, err)
	assert.Equal(t, want[n-2:], page)
	assert.False(t, more)

	names, _, _, err = a.tr.Children("/d/"+want[0], "", 0)
	require.NoError(t, err)
	assert.NotNil(t, names)
	assert.Empty(t, names)
	_, _, _, err = a.tr.Children("/nope", "", 0)
	assert.ErrorIs(t, err, ErrNoNode)
	_, _, _, err = a.tr.Children("nope", "", 0)
	assert.ErrorIs(t, err, ErrBadArguments)

	// Delete every other one, then the rest, checking as we go.
	for i := 0; i < n; i += 2 {
		require.NoError(t, a.del("/d/"+want[i], AnyVersion).Err)
	}
	require.NoError(t, checkInvariants(a.tr))
	names, _, _, _ = a.tr.Children("/d", "", 0)
	assert.Len(t, names, n/2)
	for i := 1; i < n; i += 2 {
		require.NoError(t, a.del("/d/"+want[i], AnyVersion).Err)
	}
	require.NoError(t, checkInvariants(a.tr))
	st, _ = a.tr.Exists("/d")
	assert.Equal(t, int32(0), st.NumChildren)
	assert.Nil(t, a.tr.lookup("/d").ext.kids)
}

func TestCountDescendants(t *testing.T) {
	a := newApplier(t)
	for _, p := range []string{"/a", "/a/b", "/a/b/c", "/a/d", "/e"} {
		a.mustCreate(p, "", ModePersistent)
	}
	for _, tt := range []struct {
		path string
		n    int64
	}{{"/", 5}, {"/a", 3}, {"/a/b", 1}, {"/a/b/c", 0}, {"/e", 0}} {
		n, err := a.tr.CountDescendants(tt.path)
		require.NoError(t, err)
		assert.Equal(t, tt.n, n, tt.path)
	}
	_, err := a.tr.CountDescendants("/x")
	assert.ErrorIs(t, err, ErrNoNode)
}

func TestReadsValidate(t *testing.T) {
	tr := New(Config{})
	_, _, err := tr.Get("/a/")
	assert.ErrorIs(t, err, ErrBadArguments)
	_, err = tr.Exists("")
	assert.ErrorIs(t, err, ErrBadArguments)
	_, err = tr.CountDescendants("/..")
	assert.ErrorIs(t, err, ErrBadArguments)
	_, _, err = tr.Get("/a")
	assert.ErrorIs(t, err, ErrNoNode)
}

func TestGetReturnsCopy(t *testing.T) {
	a := newApplier(t)
	a.mustCreate("/a", "abc", ModePersistent)
	data, _, err := a.tr.Get("/a")
	require.NoError(t, err)
	data[0] = 'X'
	data, _, _ = a.tr.Get("/a")
	assert.Equal(t, "abc", string(data))
	// The op's data buffer is not kept either.
	buf := []byte("def")
	_, _ = a.op(Op{Type: OpSetData, Path: "/a", Data: buf, Version: AnyVersion})
	buf[0] = 'X'
	data, _, _ = a.tr.Get("/a")
	assert.Equal(t, "def", string(data))
}

// TestDigestHistoryFree: the same nodes reached by different histories give
// the same digest; any difference in a node changes it.
func TestDigestHistoryFree(t *testing.T) {
	build := func(junk bool) *Tree {
		a := newApplier(t)
		a.mustCreate("/a", "1", ModePersistent)
		if junk {
			r, _ := a.txn(&Txn{Kind: TxnMulti, Ops: []Op{{Type: OpCreate, Path: "/j"}, {Type: OpCreate, Path: "/j"}}})
			require.Error(t, r.Err)
			a.txn(&Txn{Kind: TxnNoop})
		} else {
			a.zxid += 2
			a.now += 2
		}
		a.mustCreate("/b", "2", ModePersistent)
		return a.tr
	}
	t1, t2 := build(false), build(true)
	assert.Equal(t, dump(t1), dump(t2))
	assert.Equal(t, t1.Digest(), t2.Digest())

	a := newApplier(t)
	a.mustCreate("/a", "1", ModePersistent)
	d := a.tr.Digest()
	a.set("/a", "1", AnyVersion)
	assert.NotEqual(t, d, a.tr.Digest(), "version and mzxid are in the digest")
}
