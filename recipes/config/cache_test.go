package config_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes/config"
	"github.com/zabkit/zabkit/recipes/internal/recipetest"
)

// cacheState returns a Cache's contents as key -> raw value.
func cacheState(c *config.Cache) map[string]string {
	out := map[string]string{}
	for k, it := range c.Snapshot() {
		out[k] = string(it.Value)
	}
	return out
}

// recorder is an OnChange that records the Changes and notices if it is
// ever called from two goroutines at once.
type recorder struct {
	s       *stream
	inside  atomic.Int32
	overlap atomic.Bool
}

func (r *recorder) onChange(c config.Change) {
	if r.inside.Add(1) != 1 {
		r.overlap.Store(true)
	}
	r.s.add(c)
	r.inside.Add(-1)
}

// TestCacheConverges: a Cache follows concurrent writers, then loses its
// connection while another client updates, deletes (a whole subtree
// among them) and creates keys; after the reconnect it converges to the
// server's state, and its callbacks, called one at a time, never saw a key
// go back.
func TestCacheConverges(t *testing.T) {
	seed := uint64(recipetest.Seed(t))
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	lead, f := e.Leader(t), e.Follower(t)
	writer := newStore(t, e.ConnectPeer(t, lead), "/cfg")
	l := newLedger()
	put := func(k, v string) {
		t.Helper()
		st, err := writer.Put(ctx, k, v, config.AnyVersion)
		require.NoError(t, err)
		raw, _ := config.JSON.Marshal(v)
		l.record(k, st, raw)
	}
	for _, k := range []string{"keep", "update", "sub/a", "sub/b/c", "sub/d"} {
		put(k, "v0")
	}

	cc := e.ConnectPeer(t, f, client.WithSessionTimeout(5*time.Second))
	rec := &recorder{s: newStream()}
	cache, err := config.NewCache(newStore(t, cc, "/cfg"), "", config.OnChange(rec.onChange))
	require.NoError(t, err)
	defer cache.Close()
	require.NoError(t, cache.WaitReady(ctx))
	assert.Equal(t, serverState(t, ctx, writer, ""), cacheState(cache), "ready means loaded")
	assert.Equal(t, 5, rec.s.len())
	for _, c := range rec.s.changes {
		assert.True(t, c.Initial)
	}
	var v string
	_, err = cache.Get("sub/b/c", &v)
	require.NoError(t, err)
	assert.Equal(t, "v0", v)

	// Concurrent writers.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		ws := newStore(t, e.ConnectPeer(t, lead), "/cfg")
		wg.Go(func() {
			if _, err := write(ctx, ws, l, seed+uint64(w), 40, nil); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	converge(t, ctx, writer, "", func() map[string]string { return cacheState(cache) })

	// Disconnected while another client writes.
	e.Proxy(f).Refuse(true)
	e.Proxy(f).Cut()
	require.Eventually(t, func() bool { return cc.State() != client.StateConnected }, 30*time.Second, time.Millisecond)
	put("update", "v1")
	keys, err := writer.List(ctx, "sub")
	require.NoError(t, err)
	for _, k := range keys {
		require.NoError(t, writer.Delete(ctx, k, config.AnyVersion))
	}
	put("new/one", "v1")
	put("a/x", "v9") // a key the writers used, changed again
	e.Proxy(f).Refuse(false)
	converge(t, ctx, writer, "", func() map[string]string { return cacheState(cache) })
	_, err = cache.Get("sub/a", &v)
	require.ErrorIs(t, err, config.ErrNotFound)

	require.NoError(t, cache.Close())
	require.NoError(t, cache.Close(), "Close is idempotent")
	require.ErrorIs(t, cache.Err(), config.ErrClosed)
	assert.False(t, rec.overlap.Load(), "OnChange ran in two goroutines at once")
	for _, err := range rec.s.check(l) {
		t.Error(err)
	}
	assert.NotEmpty(t, cacheState(cache), "values stay readable after Close")
}

// TestCacheSessionExpiry: when the session expires the Cache stops: Done
// closes, Err says why, OnChange gets a last Change with the error, and
// the values stay readable.
func TestCacheSessionExpiry(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	f := e.Follower(t)
	c := e.ConnectPeer(t, f, client.WithSessionTimeout(time.Second))
	s := newStore(t, c, "/cfg")
	_, err := s.Put(ctx, "k", 1, config.AnyVersion)
	require.NoError(t, err)
	rec := &recorder{s: newStream()}
	cache, err := config.NewCache(s, "", config.OnChange(rec.onChange))
	require.NoError(t, err)
	defer cache.Close()
	require.NoError(t, cache.WaitReady(ctx))
	require.NoError(t, cache.Err())

	e.Proxy(f).Pause()
	defer e.Proxy(f).Resume()
	select {
	case <-cache.Done():
	case <-ctx.Done():
		t.Fatal("the cache did not stop")
	}
	require.ErrorIs(t, cache.Err(), client.ErrSessionExpired)
	last := rec.s.changes[rec.s.len()-1]
	require.ErrorIs(t, last.Err, client.ErrSessionExpired)
	var n int
	_, err = cache.Get("k", &n)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

// TestCacheSubtree: a Cache of one key's subtree holds only those keys.
func TestCacheSubtree(t *testing.T) {
	ctx := recipetest.Ctx(t)
	s := newStore(t, shared.Connect(t), prefix(t))
	for _, k := range []string{"app/a", "app/b", "other/c", "app"} {
		_, err := s.Put(ctx, k, k, config.AnyVersion)
		require.NoError(t, err)
	}
	cache, err := config.NewCache(s, "app")
	require.NoError(t, err)
	defer cache.Close()
	require.NoError(t, cache.WaitReady(ctx))
	assert.Equal(t, []string{"app", "app/a", "app/b"}, sortedKeys(cache.Snapshot()))
	_, err = s.Put(ctx, "app/new", 1, config.CreateOnly)
	require.NoError(t, err)
	_, err = s.Put(ctx, "other/new", 1, config.CreateOnly)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return cache.Len() == 4 }, 30*time.Second, time.Millisecond)
	_, _, err = cache.GetBytes("other/new")
	require.ErrorIs(t, err, config.ErrNotFound)
	wctx, cancel := context.WithCancel(ctx)
	cancel()
	require.NoError(t, cache.WaitReady(wctx), "ready wins over an ended ctx")
}
