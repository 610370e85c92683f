package ensemble

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

func TestConfigDefaults(t *testing.T) {
	cfg, err := Config{DataDir: "x"}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, DefaultClientAddr, cfg.ClientAddr)
	assert.Equal(t, 2*time.Second, cfg.TickTime)
	assert.Equal(t, 4*time.Second, cfg.MinSessionTimeout)
	assert.Equal(t, 40*time.Second, cfg.MaxSessionTimeout)
	assert.Equal(t, wire.DefaultMaxFrame, cfg.MaxFrame)
	assert.Equal(t, 1<<20, cfg.MaxDataBytes)
	assert.Equal(t, 60, cfg.MaxConnsPerIP)
	assert.Equal(t, 1000, cfg.MaxOutstanding)
	assert.Equal(t, 100000, cfg.SnapshotEvery)
	assert.Equal(t, 3, cfg.SnapshotRetain)
	assert.NotNil(t, cfg.FS)
	assert.NotNil(t, cfg.Logger)

	for name, bad := range map[string]Config{
		"no data dir":     {},
		"server id":       {DataDir: "x", ServerID: 256},
		"timeout bounds":  {DataDir: "x", MinSessionTimeout: time.Second, MaxSessionTimeout: time.Millisecond},
		"frame too small": {DataDir: "x", MaxFrame: 1 << 20},
		"negative":        {DataDir: "x", MaxOutstanding: -1},
	} {
		_, err := New(bad)
		assert.ErrorIs(t, err, ErrConfig, name)
	}
}

func TestStartStopTwice(t *testing.T) {
	s, err := New(testConfig(t))
	require.NoError(t, err)
	require.ErrorIs(t, s.Stop(context.Background()), ErrNotStarted)
	require.Nil(t, s.Addr())
	require.NoError(t, s.Start(context.Background()))
	require.ErrorIs(t, s.Start(context.Background()), ErrStarted)
	require.NotNil(t, s.Addr())
	require.NoError(t, s.Stop(context.Background()))
	require.ErrorIs(t, s.Stop(context.Background()), ErrNotStarted)
}

func TestCRUD(t *testing.T) {
	s := startServer(t, testConfig(t))
	c := newSession(t, s.Addr(), 5*time.Second)

	// create, get, exists
	resp := c.call(wire.Request{Op: wire.OpCreate, Path: "/a", Data: []byte("one")})
	require.Equal(t, wire.CodeOK, resp.Code, resp.Message)
	assert.Equal(t, "/a", resp.Path)
	require.NotNil(t, resp.Stat)
	assert.Equal(t, resp.Zxid, resp.Stat.Czxid, "reply zxid is the last applied one")
	resp = c.call(wire.Request{Op: wire.OpGetData, Path: "/a"})
	require.Equal(t, wire.CodeOK, resp.Code)
	assert.Equal(t, "one", string(resp.Data))
	assert.Equal(t, int32(0), resp.Stat.Version)
	resp = c.call(wire.Request{Op: wire.OpExists, Path: "/a"})
	require.Equal(t, wire.CodeOK, resp.Code)
	require.NotNil(t, resp.Stat)

	// errors
	cases := []struct {
		name string
		req  wire.Request
		code wire.Code
	}{
		{"create exists", wire.Request{Op: wire.OpCreate, Path: "/a"}, wire.CodeNodeExists},
		{"create no parent", wire.Request{Op: wire.OpCreate, Path: "/x/y"}, wire.CodeNoNode},
		{"get missing", wire.Request{Op: wire.OpGetData, Path: "/nope"}, wire.CodeNoNode},
		{"exists missing", wire.Request{Op: wire.OpExists, Path: "/nope"}, wire.CodeNoNode},
		{"set bad version", wire.Request{Op: wire.OpSetData, Path: "/a", Version: 7}, wire.CodeBadVersion},
		{"delete missing", wire.Request{Op: wire.OpDelete, Path: "/nope", Version: -1}, wire.CodeNoNode},
		{"check bad version", wire.Request{Op: wire.OpCheck, Path: "/a", Version: 3}, wire.CodeBadVersion},
		{"invalid path", wire.Request{Op: wire.OpCreate, Path: "a/b"}, wire.CodeBadArguments},
		{"trailing slash", wire.Request{Op: wire.OpGetData, Path: "/a/"}, wire.CodeBadArguments},
		{"bad mode", wire.Request{Op: wire.OpCreate, Path: "/m", Mode: 42}, wire.CodeBadArguments},
		{"ttl without ttl mode", wire.Request{Op: wire.OpCreate, Path: "/m", TTL: 5}, wire.CodeBadArguments},
		{"ttl mode without ttl", wire.Request{Op: wire.OpCreate, Path: "/m", Mode: tree.ModePersistentWithTTL}, wire.CodeBadArguments},
		{"children missing", wire.Request{Op: wire.OpGetChildren, Path: "/nope"}, wire.CodeNoNode},
		{"count missing", wire.Request{Op: wire.OpCountChildren, Path: "/nope"}, wire.CodeNoNode},
	}
	for _, tc := range cases {
		resp := c.call(tc.req)
		assert.Equal(t, tc.code, resp.Code, "%s: %s", tc.name, resp.Message)
		assert.ErrorIs(t, resp.Code.Err(resp.Message), tc.code.Err(""), tc.name)
	}

	// set, conditional
	resp = c.call(wire.Request{Op: wire.OpSetData, Path: "/a", Data: []byte("two"), Version: 0})
	require.Equal(t, wire.CodeOK, resp.Code)
	assert.Equal(t, int32(1), resp.Stat.Version)
	resp = c.call(wire.Request{Op: wire.OpCheck, Path: "/a", Version: 1})
	require.Equal(t, wire.CodeOK, resp.Code)

	// children, sequential, ephemeral
	c.create("/a/b", nil, tree.ModePersistent)
	seq := c.create("/a/s-", nil, tree.ModePersistentSequential)
	assert.Equal(t, "/a/s-0000000001", seq)
	eph := c.create("/a/e", nil, tree.ModeEphemeral)
	resp = c.call(wire.Request{Op: wire.OpCreate, Path: "/a/e/x"})
	assert.Equal(t, wire.CodeNoChildrenForEphemeral, resp.Code)
	resp = c.call(wire.Request{Op: wire.OpGetChildren, Path: "/a"})
	require.Equal(t, wire.CodeOK, resp.Code)
	assert.Equal(t, []string{"b", "e", "s-0000000001"}, resp.Children)
	assert.False(t, resp.More)
	assert.Equal(t, int32(3), resp.Stat.NumChildren)
	resp = c.call(wire.Request{Op: wire.OpCountChildren, Path: "/a"})
	assert.Equal(t, int64(3), resp.Count)
	resp = c.call(wire.Request{Op: wire.OpGetEphemerals, Path: "/"})
	assert.Equal(t, []string{eph}, resp.Children)

	// delete: not empty, then leaves first
	resp = c.call(wire.Request{Op: wire.OpDelete, Path: "/a", Version: -1})
	assert.Equal(t, wire.CodeNotEmpty, resp.Code)
	for _, p := range []string{"/a/b", seq, eph, "/a"} {
		resp = c.call(wire.Request{Op: wire.OpDelete, Path: p, Version: -1})
		assert.Equal(t, wire.CodeOK, resp.Code, p)
	}

	// multi: success, then a failing one that changes nothing
	resp = c.call(wire.Request{Op: wire.OpMulti, Ops: []tree.Op{
		{Type: tree.OpCreate, Path: "/m"},
		{Type: tree.OpCreate, Path: "/m/1", Data: []byte("x")},
		{Type: tree.OpSetData, Path: "/m", Data: []byte("y"), Version: -1},
	}})
	require.Equal(t, wire.CodeOK, resp.Code, resp.Message)
	require.Len(t, resp.Results, 3)
	assert.Equal(t, "/m/1", resp.Results[1].Path)
	assert.Equal(t, int32(1), resp.Results[2].Stat.Version)
	resp = c.call(wire.Request{Op: wire.OpMulti, Ops: []tree.Op{
		{Type: tree.OpCreate, Path: "/m/2"},
		{Type: tree.OpCheck, Path: "/m", Version: 9},
		{Type: tree.OpDelete, Path: "/m/1", Version: -1},
	}})
	assert.Equal(t, wire.CodeBadVersion, resp.Code)
	require.Len(t, resp.Results, 3)
	assert.Equal(t, wire.CodeRolledBack, resp.Results[0].Code)
	assert.Equal(t, wire.CodeBadVersion, resp.Results[1].Code)
	assert.Equal(t, wire.CodeRuntimeInconsistency, resp.Results[2].Code)
	resp = c.call(wire.Request{Op: wire.OpExists, Path: "/m/2"})
	assert.Equal(t, wire.CodeNoNode, resp.Code, "a failed multi changes nothing")
	resp = c.call(wire.Request{Op: wire.OpMulti, Ops: []tree.Op{{Type: tree.OpDeleteExpired, Path: "/m"}}})
	assert.Equal(t, wire.CodeBadArguments, resp.Code, "clients may not propose OpDeleteExpired")

	// ping, sync, linearized read, unknown op (connection stays)
	assert.Equal(t, wire.CodeOK, c.call(wire.Request{Op: wire.OpPing}).Code)
	resp = c.call(wire.Request{Op: wire.OpSync, Path: "/m"})
	assert.Equal(t, wire.CodeOK, resp.Code)
	assert.Equal(t, "/m", resp.Path)
	resp = c.call(wire.Request{Op: wire.OpLinearizedRead, Path: "/m"})
	require.Equal(t, wire.CodeOK, resp.Code)
	assert.Equal(t, "y", string(resp.Data))
	resp = c.call(wire.Request{Op: 200})
	assert.Equal(t, wire.CodeUnimplemented, resp.Code)
	assert.Equal(t, wire.CodeOK, c.call(wire.Request{Op: wire.OpPing}).Code)

	st := s.Status()
	assert.Equal(t, "standalone", st.Role)
	assert.Equal(t, 1, st.Sessions)
	assert.Equal(t, 1, st.Connections)
	assert.Equal(t, 3, st.Nodes) // "/", "/m", "/m/1"
	assert.Equal(t, resp.Zxid, st.LastZxid)
	assert.NotZero(t, st.Digest)
}

// TestPipelinedFIFO sends many writes and reads without waiting: replies
// come back in request order and each read sees the writes before it.
func TestPipelinedFIFO(t *testing.T) {
	s := startServer(t, testConfig(t))
	c := newSession(t, s.Addr(), 5*time.Second)
	c.create("/p", nil, tree.ModePersistent)
	var xids []int64
	for i := range 200 {
		xids = append(xids, c.send(wire.Request{Op: wire.OpSetData, Path: "/p", Data: fmt.Appendf(nil, "%d", i), Version: -1}))
		xids = append(xids, c.send(wire.Request{Op: wire.OpGetData, Path: "/p"}))
	}
	for i, xid := range xids {
		resp := c.reply(xid)
		require.Equal(t, wire.CodeOK, resp.Code)
		if i%2 == 1 {
			assert.Equal(t, fmt.Sprint(i/2), string(resp.Data), "a read sees the write sent before it")
		}
	}
}

// TestWatchBeforeReply: the event a write causes reaches every watcher,
// the writer included, before the writer's reply.
func TestWatchBeforeReply(t *testing.T) {
	s := startServer(t, testConfig(t))
	a := newSession(t, s.Addr(), 5*time.Second)
	b := newSession(t, s.Addr(), 5*time.Second)
	a.create("/w", nil, tree.ModePersistent)

	require.Equal(t, wire.CodeOK, a.call(wire.Request{Op: wire.OpGetData, Path: "/w", Watch: true}).Code)
	require.Equal(t, wire.CodeOK, b.call(wire.Request{Op: wire.OpGetChildren, Path: "/w", Watch: true}).Code)
	require.Equal(t, wire.CodeNoNode, b.call(wire.Request{Op: wire.OpExists, Path: "/w/c", Watch: true}).Code)
	assert.Equal(t, 3, s.Status().Watches)

	a.seq = nil
	resp := a.call(wire.Request{Op: wire.OpSetData, Path: "/w", Data: []byte("x"), Version: -1})
	require.Equal(t, wire.CodeOK, resp.Code)
	assert.Equal(t, []string{"event:/w", "reply"}, a.seq, "the event comes before the reply")
	ev := a.event()
	assert.Equal(t, tree.Event{Type: tree.EventNodeDataChanged, Path: "/w", Zxid: resp.Zxid}, ev)

	// b's watches: created /w/c then children changed /w, in that order.
	resp = a.call(wire.Request{Op: wire.OpCreate, Path: "/w/c"})
	require.Equal(t, wire.CodeOK, resp.Code)
	ev1, ev2 := b.event(), b.event()
	assert.Equal(t, tree.Event{Type: tree.EventNodeCreated, Path: "/w/c", Zxid: resp.Zxid}, ev1)
	assert.Equal(t, tree.Event{Type: tree.EventNodeChildrenChanged, Path: "/w", Zxid: resp.Zxid}, ev2)
	// One-shot: gone now.
	assert.Equal(t, 0, s.Status().Watches)

	// A read on b after the write has been applied sees it, and b got the
	// events before that read's reply.
	resp = b.call(wire.Request{Op: wire.OpGetData, Path: "/w/c"})
	require.Equal(t, wire.CodeOK, resp.Code)
}

func TestPersistentWatchesAndRemove(t *testing.T) {
	s := startServer(t, testConfig(t))
	c := newSession(t, s.Addr(), 5*time.Second)
	w := newSession(t, s.Addr(), 5*time.Second)
	c.create("/r", nil, tree.ModePersistent)

	require.Equal(t, wire.CodeOK, w.call(wire.Request{Op: wire.OpAddWatch, Path: "/r", WatchMode: wire.WatchPersistentRecursive}).Code)
	require.Equal(t, wire.CodeBadArguments, w.call(wire.Request{Op: wire.OpAddWatch, Path: "/r", WatchMode: 9}).Code)
	for i := range 3 {
		c.create(fmt.Sprintf("/r/%d", i), nil, tree.ModePersistent)
	}
	for i := range 3 {
		ev := w.event()
		assert.Equal(t, tree.EventNodeCreated, ev.Type)
		assert.Equal(t, fmt.Sprintf("/r/%d", i), ev.Path)
	}
	resp := w.call(wire.Request{Op: wire.OpRemoveWatches, Path: "/r", WatchType: wire.WatchTypeAny})
	require.Equal(t, wire.CodeOK, resp.Code)
	resp = w.call(wire.Request{Op: wire.OpRemoveWatches, Path: "/r", WatchType: wire.WatchTypeAny})
	require.Equal(t, wire.CodeNoWatcher, resp.Code)
	require.ErrorIs(t, resp.Code.Err(resp.Message), wire.ErrNoWatcher)
	resp = w.call(wire.Request{Op: wire.OpRemoveWatches, Path: "/r", WatchType: wire.WatchTypeData})
	require.Equal(t, wire.CodeNoWatcher, resp.Code)

	// A data watch removed by type.
	require.Equal(t, wire.CodeOK, w.call(wire.Request{Op: wire.OpGetData, Path: "/r", Watch: true}).Code)
	require.Equal(t, wire.CodeNoWatcher, w.call(wire.Request{Op: wire.OpRemoveWatches, Path: "/r", WatchType: wire.WatchTypeChildren}).Code)
	require.Equal(t, wire.CodeOK, w.call(wire.Request{Op: wire.OpRemoveWatches, Path: "/r", WatchType: wire.WatchTypeData}).Code)
	c.call(wire.Request{Op: wire.OpSetData, Path: "/r", Version: -1})
	w.call(wire.Request{Op: wire.OpPing})
	assert.Empty(t, w.events, "no event after the watch was removed")
}

// TestSetWatches: after a reconnect, watches whose node changed since the
// client's zxid fire at once; the others are re-registered.
func TestSetWatches(t *testing.T) {
	s := startServer(t, testConfig(t))
	c := newSession(t, s.Addr(), 5*time.Second)
	for _, p := range []string{"/same", "/changed", "/gone", "/kids", "/quiet", "/pers"} {
		c.create(p, nil, tree.ModePersistent)
	}
	rel := c.call(wire.Request{Op: wire.OpPing}).Zxid
	c.call(wire.Request{Op: wire.OpSetData, Path: "/changed", Data: []byte("x"), Version: -1})
	c.call(wire.Request{Op: wire.OpDelete, Path: "/gone", Version: -1})
	c.create("/kids/k", nil, tree.ModePersistent)
	c.create("/born", nil, tree.ModePersistent)

	w := newSession(t, s.Addr(), 5*time.Second)
	resp := w.call(wire.Request{Op: wire.OpSetWatches, RelZxid: rel, Watches: &wire.WatchSet{
		Data:       []string{"/same", "/changed", "/gone"},
		Exist:      []string{"/born", "/unborn"},
		Child:      []string{"/kids", "/quiet"},
		Persistent: []string{"/pers"},
	}})
	require.Equal(t, wire.CodeOK, resp.Code)
	got := map[string]tree.EventType{}
	for _, ev := range w.events {
		got[ev.Path] = ev.Type
	}
	assert.Equal(t, map[string]tree.EventType{
		"/changed": tree.EventNodeDataChanged,
		"/gone":    tree.EventNodeDeleted,
		"/born":    tree.EventNodeCreated,
		"/kids":    tree.EventNodeChildrenChanged,
	}, got)
	w.events = nil
	// Re-registered: /same (data), /unborn (exist), /quiet (child), /pers.
	assert.Equal(t, 4, s.Status().Watches)
	c.create("/unborn", nil, tree.ModePersistent)
	ev := w.event()
	assert.Equal(t, tree.EventNodeCreated, ev.Type)
	assert.Equal(t, "/unborn", ev.Path)
	c.call(wire.Request{Op: wire.OpSetData, Path: "/pers", Version: -1})
	ev = w.event()
	assert.Equal(t, tree.Event{Type: tree.EventNodeDataChanged, Path: "/pers", Zxid: ev.Zxid}, ev)
}

func TestGetChildrenPaging(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxDataBytes = 1 << 10
	cfg.MaxFrame = 8 << 10
	s := startServer(t, cfg)
	c := newSession(t, s.Addr(), 5*time.Second)
	c.create("/big", nil, tree.ModePersistent)
	const n = 1500
	var want []string
	var xids []int64
	for i := range n {
		name := fmt.Sprintf("child-%06d", i)
		want = append(want, name)
		xids = append(xids, c.send(wire.Request{Op: wire.OpCreate, Path: "/big/" + name}))
	}
	for _, x := range xids {
		require.Equal(t, wire.CodeOK, c.reply(x).Code)
	}
	var got []string
	after, pages := "", 0
	for {
		resp := c.call(wire.Request{Op: wire.OpGetChildren, Path: "/big", After: after})
		require.Equal(t, wire.CodeOK, resp.Code)
		require.NotEmpty(t, resp.Children)
		got = append(got, resp.Children...)
		pages++
		if !resp.More {
			break
		}
		after = resp.Children[len(resp.Children)-1]
	}
	assert.Equal(t, want, got)
	assert.Greater(t, pages, 2, "the reply was paged under the frame cap")
	resp := c.call(wire.Request{Op: wire.OpGetChildren, Path: "/big", Max: 10})
	assert.Len(t, resp.Children, 10)
	assert.True(t, resp.More)
}

// TestSessionExpiry: a session that stops pinging expires; its ephemerals
// go in one txn and their watches fire; resuming it fails.
func TestSessionExpiry(t *testing.T) {
	s := startServer(t, testConfig(t))
	dying := newSession(t, s.Addr(), 100*time.Millisecond)
	watcher := newSession(t, s.Addr(), 10*time.Second)
	dying.create("/eph1", nil, tree.ModeEphemeral)
	dying.create("/eph2", nil, tree.ModeEphemeral)
	require.Equal(t, wire.CodeOK, watcher.call(wire.Request{Op: wire.OpExists, Path: "/eph1", Watch: true}).Code)
	require.Equal(t, wire.CodeOK, watcher.call(wire.Request{Op: wire.OpGetData, Path: "/eph2", Watch: true}).Code)
	before := s.Status().LastZxid

	// Stop talking: the server closes the connection when the session expires.
	require.True(t, dying.closed())
	ev1, ev2 := watcher.event(), watcher.event()
	assert.Equal(t, tree.EventNodeDeleted, ev1.Type)
	assert.Equal(t, tree.EventNodeDeleted, ev2.Type)
	assert.ElementsMatch(t, []string{"/eph1", "/eph2"}, []string{ev1.Path, ev2.Path})
	assert.Equal(t, ev1.Zxid, ev2.Zxid, "one txn removes every ephemeral")
	assert.Equal(t, before+1, ev1.Zxid)
	assert.Equal(t, 1, s.Status().Sessions)

	again := dialRaw(t, s.Addr())
	resp := again.connect(wire.ConnectRequest{ProtocolVersion: wire.ProtocolVersion, SessionID: dying.sess, Password: dying.pw})
	assert.Equal(t, wire.CodeSessionExpired, resp.Code)
	assert.True(t, again.closed())
}

// TestPingsKeepSessionAlive: a session that keeps talking outlives its
// timeout many times over.
func TestPingsKeepSessionAlive(t *testing.T) {
	s := startServer(t, testConfig(t))
	c := newSession(t, s.Addr(), 100*time.Millisecond)
	c.create("/alive", nil, tree.ModeEphemeral)
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		require.Equal(t, wire.CodeOK, c.call(wire.Request{Op: wire.OpPing}).Code)
		require.Equal(t, wire.CodeOK, c.call(wire.Request{Op: wire.OpExists, Path: "/alive"}).Code)
	}
}

func TestCloseSession(t *testing.T) {
	s := startServer(t, testConfig(t))
	c := newSession(t, s.Addr(), 5*time.Second)
	w := newSession(t, s.Addr(), 5*time.Second)
	c.create("/e", nil, tree.ModeEphemeral)
	require.Equal(t, wire.CodeOK, w.call(wire.Request{Op: wire.OpExists, Path: "/e", Watch: true}).Code)
	resp := c.call(wire.Request{Op: wire.OpCloseSession})
	assert.Equal(t, wire.CodeOK, resp.Code)
	assert.True(t, c.closed())
	ev := w.event()
	assert.Equal(t, tree.EventNodeDeleted, ev.Type)
	assert.Equal(t, 1, s.Status().Sessions)
	again := dialRaw(t, s.Addr())
	assert.Equal(t, wire.CodeSessionExpired,
		again.connect(wire.ConnectRequest{ProtocolVersion: wire.ProtocolVersion, SessionID: c.sess, Password: c.pw}).Code)
}

// TestResumeMovesSession: resuming a session on a new connection closes the
// old one; a connection drop does not end the session; the new connection
// starts without the old one's watches.
func TestResumeMovesSession(t *testing.T) {
	s := startServer(t, testConfig(t))
	a := newSession(t, s.Addr(), 5*time.Second)
	a.create("/mine", nil, tree.ModeEphemeral)
	require.Equal(t, wire.CodeOK, a.call(wire.Request{Op: wire.OpGetData, Path: "/mine", Watch: true}).Code)

	b := dialRaw(t, s.Addr())
	resp := b.connect(wire.ConnectRequest{ProtocolVersion: wire.ProtocolVersion, SessionID: a.sess, Password: a.pw, LastZxidSeen: 1})
	require.Equal(t, wire.CodeOK, resp.Code)
	assert.Equal(t, a.sess, resp.SessionID)
	assert.Equal(t, int32(5000), resp.Timeout)
	assert.True(t, a.closed(), "the old connection is closed")
	require.Eventually(t, func() bool { return s.Status().Watches == 0 && s.Status().Connections == 1 },
		5*time.Second, 5*time.Millisecond)
	resp2 := b.call(wire.Request{Op: wire.OpGetEphemerals})
	assert.Equal(t, []string{"/mine"}, resp2.Children)

	// Drop b without closing the session: it lives on.
	require.NoError(t, b.nc.Close())
	c := dialRaw(t, s.Addr())
	require.Equal(t, wire.CodeOK, c.connect(wire.ConnectRequest{ProtocolVersion: wire.ProtocolVersion, SessionID: a.sess, Password: a.pw}).Code)
	assert.Equal(t, wire.CodeOK, c.call(wire.Request{Op: wire.OpExists, Path: "/mine"}).Code)
}

func TestStaleServerRefused(t *testing.T) {
	s := startServer(t, testConfig(t))
	c := dialRaw(t, s.Addr())
	resp := c.connect(wire.ConnectRequest{ProtocolVersion: wire.ProtocolVersion, LastZxidSeen: tree.MakeZxid(5, 1)})
	assert.Equal(t, wire.CodeStaleServer, resp.Code)
	assert.True(t, c.closed())
}

func TestSessionTimeoutClamped(t *testing.T) {
	cfg := testConfig(t)
	cfg.MinSessionTimeout, cfg.MaxSessionTimeout = time.Second, 3*time.Second
	s := startServer(t, cfg)
	for req, want := range map[int32]int32{1: 1000, 2000: 2000, 99999: 3000} {
		c := dialRaw(t, s.Addr())
		resp := c.connect(wire.ConnectRequest{ProtocolVersion: wire.ProtocolVersion, Timeout: req})
		require.Equal(t, wire.CodeOK, resp.Code)
		assert.Equal(t, want, resp.Timeout)
		assert.Len(t, resp.Password, 16)
		assert.Equal(t, uint64(0), uint64(resp.SessionID)>>56, "server id 0 in the top byte")
	}
}

func TestSessionIDsHaveServerID(t *testing.T) {
	cfg := testConfig(t)
	cfg.ServerID = 7
	s := startServer(t, cfg)
	seen := map[tree.SessionID]bool{}
	for range 5 {
		c := newSession(t, s.Addr(), time.Second)
		assert.Equal(t, uint64(7), uint64(c.sess)>>56)
		assert.False(t, seen[c.sess])
		seen[c.sess] = true
	}
}

func TestTooManyConnections(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConnsPerIP = 2
	s := startServer(t, cfg)
	a := newSession(t, s.Addr(), 5*time.Second)
	_ = newSession(t, s.Addr(), 5*time.Second)
	c := dialRaw(t, s.Addr())
	resp := c.connect(wire.ConnectRequest{ProtocolVersion: wire.ProtocolVersion})
	assert.Equal(t, wire.CodeTooManyConnections, resp.Code)
	assert.True(t, c.closed())
	assert.Equal(t, wire.CodeOK, a.call(wire.Request{Op: wire.OpPing}).Code)
	// Closing one frees a slot.
	require.NoError(t, a.nc.Close())
	require.Eventually(t, func() bool { return s.Status().Connections == 1 }, 5*time.Second, 5*time.Millisecond)
	newSession(t, s.Addr(), 5*time.Second)
}

// TestOutstandingBackpressure: with a small MaxOutstanding, a client that
// pipelines far more requests than the cap gets every reply, in order.
func TestOutstandingBackpressure(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxOutstanding = 4
	s := startServer(t, cfg)
	c := newSession(t, s.Addr(), 5*time.Second)
	c.create("/bp", nil, tree.ModePersistent)
	done := make(chan []int64)
	go func() {
		var xids []int64
		for i := range 300 {
			req := wire.Request{Xid: int64(1000 + i), Op: wire.OpGetData, Path: "/bp"}
			if i%3 == 0 {
				req = wire.Request{Xid: int64(1000 + i), Op: wire.OpSetData, Path: "/bp", Version: -1}
			}
			b, err := wire.AppendRequest(nil, &req)
			if err != nil {
				panic(err)
			}
			if err := wire.WriteFrame(c.nc, b); err != nil {
				panic(err)
			}
			xids = append(xids, req.Xid)
		}
		done <- xids
	}()
	for i := range 300 {
		resp, ok := c.recv()
		require.True(t, ok)
		require.Equal(t, int64(1000+i), resp.Xid)
		require.Equal(t, wire.CodeOK, resp.Code)
	}
	<-done
}

// TestBadInput: each kind of bad input gets a clear error or a closed
// connection, and a well-behaved client keeps working throughout.
func TestBadInput(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxDataBytes = 1 << 10
	cfg.MaxFrame = 64 << 10
	s := startServer(t, cfg)
	good := newSession(t, s.Addr(), 10*time.Second)
	good.create("/ok", nil, tree.ModePersistent)
	victim := newSession(t, s.Addr(), 10*time.Second)

	frame := func(body []byte) []byte {
		out := []byte{byte(len(body) >> 24), byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
		return append(out, body...)
	}
	connectBody, _ := wire.AppendConnectRequest(nil, &wire.ConnectRequest{ProtocolVersion: wire.ProtocolVersion, Timeout: 5000})
	getBody, _ := wire.AppendRequest(nil, &wire.Request{Xid: 1, Op: wire.OpGetData, Path: "/ok"})

	type outcome struct {
		code   wire.Code // the code of the first frame back (connect or reply)
		closed bool      // the server closes the connection
	}
	cases := []struct {
		name      string
		handshake bool   // open a session first
		raw       []byte // bytes sent as they are
		req       *wire.Request
		connect   *wire.ConnectRequest
		want      outcome
	}{
		{name: "2 GiB length claim before handshake", raw: []byte{0x80, 0, 0, 0}, want: outcome{wire.CodeFrameTooLarge, true}},
		{name: "2 GiB length claim", handshake: true, raw: []byte{0x7f, 0xff, 0xff, 0xff, 1, 2, 3}, want: outcome{wire.CodeFrameTooLarge, true}},
		{name: "frame over the cap", handshake: true, raw: frame(make([]byte, 65<<10)), want: outcome{wire.CodeFrameTooLarge, true}},
		{name: "empty frame", handshake: true, raw: []byte{0, 0, 0, 0}, want: outcome{wire.CodeMarshalling, true}},
		{name: "malformed body", handshake: true, raw: frame([]byte{0xdd, 0x7f, 0xff, 0xff, 0xff}), want: outcome{wire.CodeMarshalling, true}},
		{name: "garbage body", handshake: true, raw: frame([]byte("hello, world")), want: outcome{wire.CodeMarshalling, true}},
		{name: "malformed connect", raw: frame([]byte{0xc1}), want: outcome{wire.CodeMarshalling, true}},
		{name: "request before handshake", raw: frame(getBody), want: outcome{wire.CodeBadProtocol, true}},
		{name: "wrong protocol version", connect: &wire.ConnectRequest{ProtocolVersion: 99}, want: outcome{wire.CodeBadProtocol, true}},
		{name: "wrong password", connect: &wire.ConnectRequest{ProtocolVersion: wire.ProtocolVersion, SessionID: victim.sess, Password: []byte("nope")}, want: outcome{wire.CodeAuthFailed, true}},
		{name: "unknown session", connect: &wire.ConnectRequest{ProtocolVersion: wire.ProtocolVersion, SessionID: 12345, Password: []byte("x")}, want: outcome{wire.CodeSessionExpired, true}},
		{name: "invalid path", handshake: true, req: &wire.Request{Op: wire.OpCreate, Path: "/bad//path"}, want: outcome{wire.CodeBadArguments, false}},
		{name: "control character in path", handshake: true, req: &wire.Request{Op: wire.OpCreate, Path: "/bad\x01"}, want: outcome{wire.CodeBadArguments, false}},
		{name: "dot segment", handshake: true, req: &wire.Request{Op: wire.OpGetData, Path: "/a/../b"}, want: outcome{wire.CodeBadArguments, false}},
		{name: "over-limit payload", handshake: true, req: &wire.Request{Op: wire.OpCreate, Path: "/big", Data: make([]byte, 2<<10)}, want: outcome{wire.CodeBadArguments, false}},
		{name: "over-limit payload in multi", handshake: true, req: &wire.Request{Op: wire.OpMulti, Ops: []tree.Op{{Type: tree.OpSetData, Path: "/ok", Data: make([]byte, 2<<10)}}}, want: outcome{wire.CodeBadArguments, false}},
		{name: "unknown op", handshake: true, req: &wire.Request{Op: 99, Path: "/ok"}, want: outcome{wire.CodeUnimplemented, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, s.Addr())
			var code wire.Code
			switch {
			case tc.connect != nil:
				code = c.connect(*tc.connect).Code
			default:
				if tc.handshake {
					_, err := c.nc.Write(frame(connectBody))
					require.NoError(t, err)
					var cr wire.ConnectResponse
					require.NoError(t, wire.DecodeConnectResponse(c.readFrame(), &cr))
					require.Equal(t, wire.CodeOK, cr.Code)
				}
				if tc.req != nil {
					code = c.call(*tc.req).Code
				} else {
					_, err := c.nc.Write(tc.raw)
					require.NoError(t, err)
					body := c.readFrame()
					require.NotNil(t, body, "expected an error frame before the close")
					if tc.handshake {
						var resp wire.Response
						require.NoError(t, wire.DecodeResponse(body, &resp))
						code = resp.Code
					} else {
						var resp wire.ConnectResponse
						require.NoError(t, wire.DecodeConnectResponse(body, &resp))
						code = resp.Code
					}
				}
			}
			assert.Equal(t, tc.want.code, code)
			if tc.want.closed {
				assert.True(t, c.closed(), "connection closed")
			} else {
				assert.Equal(t, wire.CodeOK, c.call(wire.Request{Op: wire.OpPing}).Code, "connection stays usable")
			}
			// Everyone else is still served.
			resp := good.call(wire.Request{Op: wire.OpSetData, Path: "/ok", Data: []byte(tc.name), Version: -1})
			require.Equal(t, wire.CodeOK, resp.Code)
		})
	}
	assert.Equal(t, wire.CodeOK, victim.call(wire.Request{Op: wire.OpPing}).Code, "a wrong password does not hurt the session")
}

// TestHandshakeTimeoutIsPerConnection: a connection that never handshakes
// does not block others.
func TestIdleConnectionDoesNotBlock(t *testing.T) {
	s := startServer(t, testConfig(t))
	idle := dialRaw(t, s.Addr())
	_, err := idle.nc.Write([]byte{0, 0}) // half a header
	require.NoError(t, err)
	c := newSession(t, s.Addr(), time.Second)
	c.create("/x", nil, tree.ModePersistent)
}

// TestManySessions opens 1,000 sessions at once, each creating an
// ephemeral, and checks every one is there.
func TestManySessions(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConnsPerIP = -1
	s := startServer(t, cfg)
	const n = 1000
	clients := make([]*rawClient, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ft := &fakeT{}
			func() {
				defer ft.recover()
				c := newSession(ft, s.Addr(), 10*time.Second)
				clients[i] = c
				c.create(fmt.Sprintf("/s%04d", i), []byte("x"), tree.ModeEphemeral)
				resp := c.call(wire.Request{Op: wire.OpGetData, Path: fmt.Sprintf("/s%04d", i)})
				if resp.Code != wire.CodeOK {
					ft.Errorf("get: %v", resp.Code)
				}
			}()
			if ft.err != nil {
				errs <- ft.err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := s.Status()
	assert.Equal(t, n, st.Sessions)
	assert.Equal(t, n, st.Connections)
	assert.Equal(t, n+1, st.Nodes)
	for _, c := range clients {
		_ = c.nc.Close()
	}
}

// fakeT lets the raw client run in goroutines other than the test's.
type fakeT struct {
	testing.TB
	mu      sync.Mutex
	err     error
	cleanup []func()
}

type fakeFatal struct{}

func (f *fakeT) Helper()      {}
func (f *fakeT) Name() string { return "fake" }
func (f *fakeT) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = fmt.Errorf(format, args...)
	}
}
func (f *fakeT) Fatalf(format string, args ...any) { f.Errorf(format, args...); panic(fakeFatal{}) }
func (f *fakeT) FailNow()                          { f.Errorf("failed"); panic(fakeFatal{}) }
func (f *fakeT) Cleanup(fn func())                 { f.cleanup = append(f.cleanup, fn) }
func (f *fakeT) TempDir() string                   { panic("not supported") }
func (f *fakeT) recover() {
	if r := recover(); r != nil {
		if _, ok := r.(fakeFatal); !ok {
			panic(r)
		}
	}
}

func TestStatusCounts(t *testing.T) {
	s := startServer(t, testConfig(t))
	st := s.Status()
	assert.Equal(t, Status{Role: "standalone", Nodes: st.Nodes, Digest: st.Digest}, st)
	c := newSession(t, s.Addr(), time.Second)
	c.create("/a", nil, tree.ModePersistent)
	c.call(wire.Request{Op: wire.OpGetData, Path: "/a", Watch: true})
	st = s.Status()
	assert.Equal(t, 1, st.Sessions)
	assert.Equal(t, 1, st.Connections)
	assert.Equal(t, 1, st.Watches)
	assert.Equal(t, tree.MakeZxid(1, 2), st.LastZxid)
	assert.True(t, strings.HasPrefix(st.LastZxid.String(), "0x1"))
}
