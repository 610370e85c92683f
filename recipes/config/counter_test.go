package config_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/recipes/config"
	"github.com/zabkit/zabkit/recipes/internal/recipetest"
	"github.com/zabkit/zabkit/tree"
)

func newCounter(t testing.TB, c recipes.Conn, path string, opts ...config.CounterOption) *config.Counter {
	t.Helper()
	n, err := config.NewCounter(c, path, opts...)
	require.NoError(t, err)
	return n
}

// TestCounterCompareAndSet: CAS on a missing, then existing counter, and
// hand-written values.
func TestCounterCompareAndSet(t *testing.T) {
	c := shared.Connect(t)
	ctx := recipetest.Ctx(t)
	p := prefix(t) + "/n"
	n := newCounter(t, c, p)
	v, ver, err := n.Get(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 0, v)
	assert.Equal(t, config.CreateOnly, ver)
	ok, err := n.CompareAndSet(ctx, 0, 5)
	require.NoError(t, err)
	assert.False(t, ok, "version 0 of a missing counter")
	ok, err = n.CompareAndSet(ctx, config.CreateOnly, 5)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = n.CompareAndSet(ctx, config.CreateOnly, 6)
	require.NoError(t, err)
	assert.False(t, ok)
	v, ver, err = n.Get(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 5, v)
	ok, err = n.CompareAndSet(ctx, ver, 7)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = n.CompareAndSet(ctx, ver, 8)
	require.NoError(t, err)
	assert.False(t, ok, "stale version")
	_, err = n.CompareAndSet(ctx, config.AnyVersion, 8)
	require.ErrorIs(t, err, config.ErrBadVersion)

	// A hand-written decimal is a value; foreign data is an error.
	_, err = c.Set(ctx, p, []byte("41"), tree.AnyVersion)
	require.NoError(t, err)
	got, err := n.Add(ctx, 1)
	require.NoError(t, err)
	assert.EqualValues(t, 42, got)
	_, err = c.Set(ctx, p, []byte("{oops"), tree.AnyVersion)
	require.NoError(t, err)
	_, err = n.Add(ctx, 1)
	require.ErrorIs(t, err, config.ErrCounterData)
	_, err = c.Set(ctx, p, []byte(fmt.Sprint(int64(1<<63-1))), tree.AnyVersion)
	require.NoError(t, err)
	_, err = n.Add(ctx, 1)
	require.ErrorIs(t, err, config.ErrOverflow)
	_, err = config.NewCounter(c, "/")
	require.ErrorIs(t, err, config.ErrBadKey)
}

// TestCounterConcurrentAdd: 32 callers on four sessions add 1 eight times
// each; the total is exact and the values the Adds returned are exactly
// 1..256, each once (no lost update, no double count).
func TestCounterConcurrentAdd(t *testing.T) {
	ctx := recipetest.Ctx(t)
	p := prefix(t) + "/hits"
	clients := []*client.Client{shared.Connect(t), shared.Connect(t), shared.Connect(t), shared.Connect(t)}
	const callers = 32
	each := scale(8, 100)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen []int64
	)
	errs := make(chan error, callers)
	for i := range callers {
		n := newCounter(t, clients[i%len(clients)], p)
		wg.Go(func() {
			for range each {
				v, err := n.Add(ctx, 1)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				seen = append(seen, v)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, clients[0].Sync(ctx, p))
	v, _, err := newCounter(t, clients[0], p).Get(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, callers*each, v)
	slices.Sort(seen)
	want := make([]int64, callers*each)
	for i := range want {
		want[i] = int64(i + 1)
	}
	assert.Equal(t, want, seen, "each Add returned a distinct value")
}

// setFaultConn is a Conn whose next Sets misbehave, by mode:
//   - "lose": the Set is applied, then its reply is lost (onLose runs);
//   - "drop": the Set is never sent, onLose runs, and the caller is told
//     ErrConnectionLoss (it may have been applied, as far as it knows);
//   - "cancel": the Set is applied, then the caller's ctx is cancelled
//     (cancel) and it gets ctx.Err();
//   - "cancel-drop": the ctx is cancelled and the Set never sent.
type setFaultConn struct {
	recipes.Conn
	mu     sync.Mutex
	mode   string
	n      int
	onLose func()
	cancel context.CancelFunc
	hits   int
}

func (f *setFaultConn) next(mode string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode, f.n = mode, n
}

func (f *setFaultConn) Set(ctx context.Context, path string, data []byte, version int32) (tree.Stat, error) {
	f.mu.Lock()
	mode := ""
	if f.n > 0 {
		f.n--
		f.hits++
		mode = f.mode
	}
	onLose, cancel := f.onLose, f.cancel
	f.mu.Unlock()
	switch mode {
	case "drop":
		if onLose != nil {
			onLose()
		}
		return tree.Stat{}, fmt.Errorf("test: set %s not sent: %w", path, client.ErrConnectionLoss)
	case "cancel-drop":
		cancel()
		return tree.Stat{}, ctx.Err()
	}
	st, err := f.Conn.Set(ctx, path, data, version)
	if err != nil || mode == "" {
		return st, err
	}
	if mode == "cancel" {
		cancel()
		return tree.Stat{}, ctx.Err()
	}
	if onLose != nil {
		onLose()
	}
	return tree.Stat{}, fmt.Errorf("test: reply to set %s dropped: %w", path, client.ErrConnectionLoss)
}

// TestCounterLostReply: Adds whose replies are lost count exactly once:
// applied then lost (with a real reconnect, and with other writers in
// between), never sent, and lost across ctx cancellation; when more writes
// than the history holds came in between, Add says ErrIndeterminate
// instead of guessing. The create's lost reply is covered too.
func TestCounterLostReply(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	c := e.Connect(t)
	others := newCounter(t, e.Connect(t), "/c/n", config.WithHistory(8))

	// The first Add creates the counter; its reply is lost.
	fc := recipetest.NewFaultConn(c)
	fc.LoseCreateReplies(1, func() {
		for _, id := range e.IDs() {
			e.Proxy(id).Cut()
		}
	})
	v, err := newCounter(t, fc, "/c/n").Add(ctx, 1)
	require.NoError(t, err)
	assert.EqualValues(t, 1, v)
	require.Len(t, fc.Lost(), 1)

	f := &setFaultConn{Conn: c}
	n := newCounter(t, f, "/c/n", config.WithHistory(8))
	want := int64(1)
	add := func(delta int64) {
		t.Helper()
		v, err := n.Add(ctx, delta)
		require.NoError(t, err)
		want += delta
		assert.Equal(t, want, v)
	}

	t.Run("applied-then-lost", func(t *testing.T) {
		f.next("lose", 1)
		f.onLose = nil
		add(10)
	})
	t.Run("applied-then-cut", func(t *testing.T) {
		f.next("lose", 1)
		f.onLose = func() {
			for _, id := range e.IDs() {
				e.Proxy(id).Cut()
			}
		}
		add(100)
	})
	t.Run("others-wrote-since", func(t *testing.T) {
		f.next("lose", 1)
		f.onLose = func() {
			for range 5 { // fewer than the history of 8
				_, err := others.Add(ctx, 1000)
				require.NoError(t, err)
				want += 1000
			}
		}
		v, err := n.Add(ctx, 7)
		require.NoError(t, err)
		want += 7
		assert.Equal(t, want-5000, v, "the value Add made, before the others")
	})
	t.Run("never-sent", func(t *testing.T) {
		f.next("drop", 2) // the first copy and its identical resend are lost
		f.onLose = nil
		add(3)
	})
	t.Run("never-sent-others-wrote", func(t *testing.T) {
		f.next("drop", 1)
		f.onLose = func() {
			for range 3 {
				_, err := others.Add(ctx, 1000)
				require.NoError(t, err)
				want += 1000
			}
		}
		v, err := n.Add(ctx, 4)
		require.NoError(t, err)
		want += 4
		assert.Equal(t, want, v, "not applied: another write took the version; Add tried again")
	})
	t.Run("too-many-since", func(t *testing.T) {
		f.next("lose", 1)
		f.onLose = func() {
			for range 9 { // more than the history of 8
				_, err := others.Add(ctx, 1)
				require.NoError(t, err)
				want++
			}
		}
		_, err := n.Add(ctx, 20)
		require.ErrorIs(t, err, config.ErrIndeterminate)
		require.ErrorIs(t, err, client.ErrConnectionLoss)
		want += 20 // it was applied; Add did not guess, and did not retry
	})
	t.Run("cancelled-after-apply", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		f.next("cancel", 1)
		f.cancel = cancel
		v, err := n.Add(cctx, 30)
		require.NoError(t, err, "applied: the cancelled Add says so")
		want += 30
		assert.Equal(t, want, v)
	})
	t.Run("cancelled-before-send", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		f.next("cancel-drop", 1)
		f.cancel = cancel
		_, err := n.Add(cctx, 40)
		require.ErrorIs(t, err, context.Canceled)
		require.NotErrorIs(t, err, config.ErrIndeterminate, "the fence proved it not applied")
	})

	require.NoError(t, c.Sync(ctx, "/c/n"))
	got, _, err := newCounter(t, c, "/c/n").Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, got, "every Add counted exactly once")
}

// TestCounterAddUnderFaults: 32 callers add while their replies are lost
// at random (applied, then reported as connection losses); the total is
// exact, counting the Adds that returned ErrIndeterminate (whose writes
// all landed here).
func TestCounterAddUnderFaults(t *testing.T) {
	ctx := recipetest.Ctx(t)
	p := prefix(t) + "/n"
	clients := []*client.Client{shared.Connect(t), shared.Connect(t)}
	const callers = 32
	each := scale(6, 60)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total, indeterminate int64
	errs := make(chan error, callers)
	for i := range callers {
		f := &setFaultConn{Conn: clients[i%len(clients)]}
		n := newCounter(t, f, p)
		wg.Go(func() {
			for j := range each {
				if (i+j)%3 == 0 {
					f.next("lose", 1)
				}
				_, err := n.Add(ctx, int64(i+1))
				switch {
				case errors.Is(err, config.ErrIndeterminate):
					mu.Lock()
					indeterminate++
					total += int64(i + 1)
					mu.Unlock()
				case err != nil:
					errs <- err
					return
				default:
					mu.Lock()
					total += int64(i + 1)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, clients[0].Sync(ctx, p))
	v, _, err := newCounter(t, clients[0], p).Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, total, v, "no double count, no lost update")
	t.Logf("%d of %d adds indeterminate", indeterminate, callers*each)
}
