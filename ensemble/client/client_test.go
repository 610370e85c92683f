package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

const waitFor = 10 * time.Second
const tick = 2 * time.Millisecond

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func connect(t testing.TB, addrs []string, opts ...Option) *Client {
	t.Helper()
	c, err := Connect(testCtx(t), addrs, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// recv returns the next value from ch or fails the test.
func recv[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatal("timed out waiting on a channel")
	}
	var zero T
	return zero
}

// ready returns the value already in ch, failing if there is none.
func ready[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	default:
		t.Fatal("channel is empty")
	}
	var zero T
	return zero
}

func requireClosed[T any](t testing.TB, ch <-chan T) {
	t.Helper()
	select {
	case v, ok := <-ch:
		require.False(t, ok, "channel not closed; got %v", v)
	case <-time.After(waitFor):
		t.Fatal("channel not closed")
	}
}

func TestBasicOps(t *testing.T) {
	s := newFakeServer(t, 1)
	c := connect(t, s.addrs())
	ctx := testCtx(t)
	assert.Equal(t, StateConnected, c.State())
	assert.NotZero(t, c.SessionID())
	assert.Equal(t, DefaultSessionTimeout, c.SessionTimeout())

	p, err := c.Create(ctx, "/a", []byte("one"), tree.ModePersistent)
	require.NoError(t, err)
	assert.Equal(t, "/a", p)

	_, err = c.Create(ctx, "/a", nil, tree.ModePersistent)
	assert.ErrorIs(t, err, ErrNodeExists)
	assert.ErrorIs(t, err, tree.ErrNodeExists)

	data, st, err := c.Get(ctx, "/a")
	require.NoError(t, err)
	assert.Equal(t, "one", string(data))
	assert.Equal(t, int32(0), st.Version)

	data, _, err = c.GetLinearizable(ctx, "/a")
	require.NoError(t, err)
	assert.Equal(t, "one", string(data))

	st, err = c.Set(ctx, "/a", []byte("two"), 0)
	require.NoError(t, err)
	assert.Equal(t, int32(1), st.Version)
	_, err = c.Set(ctx, "/a", []byte("x"), 0)
	assert.ErrorIs(t, err, ErrBadVersion)

	ok, st, err := c.Exists(ctx, "/a")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, int32(1), st.Version)
	ok, _, err = c.Exists(ctx, "/nope")
	require.NoError(t, err)
	assert.False(t, ok)

	_, _, err = c.Get(ctx, "/nope")
	assert.ErrorIs(t, err, ErrNoNode)
	assert.ErrorIs(t, err, tree.ErrNoNode)

	seq, err := c.Create(ctx, "/a/s-", nil, tree.ModePersistentSequential)
	require.NoError(t, err)
	assert.Equal(t, "/a/s-0000000000", seq)
	eph, err := c.Create(ctx, "/e", nil, tree.ModeEphemeral)
	require.NoError(t, err)

	assert.ErrorIs(t, c.Delete(ctx, "/a", -1), ErrNotEmpty)
	names, st, err := c.Children(ctx, "/a")
	require.NoError(t, err)
	assert.Equal(t, []string{"s-0000000000"}, names)
	assert.Equal(t, int32(1), st.NumChildren)
	n, err := c.CountChildren(ctx, "/")
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)

	ephs, err := c.GetEphemerals(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, []string{eph}, ephs)

	require.NoError(t, c.Sync(ctx, "/a"))
	require.NoError(t, c.Delete(ctx, seq, -1))
	require.NoError(t, c.Delete(ctx, "/a", 1))

	_, _, err = c.Get(ctx, "relative")
	assert.ErrorIs(t, err, ErrBadArguments)
	_, err = c.CreateTTL(ctx, "/t", nil, tree.ModePersistent, time.Second)
	assert.ErrorIs(t, err, ErrBadArguments)
	assert.ErrorIs(t, c.RemoveWatches(ctx, "/a", 9), ErrBadArguments)
}

func TestMulti(t *testing.T) {
	s := newFakeServer(t, 1)
	c := connect(t, s.addrs())
	ctx := testCtx(t)

	res, err := c.Multi(ctx, CreateOp("/m", []byte("x"), tree.ModePersistent), SetOp("/m", []byte("y"), 0), CheckOp("/m", 1))
	require.NoError(t, err)
	require.Len(t, res, 3)
	assert.Equal(t, tree.OpCreate, res[0].Type)
	assert.Equal(t, "/m", res[0].Path)
	assert.Equal(t, int32(1), res[1].Stat.Version)
	for _, r := range res {
		assert.NoError(t, r.Err)
	}

	res, err = c.Multi(ctx, CheckOp("/m", 1), DeleteOp("/m", 7), CreateOp("/m2", nil, tree.ModePersistent))
	assert.ErrorIs(t, err, ErrBadVersion)
	require.Len(t, res, 3)
	assert.ErrorIs(t, res[0].Err, ErrRolledBack)
	assert.ErrorIs(t, res[1].Err, ErrBadVersion)
	assert.ErrorIs(t, res[2].Err, ErrRuntimeInconsistency)
	ok, _, err := c.Exists(ctx, "/m2")
	require.NoError(t, err)
	assert.False(t, ok)

	_, err = c.Multi(ctx, CreateOp("bad", nil, tree.ModePersistent))
	assert.ErrorIs(t, err, ErrBadArguments)
}

// TestPipelinedFIFO queues many calls at once: they go out in call order
// with increasing xids, each reply reaches its own call, and replies finish
// calls in the order the server sent them.
func TestPipelinedFIFO(t *testing.T) {
	s := newFakeServer(t, 1)
	c := connect(t, s.addrs())
	ctx := testCtx(t)
	const n = 200
	for i := range n {
		_, err := c.Create(ctx, fmt.Sprintf("/n%03d", i), []byte(fmt.Sprint(i)), tree.ModePersistent)
		require.NoError(t, err)
	}
	before := len(s.requests())
	release := s.holdPath("/n000")
	calls := make([]*call, n)
	for i := range calls {
		calls[i] = newCall(wire.OpGetData, fmt.Sprintf("/n%03d", i))
		require.NoError(t, c.enqueue(calls[i]))
	}
	require.Eventually(t, func() bool { return len(s.requests()) > before }, waitFor, tick)
	release()
	recv(t, calls[n-1].done)
	for i, cl := range calls[:n-1] {
		require.Len(t, cl.done, 1, "call %d not finished before call %d", i, n-1)
	}
	for i, cl := range calls {
		require.NoError(t, cl.err)
		assert.Equal(t, fmt.Sprint(i), string(cl.resp.Data), "reply matched to the wrong call")
	}
	reqs := s.requests()[before:]
	require.Len(t, reqs, n)
	for i, r := range reqs {
		assert.Equal(t, fmt.Sprintf("/n%03d", i), r.Path)
		if i > 0 {
			assert.Greater(t, r.Xid, reqs[i-1].Xid)
		}
	}
}

// TestConcurrentCallers runs many goroutines at once; each gets its own
// answers.
func TestConcurrentCallers(t *testing.T) {
	s := newFakeServer(t, 1)
	c := connect(t, s.addrs())
	ctx := testCtx(t)
	const workers, each = 8, 50
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range each {
				p := fmt.Sprintf("/w%d-%d", w, i)
				if _, err := c.Create(ctx, p, []byte(p), tree.ModePersistent); err != nil {
					errs <- err
					return
				}
				d, _, err := c.Get(ctx, p)
				if err != nil || string(d) != p {
					errs <- fmt.Errorf("get %s: %q %v", p, d, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		require.NoError(t, recv(t, errs))
	}
}

// TestWatchBeforeReply: the event a write causes is in the watch channel
// before the write's reply is returned.
func TestWatchBeforeReply(t *testing.T) {
	s := newFakeServer(t, 1)
	c := connect(t, s.addrs())
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/w", []byte("a"), tree.ModePersistent)
	require.NoError(t, err)

	_, _, ch, err := c.GetW(ctx, "/w")
	require.NoError(t, err)
	_, err = c.Set(ctx, "/w", []byte("b"), -1)
	require.NoError(t, err)
	ev := ready(t, ch)
	assert.Equal(t, Event{Type: tree.EventNodeDataChanged, Path: "/w", Zxid: ev.Zxid}, ev)
	assert.NotZero(t, ev.Zxid)
	requireClosed(t, ch)

	ok, _, ech, err := c.ExistsW(ctx, "/x")
	require.NoError(t, err)
	require.False(t, ok)
	_, cch, err := func() (tree.Stat, <-chan Event, error) {
		_, st, ch, err := c.ChildrenW(ctx, "/")
		return st, ch, err
	}()
	require.NoError(t, err)
	pw, err := c.AddWatch(ctx, "/", true)
	require.NoError(t, err)
	_, err = c.Create(ctx, "/x", nil, tree.ModePersistent)
	require.NoError(t, err)
	assert.Equal(t, tree.EventNodeCreated, ready(t, ech).Type)
	assert.Equal(t, Event{Type: tree.EventNodeChildrenChanged, Path: "/"}, withoutZxid(ready(t, cch)))
	assert.Equal(t, Event{Type: tree.EventNodeCreated, Path: "/x"}, withoutZxid(ready(t, pw.C)))

	// A one-shot watch fires once: a second change reaches only the
	// persistent watch.
	_, err = c.Set(ctx, "/x", []byte("1"), -1)
	require.NoError(t, err)
	requireClosed(t, ech)
	assert.Equal(t, Event{Type: tree.EventNodeDataChanged, Path: "/x"}, withoutZxid(ready(t, pw.C)))
	require.NoError(t, pw.Remove(ctx))
	requireClosed(t, pw.C)
}

func withoutZxid(ev Event) Event {
	ev.Zxid = 0
	return ev
}

func TestWatchKinds(t *testing.T) {
	s := newFakeServer(t, 1)
	c := connect(t, s.addrs())
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/p", nil, tree.ModePersistent)
	require.NoError(t, err)

	_, _, _, err = c.GetW(ctx, "/missing") // no watch on error
	assert.ErrorIs(t, err, ErrNoNode)
	_, _, _, err = c.ChildrenW(ctx, "/missing")
	assert.ErrorIs(t, err, ErrNoNode)

	_, _, dch, err := c.GetW(ctx, "/p")
	require.NoError(t, err)
	_, _, dch2, err := c.GetW(ctx, "/p")
	require.NoError(t, err)
	_, _, cch, err := c.ChildrenW(ctx, "/p")
	require.NoError(t, err)
	pers, err := c.AddWatch(ctx, "/p", false)
	require.NoError(t, err)
	rec, err := c.AddWatch(ctx, "/", true)
	require.NoError(t, err)

	_, err = c.Create(ctx, "/p/c", nil, tree.ModePersistent)
	require.NoError(t, err)
	assert.Equal(t, tree.EventNodeChildrenChanged, ready(t, cch).Type)
	assert.Equal(t, Event{Type: tree.EventNodeChildrenChanged, Path: "/p"}, withoutZxid(ready(t, pers.C)))
	assert.Equal(t, Event{Type: tree.EventNodeCreated, Path: "/p/c"}, withoutZxid(ready(t, rec.C)))
	assert.Empty(t, rec.C, "recursive watches get no children-changed events")
	assert.Empty(t, dch)

	require.NoError(t, c.Delete(ctx, "/p/c", -1))
	require.NoError(t, c.Delete(ctx, "/p", -1))
	assert.Equal(t, tree.EventNodeDeleted, ready(t, dch).Type)
	assert.Equal(t, tree.EventNodeDeleted, ready(t, dch2).Type, "both local watches fire on one server event")
	assert.Equal(t, Event{Type: tree.EventNodeChildrenChanged, Path: "/p"}, withoutZxid(ready(t, pers.C)))
	assert.Equal(t, Event{Type: tree.EventNodeDeleted, Path: "/p"}, withoutZxid(ready(t, pers.C)))
	assert.Equal(t, Event{Type: tree.EventNodeDeleted, Path: "/p/c"}, withoutZxid(ready(t, rec.C)))
	assert.Equal(t, Event{Type: tree.EventNodeDeleted, Path: "/p"}, withoutZxid(ready(t, rec.C)))
}

// TestPersistentWatchQueue: a receiver that lags never blocks the client;
// events wait in order.
func TestPersistentWatchQueue(t *testing.T) {
	s := newFakeServer(t, 1)
	c := connect(t, s.addrs())
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/q", nil, tree.ModePersistent)
	require.NoError(t, err)
	w, err := c.AddWatch(ctx, "/q", false)
	require.NoError(t, err)
	const n = 3 * persistentBuffer
	for i := range n {
		_, err := c.Set(ctx, "/q", []byte{byte(i)}, int32(i))
		require.NoError(t, err)
	}
	var last tree.Zxid
	for range n {
		ev := recv(t, w.C)
		require.Equal(t, tree.EventNodeDataChanged, ev.Type)
		require.Greater(t, ev.Zxid, last)
		last = ev.Zxid
	}
	// Remove tells the server, closes C.
	require.NoError(t, w.Remove(ctx))
	requireClosed(t, w.C)
	assert.Equal(t, 1, s.countOp(wire.OpRemoveWatches))
	require.NoError(t, w.Remove(ctx), "removing twice is fine")
}

func TestRemoveWatches(t *testing.T) {
	s := newFakeServer(t, 1)
	c := connect(t, s.addrs())
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/r", nil, tree.ModePersistent)
	require.NoError(t, err)
	_, _, dch, err := c.GetW(ctx, "/r")
	require.NoError(t, err)
	_, _, cch, err := c.ChildrenW(ctx, "/r")
	require.NoError(t, err)

	require.NoError(t, c.RemoveWatches(ctx, "/r", wire.WatchTypeData))
	ev := ready(t, dch)
	assert.ErrorIs(t, ev.Err, ErrWatchRemoved)
	assert.Zero(t, ev.Type)
	requireClosed(t, dch)
	assert.Empty(t, cch)
	assert.ErrorIs(t, c.RemoveWatches(ctx, "/r", wire.WatchTypeData), ErrNoWatcher)

	w, err := c.AddWatch(ctx, "/r", false)
	require.NoError(t, err)
	require.NoError(t, c.RemoveWatches(ctx, "/r", wire.WatchTypeAny))
	assert.ErrorIs(t, ready(t, cch).Err, ErrWatchRemoved)
	assert.ErrorIs(t, recv(t, w.C).Err, ErrWatchRemoved)
	requireClosed(t, w.C)
}

func TestChildrenPaging(t *testing.T) {
	s := newFakeServer(t, 1)
	s.setPageSize(3)
	c := connect(t, s.addrs())
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/d", nil, tree.ModePersistent)
	require.NoError(t, err)
	var want []string
	for i := range 10 {
		name := fmt.Sprintf("c%02d", i)
		want = append(want, name)
		_, err := c.Create(ctx, "/d/"+name, nil, tree.ModePersistent)
		require.NoError(t, err)
	}
	before := len(s.requests())
	names, st, ch, err := c.ChildrenW(ctx, "/d")
	require.NoError(t, err)
	assert.Equal(t, want, names)
	assert.Equal(t, int32(10), st.NumChildren)
	reqs := s.requests()[before:]
	require.Len(t, reqs, 4)
	for i, r := range reqs {
		assert.Equal(t, wire.OpGetChildren, r.Op)
		assert.Equal(t, i == 0, r.Watch, "only the first page sets the watch")
	}
	assert.Equal(t, "c05", reqs[2].After)

	page, more, err := c.ChildrenPage(ctx, "/d", "c07", 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"c08", "c09"}, page)
	assert.False(t, more)
	page, more, err = c.ChildrenPage(ctx, "/d", "", 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"c00", "c01"}, page)
	assert.True(t, more)

	// A change between pages restarts the listing; the watch fires.
	s.setHook(func(fc *fakeConn, req *wire.Request) bool {
		if req.Op == wire.OpGetChildren && req.After == "c02" {
			s.setHook(nil) // runs on the connection's goroutine, before handle
			s.mu.Lock()
			_, _, evs := s.createLocked(fc, "/d/c10", nil, tree.ModePersistent)
			s.fireLocked(evs)
			s.mu.Unlock()
		}
		return false
	})
	names, _, err = c.Children(ctx, "/d")
	require.NoError(t, err)
	assert.Equal(t, append(want, "c10"), names)
	assert.Equal(t, tree.EventNodeChildrenChanged, ready(t, ch).Type)
}

// TestConnectionLoss: a call in flight when the connection breaks fails with
// ErrConnectionLoss; the client reconnects and resumes the same session.
func TestConnectionLoss(t *testing.T) {
	s := newFakeServer(t, 1)
	var logs syncBuffer
	c := connect(t, s.addrs(), WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	ctx := testCtx(t)
	states, unsub := c.Subscribe()
	defer unsub()
	assert.Equal(t, StateConnected, recv(t, states))
	id := c.SessionID()
	_, err := c.Create(ctx, "/slow", nil, tree.ModePersistent)
	require.NoError(t, err)

	release := s.holdPath("/slow")
	defer release()
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Get(ctx, "/slow")
		errc <- err
	}()
	require.Eventually(t, func() bool { return s.countOp(wire.OpGetData) == 1 }, waitFor, tick)
	s.dropConns()
	err = recv(t, errc)
	assert.ErrorIs(t, err, ErrConnectionLoss)

	assert.Equal(t, StateDisconnected, recv(t, states))
	assert.Equal(t, StateConnected, recv(t, states))
	assert.Equal(t, id, c.SessionID())
	hs := s.handshakeList()
	require.Len(t, hs, 2)
	assert.Equal(t, id, hs[1].SessionID)
	assert.Equal(t, fmt.Sprintf("pw-%d", id), string(hs[1].Password))
	assert.Equal(t, int32(wire.ProtocolVersion), hs[1].ProtocolVersion)
	assert.Positive(t, int64(hs[1].LastZxidSeen))

	release()
	_, _, err = c.Get(ctx, "/slow")
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "msg=\"connection lost\"")
	assert.Contains(t, logs.String(), "msg=\"session resumed\"")
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestQueuedWhileDisconnected: calls made while disconnected wait and are
// sent on the next connection, in order.
func TestQueuedWhileDisconnected(t *testing.T) {
	s := newFakeServer(t, 1)
	c := connect(t, s.addrs())
	ctx := testCtx(t)
	s.listeners[0].refuse.Store(true)
	s.dropConns()
	require.Eventually(t, func() bool { return c.State() == StateDisconnected }, waitFor, tick)
	errc := make(chan error, 2)
	go func() {
		_, err := c.Create(ctx, "/q1", nil, tree.ModePersistent)
		errc <- err
	}()
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.mu.queue) == 1
	}, waitFor, tick)
	go func() {
		_, err := c.Create(ctx, "/q1/q2", nil, tree.ModePersistent)
		errc <- err
	}()
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.mu.queue) == 2
	}, waitFor, tick)
	s.listeners[0].refuse.Store(false)
	require.NoError(t, recv(t, errc))
	require.NoError(t, recv(t, errc))
	assert.Equal(t, StateConnected, c.State())
}

// TestSetWatchesAfterReconnect: watches are re-registered with the last
// zxid seen, and the server fires what changed while we were away.
func TestSetWatchesAfterReconnect(t *testing.T) {
	s := newFakeServer(t, 1)
	c := connect(t, s.addrs())
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/w", []byte("a"), tree.ModePersistent)
	require.NoError(t, err)
	_, _, dch, err := c.GetW(ctx, "/w")
	require.NoError(t, err)
	_, _, ech, err := c.ExistsW(ctx, "/later")
	require.NoError(t, err)
	_, _, cch, err := c.ChildrenW(ctx, "/w")
	require.NoError(t, err)
	pw, err := c.AddWatch(ctx, "/p", false)
	require.NoError(t, err)
	rw, err := c.AddWatch(ctx, "/", true)
	require.NoError(t, err)
	seen := tree.Zxid(c.lastZxid.Load())

	s.setSilently("/w", []byte("b"))
	s.dropConns()

	assert.Equal(t, tree.EventNodeDataChanged, recv(t, dch).Type)
	require.Eventually(t, func() bool { return s.countOp(wire.OpSetWatches) == 1 }, waitFor, tick)
	var sw wire.Request
	for _, r := range s.requests() {
		if r.Op == wire.OpSetWatches {
			sw = r
		}
	}
	assert.Equal(t, seen, sw.RelZxid)
	require.NotNil(t, sw.Watches)
	assert.Equal(t, []string{"/w"}, sw.Watches.Data)
	assert.Equal(t, []string{"/later"}, sw.Watches.Exist)
	assert.Equal(t, []string{"/w"}, sw.Watches.Child)
	assert.Equal(t, []string{"/p"}, sw.Watches.Persistent)
	assert.Equal(t, []string{"/"}, sw.Watches.PersistentRecursive)

	// The re-registered watches still work.
	_, err = c.Create(ctx, "/later", nil, tree.ModePersistent)
	require.NoError(t, err)
	assert.Equal(t, tree.EventNodeCreated, ready(t, ech).Type)
	_, err = c.Create(ctx, "/w/c", nil, tree.ModePersistent)
	require.NoError(t, err)
	assert.Equal(t, tree.EventNodeChildrenChanged, ready(t, cch).Type)
	_, err = c.Create(ctx, "/p", nil, tree.ModePersistent)
	require.NoError(t, err)
	assert.Equal(t, Event{Type: tree.EventNodeCreated, Path: "/p"}, withoutZxid(ready(t, pw.C)))
	// The recursive watch on / sees the missed change too.
	for _, p := range []string{"/w", "/later", "/w/c", "/p"} {
		if p == "/w" {
			assert.Equal(t, Event{Type: tree.EventNodeDataChanged, Path: p}, withoutZxid(recv(t, rw.C)))
			continue
		}
		assert.Equal(t, Event{Type: tree.EventNodeCreated, Path: p}, withoutZxid(recv(t, rw.C)))
	}
}

// TestSetWatchesSplit: many watches go out in several SetWatches frames.
func TestSetWatchesSplit(t *testing.T) {
	var r registry
	r.init(nil)
	long := string(make([]byte, 900))
	for i := range 10 {
		r.oneShot[kindData]["/"+long+fmt.Sprint(i)] = []chan Event{make(chan Event, 1)}
	}
	calls := r.setWatchesCalls(7, 4096, nil)
	require.Len(t, calls, 5)
	total := 0
	for _, cl := range calls {
		assert.Equal(t, tree.Zxid(7), cl.req.RelZxid)
		total += len(cl.req.Watches.Data)
		body, err := wire.AppendRequest(nil, &cl.req)
		require.NoError(t, err)
		assert.Less(t, len(body), 4096)
	}
	assert.Equal(t, 10, total)
}

// TestStaleServer: a server behind the client's last zxid refuses the
// resume, and the client tries the next one.
func TestStaleServer(t *testing.T) {
	s := newFakeServer(t, 2)
	c := connect(t, s.addrs())
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/z", nil, tree.ModePersistent)
	require.NoError(t, err)
	id := c.SessionID()

	s.listeners[0].stale.Store(true)
	s.listeners[1].refuse.Store(true)
	s.dropConns()
	// Wait until listener 0 has refused a resume at least once.
	require.Eventually(t, func() bool { return len(s.handshakeList()) >= 2 }, waitFor, tick)
	assert.Equal(t, StateDisconnected, c.State())
	s.listeners[1].refuse.Store(false)
	require.Eventually(t, func() bool { return c.State() == StateConnected }, waitFor, tick)
	assert.Equal(t, id, c.SessionID())
	_, _, err = c.Get(ctx, "/z")
	require.NoError(t, err)
}

// TestExpiry: the server says the session expired; everything fails with
// ErrSessionExpired, every watch gets the error and closes, and no new
// session is opened.
func TestExpiry(t *testing.T) {
	s := newFakeServer(t, 1)
	c := connect(t, s.addrs())
	ctx := testCtx(t)
	states, unsub := c.Subscribe()
	defer unsub()
	_, err := c.Create(ctx, "/x", nil, tree.ModePersistent)
	require.NoError(t, err)
	_, _, dch, err := c.GetW(ctx, "/x")
	require.NoError(t, err)
	w, err := c.AddWatch(ctx, "/", true)
	require.NoError(t, err)

	s.expire(c.SessionID())
	ev := recv(t, dch)
	assert.ErrorIs(t, ev.Err, ErrSessionExpired)
	requireClosed(t, dch)
	ev = recv(t, w.C)
	assert.ErrorIs(t, ev.Err, ErrSessionExpired)
	requireClosed(t, w.C)
	require.NoError(t, w.Remove(ctx))

	assert.Equal(t, StateExpired, c.State())
	for st := range states {
		if st == StateExpired {
			break
		}
	}
	_, _, err = c.Get(ctx, "/x")
	assert.ErrorIs(t, err, ErrSessionExpired)
	_, err = c.AddWatch(ctx, "/", false)
	assert.ErrorIs(t, err, ErrSessionExpired)
	for _, h := range s.handshakeList()[1:] {
		assert.NotZero(t, h.SessionID, "a new session was opened")
	}

	require.NoError(t, c.Close())
	assert.Equal(t, StateClosed, c.State())
	_, _, err = c.Get(ctx, "/x")
	assert.ErrorIs(t, err, ErrClosed)
}

// TestLocalExpiry: no server answers for longer than the session timeout,
// so the client declares the session expired itself.
func TestLocalExpiry(t *testing.T) {
	s := newFakeServer(t, 1)
	c := connect(t, s.addrs(), WithSessionTimeout(300*time.Millisecond))
	ctx := testCtx(t)
	_, _, ech, err := c.ExistsW(ctx, "/x")
	require.NoError(t, err)
	s.listeners[0].refuse.Store(true)
	s.dropConns()
	require.Eventually(t, func() bool { return c.State() == StateDisconnected }, waitFor, tick)
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Get(ctx, "/x") // waits for a connection that never comes
		errc <- err
	}()
	assert.ErrorIs(t, recv(t, errc), ErrSessionExpired)
	assert.ErrorIs(t, recv(t, ech).Err, ErrSessionExpired)
	assert.Equal(t, StateExpired, c.State())
}

// TestPing: an idle client keeps its session with pings.
func TestPing(t *testing.T) {
	s := newFakeServer(t, 1)
	c := connect(t, s.addrs(), WithSessionTimeout(time.Second))
	assert.Equal(t, time.Second, c.SessionTimeout())
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.pings >= 4 // more than a session timeout's worth
	}, waitFor, tick)
	assert.True(t, s.sessionLive(c.SessionID()))
	assert.Len(t, s.handshakeList(), 1, "the connection never broke")
	assert.Equal(t, StateConnected, c.State())
	_, _, err := c.Exists(testCtx(t), "/")
	require.NoError(t, err)
}

// TestServerSilent: a server that stops answering is noticed by the read
// timeout, and the client moves on.
func TestServerSilent(t *testing.T) {
	s := newFakeServer(t, 1)
	c := connect(t, s.addrs(), WithSessionTimeout(1500*time.Millisecond))
	release := s.holdPath("") // pings go unanswered
	defer release()
	require.Eventually(t, func() bool { return len(s.handshakeList()) >= 2 }, waitFor, tick)
	release()
	require.Eventually(t, func() bool { return c.State() == StateConnected }, waitFor, tick)
}

func TestContextCancel(t *testing.T) {
	s := newFakeServer(t, 1)
	c := connect(t, s.addrs())
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/slow", []byte("s"), tree.ModePersistent)
	require.NoError(t, err)

	release := s.holdPath("/slow")
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Get(cctx, "/slow")
		errc <- err
	}()
	require.Eventually(t, func() bool { return s.countOp(wire.OpGetData) == 1 }, waitFor, tick)
	cancel()
	assert.ErrorIs(t, recv(t, errc), context.Canceled)
	release()
	// The late reply is dropped; the next call gets its own.
	d, _, err := c.Get(ctx, "/slow")
	require.NoError(t, err)
	assert.Equal(t, "s", string(d))

	// An ended ctx sends nothing.
	n := len(s.requests())
	_, _, err = c.Get(cctx, "/slow")
	assert.ErrorIs(t, err, context.Canceled)
	assert.Len(t, s.requests(), n)

	// A call given up while disconnected is never sent.
	s.listeners[0].refuse.Store(true)
	s.dropConns()
	require.Eventually(t, func() bool { return c.State() == StateDisconnected }, waitFor, tick)
	dctx, dcancel := context.WithCancel(ctx)
	go func() {
		_, err := c.Create(dctx, "/never", nil, tree.ModePersistent)
		errc <- err
	}()
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.mu.queue) == 1
	}, waitFor, tick)
	dcancel()
	assert.ErrorIs(t, recv(t, errc), context.Canceled)
	s.listeners[0].refuse.Store(false)
	require.Eventually(t, func() bool { return c.State() == StateConnected }, waitFor, tick)
	ok, _, err := c.Exists(ctx, "/never")
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestClose(t *testing.T) {
	s := newFakeServer(t, 1)
	c := connect(t, s.addrs())
	other := connect(t, s.addrs())
	ctx := testCtx(t)
	states, _ := c.Subscribe()
	_, err := c.Create(ctx, "/eph", nil, tree.ModeEphemeral)
	require.NoError(t, err)
	_, _, ech, err := other.ExistsW(ctx, "/eph")
	require.NoError(t, err)
	_, _, dch, err := c.GetW(ctx, "/eph")
	require.NoError(t, err)
	w, err := c.AddWatch(ctx, "/", true)
	require.NoError(t, err)

	require.NoError(t, c.Close())
	assert.Equal(t, 1, s.countOp(wire.OpCloseSession))
	assert.False(t, s.sessionLive(c.SessionID()))
	assert.Equal(t, tree.EventNodeDeleted, recv(t, ech).Type, "ephemerals go at once")
	assert.ErrorIs(t, ready(t, dch).Err, ErrClosed)
	requireClosed(t, dch)
	assert.ErrorIs(t, ready(t, w.C).Err, ErrClosed)
	requireClosed(t, w.C)
	var last State
	for st := range states {
		last = st
	}
	assert.Equal(t, StateClosed, last)
	st, _ := c.Subscribe()
	assert.Equal(t, StateClosed, ready(t, st))
	requireClosed(t, st)

	_, _, err = c.Get(ctx, "/")
	assert.ErrorIs(t, err, ErrClosed)
	_, err = c.Create(ctx, "/x", nil, tree.ModePersistent)
	assert.ErrorIs(t, err, ErrClosed)
	require.NoError(t, c.Close())
}

// TestCloseWhileDisconnected: Close does not wait for a server.
func TestCloseWhileDisconnected(t *testing.T) {
	s := newFakeServer(t, 1)
	c := connect(t, s.addrs())
	s.listeners[0].refuse.Store(true)
	s.dropConns()
	require.Eventually(t, func() bool { return c.State() == StateDisconnected }, waitFor, tick)
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Get(context.Background(), "/")
		errc <- err
	}()
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.mu.queue) == 1
	}, waitFor, tick)
	require.NoError(t, c.Close())
	assert.ErrorIs(t, recv(t, errc), ErrClosed)
	assert.Equal(t, 0, s.countOp(wire.OpCloseSession))
}

// TestCloseInFlight: Close with calls in flight fails them with ErrClosed.
func TestCloseInFlight(t *testing.T) {
	s := newFakeServer(t, 1)
	c := connect(t, s.addrs())
	release := s.holdPath("/slow")
	defer release()
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Get(context.Background(), "/slow")
		errc <- err
	}()
	require.Eventually(t, func() bool { return s.countOp(wire.OpGetData) == 1 }, waitFor, tick)
	c.opts.closeWait = 50 * time.Millisecond // the server is stuck behind /slow
	require.NoError(t, c.Close())
	assert.ErrorIs(t, recv(t, errc), ErrClosed)
}

func TestConnectErrors(t *testing.T) {
	_, err := Connect(testCtx(t), nil)
	assert.ErrorIs(t, err, ErrNoServer)
	_, err = Connect(testCtx(t), []string{" , "})
	assert.ErrorIs(t, err, ErrNoServer)

	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = Connect(ctx, []string{addr})
	assert.ErrorIs(t, err, ErrNoServer)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	// A server that refuses the protocol.
	s := newFakeServer(t, 1)
	s.listeners[0].refuse.Store(true)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	_, err = Connect(ctx2, s.addrs())
	assert.ErrorIs(t, err, ErrNoServer)
}

func TestParseServers(t *testing.T) {
	assert.Equal(t, []string{"a:1", "b:2281", "127.0.0.1:5", "[::1]:2281"},
		parseServers([]string{"a:1, b", "127.0.0.1:5", "", "[::1]"}))
}

func TestFrameTooLarge(t *testing.T) {
	s := newFakeServer(t, 1)
	c := connect(t, s.addrs())
	ctx := testCtx(t)
	n := len(s.requests())
	_, err := c.Create(ctx, "/big", make([]byte, wire.DefaultMaxFrame), tree.ModePersistent)
	assert.ErrorIs(t, err, ErrFrameTooLarge)
	assert.Len(t, s.requests(), n, "nothing was sent")
	_, err = c.Create(ctx, "/small", nil, tree.ModePersistent)
	require.NoError(t, err)
}

func TestSubscribeDropsOldest(t *testing.T) {
	s := newFakeServer(t, 1)
	c := connect(t, s.addrs())
	ch, unsub := c.Subscribe()
	c.mu.Lock()
	for i := range 3 * stateBuffer {
		c.setStateLocked(State(i%2 + 1)) // connected, disconnected, ...
	}
	c.setStateLocked(StateConnected)
	c.mu.Unlock()
	var got []State
	for len(ch) > 0 {
		got = append(got, <-ch)
	}
	require.Len(t, got, stateBuffer)
	assert.Equal(t, StateConnected, got[len(got)-1], "the newest state is kept")
	unsub()
	requireClosed(t, ch)
	unsub()
}

func TestStateString(t *testing.T) {
	for st, want := range map[State]string{StateConnecting: "connecting", StateConnected: "connected",
		StateDisconnected: "disconnected", StateExpired: "expired", StateClosed: "closed", 9: "State(9)"} {
		assert.Equal(t, want, st.String())
	}
}

func TestErrorsAreSentinels(t *testing.T) {
	assert.True(t, errors.Is(ErrNoNode, tree.ErrNoNode))
	assert.True(t, errors.Is(ErrSessionExpired, wire.ErrSessionExpired))
	assert.True(t, errors.Is(wire.CodeNotEmpty.Err("x"), ErrNotEmpty))
}

// TestHostileServer: a malformed frame or a huge length claim from a server
// breaks that connection only; the client fails the calls in flight and
// reconnects.
func TestHostileServer(t *testing.T) {
	for name, frame := range map[string][]byte{
		"garbage":      {0, 0, 0, 3, 0xc1, 0xc1, 0xc1},
		"huge claim":   {0x7f, 0xff, 0xff, 0xff},
		"array claim":  {0, 0, 0, 5, 0xdd, 0x7f, 0xff, 0xff, 0xff},
		"unknown xid":  nil, // filled below
		"not a map":    {0, 0, 0, 1, 0x01},
		"wrong fields": {0, 0, 0, 4, 0x81, 0xa1, 'x', 0xc3},
	} {
		t.Run(name, func(t *testing.T) {
			s := newFakeServer(t, 1)
			c := connect(t, s.addrs())
			ctx := testCtx(t)
			if frame == nil {
				body, err := wire.AppendResponse(nil, &wire.Response{Xid: 999999})
				require.NoError(t, err)
				frame = append([]byte{0, 0, 0, byte(len(body))}, body...)
			}
			s.setHook(func(fc *fakeConn, req *wire.Request) bool {
				if req.Path != "/evil" {
					return false
				}
				fc.wmu.Lock()
				fc.bw.Write(frame)
				fc.bw.Flush()
				fc.wmu.Unlock()
				return true
			})
			_, _, err := c.Get(ctx, "/evil")
			assert.ErrorIs(t, err, ErrConnectionLoss)
			require.Eventually(t, func() bool { return len(s.handshakeList()) == 2 }, waitFor, tick)
			_, _, err = c.Exists(ctx, "/")
			require.NoError(t, err)
		})
	}
}

// TestReconnectCarriesHandshakeZxid: the zxid a server reports in its
// handshake (it covers the txn that created the session) is the least a
// later server must have seen, so a reconnect never lands on a peer that
// does not know the session yet.
func TestReconnectCarriesHandshakeZxid(t *testing.T) {
	s := newFakeServer(t, 1)
	s.mu.Lock()
	s.zxid = 77
	s.mu.Unlock()
	c := connect(t, s.addrs())
	states, unsub := c.Subscribe()
	defer unsub()
	assert.Equal(t, StateConnected, recv(t, states))
	s.dropConns()
	assert.Equal(t, StateDisconnected, recv(t, states))
	assert.Equal(t, StateConnected, recv(t, states))
	hs := s.handshakeList()
	require.Len(t, hs, 2)
	assert.EqualValues(t, 77, hs[1].LastZxidSeen)
}
