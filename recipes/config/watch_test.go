package config_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/ensemble/enstest"
	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/recipes/config"
	"github.com/zabkit/zabkit/recipes/internal/recipetest"
)

// testKeys are the keys the writers of a test change: nested, one key
// below another, so that deletes remove and re-create directories.
var testKeys = []string{"a/x", "a/y", "a/b/z", "b", "b/c", "c/d/e/f"}

// write runs n random changes on s from one writer (seeded by seed): puts
// of fresh values (recorded in l) and, one in five, deletes. It stops at
// the first error or when stop is closed, and returns how many it made.
func write(ctx context.Context, s *config.Store, l *ledger, seed uint64, n int, stop <-chan struct{}) (int, error) {
	r := rand.New(rand.NewPCG(seed, 7))
	for i := 0; i < n; i++ {
		select {
		case <-stop:
			return i, nil
		default:
		}
		k := testKeys[r.IntN(len(testKeys))]
		if r.IntN(5) == 0 {
			if err := s.Delete(ctx, k, config.AnyVersion); err != nil {
				return i, err
			}
			continue
		}
		v := fmt.Sprintf("w%d-%d", seed, i)
		raw, _ := config.JSON.Marshal(v)
		st, err := s.Put(ctx, k, v, config.AnyVersion)
		if err != nil {
			return i, err
		}
		l.record(k, st, raw)
	}
	return n, nil
}

// TestWatchOrdered: six writers change six keys concurrently (puts, deletes
// and re-creates); streams on the whole store, a subtree and one key never
// deliver a value older than one they delivered before, every value is one
// a writer stored at that Mzxid, and each ends at the server's final state.
func TestWatchOrdered(t *testing.T) {
	seed := uint64(recipetest.Seed(t))
	ctx := recipetest.Ctx(t)
	root := prefix(t)
	wc := shared.Connect(t)
	s := newStore(t, wc, root)
	l := newLedger()
	st, err := s.Put(ctx, "a/x", "initial", config.AnyVersion)
	require.NoError(t, err)
	l.record("a/x", st, []byte(`"initial"`))

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The last stream's receiver stalls after the first Change until the
	// writers are done, so that its events pile up: it then reads back
	// keys whose older events (deletes among them) are still queued.
	scopes := []string{"", "a", "b/c", ""}
	streams := make([]*stream, len(scopes))
	waits := make([]func(), len(scopes))
	gate := make(chan struct{})
	for i, sc := range scopes {
		ch, err := s.Watch(wctx, sc)
		require.NoError(t, err)
		streams[i] = newStream()
		if i == len(scopes)-1 {
			ch = stall(ch, gate)
		}
		waits[i] = collect(ch, streams[i])
	}
	// The initial state arrives first.
	require.Eventually(t, func() bool { return streams[0].len() >= 1 }, 30*time.Second, time.Millisecond)
	first := streams[0].changes[0]
	assert.True(t, first.Initial)
	assert.Equal(t, "a/x", first.Key)

	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for w := range 6 {
		ws := newStore(t, shared.Connect(t), root)
		wg.Go(func() {
			if _, err := write(ctx, ws, l, seed+uint64(w), scale(60, 2000), nil); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(gate)
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for i, sc := range scopes {
		converge(t, ctx, s, sc, streams[i].snapshot)
	}
	cancel()
	for i, w := range waits {
		w()
		for _, err := range streams[i].check(l) {
			t.Errorf("scope %q: %v", scopes[i], err)
		}
		t.Logf("scope %q: %d changes", scopes[i], streams[i].len())
	}
	// The stream's watch is gone from the server once its ctx ended.
	for _, sc := range scopes {
		p := root
		if sc != "" {
			p += "/" + sc
		}
		err := wc.RemoveWatches(ctx, p, wire.WatchTypePersistentRecursive)
		assert.ErrorIs(t, err, client.ErrNoWatcher, "watch on %s left behind", p)
	}
}

// stall passes on the first Change of in, then waits for gate before
// passing on the rest: a receiver that falls behind.
func stall(in <-chan config.Change, gate <-chan struct{}) <-chan config.Change {
	out := make(chan config.Change)
	go func() {
		defer close(out)
		first := true
		for c := range in {
			out <- c
			if first {
				<-gate
				first = false
			}
		}
	}()
	return out
}

// onPeer connects a client to every peer but makes it land on peer id (the
// others refuse it while it connects), so that a test knows which peer to
// kill or cut.
func onPeer(t *testing.T, e *enstest.Ensemble, id uint32, opts ...client.Option) *client.Client {
	t.Helper()
	for _, o := range e.IDs() {
		if o != id {
			e.Proxy(o).Refuse(true)
		}
	}
	c := e.Connect(t, opts...)
	for _, o := range e.IDs() {
		e.Proxy(o).Refuse(false)
	}
	return c
}

// TestWatchPeerKilled: the watcher's peer is killed while writers go on;
// the stream moves to another peer and reaches the final state, in order.
func TestWatchPeerKilled(t *testing.T) {
	seed := uint64(recipetest.Seed(t))
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	lead := e.Leader(t)
	f := e.Follower(t)
	wc := onPeer(t, e, f, client.WithSessionTimeout(5*time.Second))
	s := newStore(t, wc, "/cfg")
	states, unsubscribe := wc.Subscribe()
	defer unsubscribe()
	require.Equal(t, client.StateConnected, <-states)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.Watch(wctx, "")
	require.NoError(t, err)
	got := newStream()
	wait := collect(ch, got)

	l := newLedger()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var made atomic.Int64
	errs := make(chan error, 3)
	for w := range 3 {
		ws := newStore(t, e.ConnectPeer(t, lead), "/cfg")
		wg.Go(func() {
			n, err := write(ctx, ws, l, seed+uint64(w), 1000, stop)
			made.Add(int64(n))
			if err != nil {
				errs <- err
			}
		})
	}
	require.Eventually(t, func() bool { return got.len() >= 20 }, 30*time.Second, time.Millisecond)
	e.Kill(f)
	require.Equal(t, client.StateDisconnected, <-states, "the watcher was on the killed peer")
	require.Equal(t, client.StateConnected, <-states, "and moved to another")
	before := got.len()
	require.Eventually(t, func() bool { return got.len() >= before+20 }, 30*time.Second, time.Millisecond,
		"the stream goes on after its peer died")
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	converge(t, ctx, newStore(t, e.ConnectPeer(t, lead), "/cfg"), "", got.snapshot)
	cancel()
	wait()
	for _, err := range got.check(l) {
		t.Error(err)
	}
	if t.Failed() {
		for _, c := range got.changes {
			t.Logf("%v initial=%v", c, c.Initial)
		}
	}
	t.Logf("%d writes, %d changes", made.Load(), got.len())
}

// TestWatchCutMissesNothing: the watcher's connection is cut and kept down
// while another client updates, deletes and creates keys; the server re-adds
// the persistent watch on reconnect but does not replay those changes, so
// only the stream's re-read after the reconnect can deliver them.
func TestWatchCutMissesNothing(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	lead, f := e.Leader(t), e.Follower(t)
	writer := newStore(t, e.ConnectPeer(t, lead), "/cfg")
	for _, k := range []string{"keep", "update", "gone", "dir/gone", "dir/update"} {
		_, err := writer.Put(ctx, k, "v0", config.AnyVersion)
		require.NoError(t, err)
	}
	wc := e.ConnectPeer(t, f, client.WithSessionTimeout(5*time.Second))
	s := newStore(t, wc, "/cfg")
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	scopes := []string{"", "dir", "update"}
	streams := make([]*stream, len(scopes))
	waits := make([]func(), len(scopes))
	for i, scope := range scopes {
		ch, err := s.Watch(wctx, scope)
		require.NoError(t, err)
		streams[i] = newStream()
		waits[i] = collect(ch, streams[i])
		converge(t, ctx, writer, scope, streams[i].snapshot)
	}

	e.Proxy(f).Refuse(true)
	e.Proxy(f).Cut()
	require.Eventually(t, func() bool { return wc.State() != client.StateConnected }, 30*time.Second, time.Millisecond)
	for _, k := range []string{"update", "dir/update"} {
		_, err := writer.Put(ctx, k, "v1", config.AnyVersion)
		require.NoError(t, err)
	}
	require.NoError(t, writer.Delete(ctx, "gone", config.AnyVersion))
	require.NoError(t, writer.Delete(ctx, "dir/gone", config.AnyVersion))
	_, err := writer.Put(ctx, "new/key", "v1", config.AnyVersion)
	require.NoError(t, err)
	e.Proxy(f).Refuse(false)

	for i, scope := range scopes {
		converge(t, ctx, writer, scope, streams[i].snapshot)
	}
	cancel()
	for i, scope := range scopes {
		waits[i]()
		for _, err := range streams[i].check(nil) {
			t.Errorf("scope %q: %v", scope, err)
		}
	}
}

// TestWatchSessionExpiry: a stream whose session expires ends with a
// Change carrying client.ErrSessionExpired, then its channel closes.
func TestWatchSessionExpiry(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	f := e.Follower(t)
	c := e.ConnectPeer(t, f, client.WithSessionTimeout(time.Second))
	s := newStore(t, c, "/cfg")
	_, err := s.Put(ctx, "k", 1, config.AnyVersion)
	require.NoError(t, err)
	ch, err := s.Watch(ctx, "")
	require.NoError(t, err)
	first := <-ch
	require.NoError(t, first.Err)
	require.True(t, first.Initial)
	e.Proxy(f).Pause()
	defer e.Proxy(f).Resume()
	var last config.Change
	for c := range ch {
		last = c
	}
	require.ErrorIs(t, last.Err, client.ErrSessionExpired)
}

// TestWatchBadKey: Watch refuses a bad key at once.
func TestWatchBadKey(t *testing.T) {
	s := newStore(t, shared.Connect(t), prefix(t))
	_, err := s.Watch(context.Background(), "a//b")
	require.ErrorIs(t, err, config.ErrBadKey)
	_, err = config.NewCache(s, "/abs")
	require.True(t, errors.Is(err, config.ErrBadKey))
}
