package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble"
	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

// Integration tests against the real standalone peer, in process, with its
// data in t.TempDir().

const waitFor = 30 * time.Second
const tick = 5 * time.Millisecond

func serverConfig(t testing.TB, dir string) ensemble.Config {
	return ensemble.Config{
		DataDir:           dir,
		ClientAddr:        "127.0.0.1:0",
		TickTime:          10 * time.Millisecond,
		MinSessionTimeout: 50 * time.Millisecond,
		MaxSessionTimeout: 10 * time.Second,
		Logger:            testLogger(),
	}
}

// testLogger logs to stderr when ZABKIT_TEST_LOG is set, else discards.
func testLogger() *slog.Logger {
	if os.Getenv("ZABKIT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

func startServer(t testing.TB, cfg ensemble.Config) *ensemble.Server {
	t.Helper()
	s, err := ensemble.New(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil && !errors.Is(err, ensemble.ErrNotStarted) {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t testing.TB, addr string, opts ...client.Option) *client.Client {
	opts = append([]client.Option{client.WithLogger(testLogger())}, opts...)
	t.Helper()
	c, err := client.Connect(ctxFor(t), []string{addr}, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func next[T any](t testing.TB, ch <-chan T) T {
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

func TestIntegrationOps(t *testing.T) {
	s := startServer(t, serverConfig(t, t.TempDir()))
	c := dial(t, s.Addr().String())
	ctx := ctxFor(t)

	p, err := c.Create(ctx, "/app", []byte("v1"), tree.ModePersistent)
	require.NoError(t, err)
	assert.Equal(t, "/app", p)
	_, err = c.Create(ctx, "/app", nil, tree.ModePersistent)
	assert.ErrorIs(t, err, tree.ErrNodeExists)
	_, err = c.Create(ctx, "/no/parent", nil, tree.ModePersistent)
	assert.ErrorIs(t, err, client.ErrNoNode)
	_, err = c.Create(ctx, "/app/", nil, tree.ModePersistent)
	assert.ErrorIs(t, err, client.ErrBadArguments)

	data, st, err := c.Get(ctx, "/app")
	require.NoError(t, err)
	assert.Equal(t, "v1", string(data))
	st2, err := c.Set(ctx, "/app", []byte("v2"), st.Version)
	require.NoError(t, err)
	assert.Equal(t, st.Version+1, st2.Version)
	_, err = c.Set(ctx, "/app", []byte("v3"), st.Version)
	assert.ErrorIs(t, err, client.ErrBadVersion)
	data, _, err = c.GetLinearizable(ctx, "/app")
	require.NoError(t, err)
	assert.Equal(t, "v2", string(data))

	s1, err := c.Create(ctx, "/app/job-", nil, tree.ModePersistentSequential)
	require.NoError(t, err)
	s2, err := c.Create(ctx, "/app/job-", nil, tree.ModePersistentSequential)
	require.NoError(t, err)
	assert.Equal(t, "/app/job-0000000000", s1)
	assert.Equal(t, "/app/job-0000000001", s2)
	eph, err := c.Create(ctx, "/app/me", nil, tree.ModeEphemeral)
	require.NoError(t, err)
	_, err = c.Create(ctx, "/app/me/child", nil, tree.ModePersistent)
	assert.ErrorIs(t, err, client.ErrNoChildrenForEphemerals)
	ephs, err := c.GetEphemerals(ctx, "/")
	require.NoError(t, err)
	assert.Equal(t, []string{eph}, ephs)

	names, st, err := c.Children(ctx, "/app")
	require.NoError(t, err)
	assert.Equal(t, []string{"job-0000000000", "job-0000000001", "me"}, names)
	assert.Equal(t, int32(3), st.NumChildren)
	n, err := c.CountChildren(ctx, "/")
	require.NoError(t, err)
	assert.Equal(t, int64(4), n)
	assert.ErrorIs(t, c.Delete(ctx, "/app", -1), client.ErrNotEmpty)
	require.NoError(t, c.Sync(ctx, "/"))

	res, err := c.Multi(ctx, client.CheckOp("/app", st2.Version), client.CreateOp("/m", nil, tree.ModePersistent), client.DeleteOp(s1, -1))
	require.NoError(t, err)
	require.Len(t, res, 3)
	assert.Equal(t, "/m", res[1].Path)
	res, err = c.Multi(ctx, client.CreateOp("/m2", nil, tree.ModePersistent), client.DeleteOp("/missing", -1))
	assert.ErrorIs(t, err, client.ErrNoNode)
	require.Len(t, res, 2)
	assert.ErrorIs(t, res[0].Err, client.ErrRolledBack)
	ok, _, err := c.Exists(ctx, "/m2")
	require.NoError(t, err)
	assert.False(t, ok)
}

// TestIntegrationChildrenPaging: a listing larger than a frame comes back
// whole, in pages.
func TestIntegrationChildrenPaging(t *testing.T) {
	cfg := serverConfig(t, t.TempDir())
	cfg.MaxDataBytes = 8 << 10
	cfg.MaxFrame = 16 << 10
	s := startServer(t, cfg)
	c := dial(t, s.Addr().String())
	ctx := ctxFor(t)
	_, err := c.Create(ctx, "/big", nil, tree.ModePersistent)
	require.NoError(t, err)
	const n = 1000
	pad := strings.Repeat("x", 40)
	for i := range n {
		_, err := c.Create(ctx, fmt.Sprintf("/big/%s-%04d", pad, i), nil, tree.ModePersistent)
		require.NoError(t, err)
	}
	names, st, ch, err := c.ChildrenW(ctx, "/big")
	require.NoError(t, err)
	require.Len(t, names, n)
	assert.Equal(t, int32(n), st.NumChildren)
	for i, name := range names {
		assert.Equal(t, fmt.Sprintf("%s-%04d", pad, i), name)
	}
	page, more, err := c.ChildrenPage(ctx, "/big", "", 10)
	require.NoError(t, err)
	assert.Len(t, page, 10)
	assert.True(t, more)
	_, err = c.Create(ctx, "/big/new", nil, tree.ModePersistent)
	require.NoError(t, err)
	assert.Equal(t, tree.EventNodeChildrenChanged, next(t, ch).Type)
}

// TestIntegrationWatchOrder: a write's event is in the channel when the
// write returns, one-shot and persistent alike.
func TestIntegrationWatchOrder(t *testing.T) {
	s := startServer(t, serverConfig(t, t.TempDir()))
	c := dial(t, s.Addr().String())
	ctx := ctxFor(t)
	_, err := c.Create(ctx, "/w", nil, tree.ModePersistent)
	require.NoError(t, err)
	rec, err := c.AddWatch(ctx, "/", true)
	require.NoError(t, err)
	for i := range 50 {
		_, _, ch, err := c.GetW(ctx, "/w")
		require.NoError(t, err)
		st, err := c.Set(ctx, "/w", []byte(fmt.Sprint(i)), -1)
		require.NoError(t, err)
		select {
		case ev := <-ch:
			assert.Equal(t, tree.EventNodeDataChanged, ev.Type)
			assert.Equal(t, st.Mzxid, ev.Zxid)
		default:
			t.Fatalf("round %d: event not delivered before the reply", i)
		}
		ev := next(t, rec.C)
		assert.Equal(t, st.Mzxid, ev.Zxid)
	}
	_, _, ech, err := c.ExistsW(ctx, "/later")
	require.NoError(t, err)
	_, err = c.Create(ctx, "/later", nil, tree.ModePersistent)
	require.NoError(t, err)
	assert.Equal(t, tree.EventNodeCreated, next(t, ech).Type)
	require.NoError(t, rec.Remove(ctx))
	for range rec.C { // what was already in C, then closed
	}
}

// TestIntegrationCloseDeletesEphemerals: Close ends the session at once.
func TestIntegrationCloseDeletesEphemerals(t *testing.T) {
	s := startServer(t, serverConfig(t, t.TempDir()))
	c1 := dial(t, s.Addr().String())
	c2 := dial(t, s.Addr().String())
	ctx := ctxFor(t)
	_, err := c1.Create(ctx, "/eph", nil, tree.ModeEphemeral)
	require.NoError(t, err)
	ok, _, ch, err := c2.ExistsW(ctx, "/eph")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, c1.Close())
	assert.Equal(t, tree.EventNodeDeleted, next(t, ch).Type)
	_, _, err = c1.Get(ctx, "/")
	assert.ErrorIs(t, err, client.ErrClosed)
}

// TestIntegrationRestart: the server restarts on the same address and data;
// the client reconnects, resumes its session (its ephemeral survives) and
// its watches are re-registered.
func TestIntegrationRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := serverConfig(t, dir)
	cfg.MaxSessionTimeout = time.Minute
	s := startServer(t, cfg)
	addr := s.Addr().String()
	// Long enough to outlast a slow recovery on a loaded machine.
	c := dial(t, addr, client.WithSessionTimeout(30*time.Second))
	ctx := ctxFor(t)
	states, unsub := c.Subscribe()
	defer unsub()
	assert.Equal(t, client.StateConnected, next(t, states))
	id := c.SessionID()
	_, err := c.Create(ctx, "/eph", []byte("x"), tree.ModeEphemeral)
	require.NoError(t, err)
	_, _, ch, err := c.GetW(ctx, "/eph")
	require.NoError(t, err)

	require.NoError(t, s.Stop(ctx))
	assert.Equal(t, client.StateDisconnected, next(t, states))
	cfg.ClientAddr = addr
	startServer(t, cfg)
	assert.Equal(t, client.StateConnected, next(t, states))
	assert.Equal(t, id, c.SessionID())
	data, st, err := c.Get(ctx, "/eph")
	require.NoError(t, err)
	assert.Equal(t, "x", string(data))
	assert.Equal(t, id, st.EphemeralOwner)
	_, err = c.Set(ctx, "/eph", []byte("y"), -1)
	require.NoError(t, err)
	assert.Equal(t, tree.EventNodeDataChanged, next(t, ch).Type)
}

// TestIntegrationExpiry: a client cut off for longer than its session
// timeout sees ErrSessionExpired; the server deletes its ephemerals and
// fires the watches of other sessions.
func TestIntegrationExpiry(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, serverConfig(t, dir))
	addr := s.Addr().String()
	short := dial(t, addr, client.WithSessionTimeout(200*time.Millisecond))
	ctx := ctxFor(t)
	_, err := short.Create(ctx, "/eph", nil, tree.ModeEphemeral)
	require.NoError(t, err)
	_, _, wch, err := short.GetW(ctx, "/eph")
	require.NoError(t, err)

	require.NoError(t, s.Stop(ctx))
	ev := next(t, wch)
	assert.ErrorIs(t, ev.Err, client.ErrSessionExpired)
	assert.Equal(t, client.StateExpired, short.State())
	_, _, err = short.Get(ctx, "/")
	assert.ErrorIs(t, err, client.ErrSessionExpired)

	// The restarted server restores the session, then expires it.
	cfg := serverConfig(t, dir)
	cfg.ClientAddr = addr
	s2 := startServer(t, cfg)
	other := dial(t, s2.Addr().String())
	ok, _, ch, err := other.ExistsW(ctx, "/eph")
	require.NoError(t, err)
	if ok {
		assert.Equal(t, tree.EventNodeDeleted, next(t, ch).Type)
	}
	require.Eventually(t, func() bool {
		ok, _, err := other.Exists(ctx, "/eph")
		return err == nil && !ok
	}, waitFor, tick)
}

// TestIntegrationConcurrent: many goroutines on one client, pipelined.
func TestIntegrationConcurrent(t *testing.T) {
	s := startServer(t, serverConfig(t, t.TempDir()))
	c := dial(t, s.Addr().String())
	ctx := ctxFor(t)
	const workers, each = 16, 25
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range each {
				p := fmt.Sprintf("/w%02d-%02d", w, i)
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
		require.NoError(t, next(t, errs))
	}
	n, err := c.CountChildren(ctx, "/")
	require.NoError(t, err)
	assert.Equal(t, int64(workers*each), n)
}

// Removing a persistent watch removes only that kind on the server: a
// one-shot data watch on the same path still fires, and the removed watch's
// channel is closed.
func TestIntegrationRemovePersistentKeepsOneShot(t *testing.T) {
	s := startServer(t, serverConfig(t, t.TempDir()))
	c := dial(t, s.Addr().String())
	ctx := ctxFor(t)
	_, err := c.Create(ctx, "/w", []byte("a"), tree.ModePersistent)
	require.NoError(t, err)

	pw, err := c.AddWatch(ctx, "/w", false)
	require.NoError(t, err)
	_, _, oneShot, err := c.GetW(ctx, "/w")
	require.NoError(t, err)

	require.NoError(t, pw.Remove(ctx))
	_, err = c.Set(ctx, "/w", []byte("b"), tree.AnyVersion)
	require.NoError(t, err)

	ev := next(t, oneShot)
	require.NoError(t, ev.Err)
	assert.Equal(t, tree.EventNodeDataChanged, ev.Type)
	requireClosed(t, pw.C)

	// RemoveWatches by type removes exactly that kind.
	rw, err := c.AddWatch(ctx, "/", true)
	require.NoError(t, err)
	_, _, _, err = c.ChildrenW(ctx, "/")
	require.NoError(t, err)
	require.NoError(t, c.RemoveWatches(ctx, "/", wire.WatchTypePersistentRecursive))
	assert.ErrorIs(t, next(t, rw.C).Err, client.ErrWatchRemoved)
	requireClosed(t, rw.C)
	assert.ErrorIs(t, c.RemoveWatches(ctx, "/", wire.WatchTypePersistentRecursive), client.ErrNoWatcher)
	require.NoError(t, c.RemoveWatches(ctx, "/", wire.WatchTypeChildren), "the child watch is still there")
}

// requireClosed fails unless ch is closed, once what is buffered is drained.
func requireClosed(t testing.TB, ch <-chan client.Event) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, open := <-ch:
			if !open {
				return
			}
		case <-timeout:
			t.Fatal("channel not closed")
		}
	}
}
