package loadgen

import (
	"context"
	"path"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/tree"
)

func TestLockEntries(t *testing.T) {
	kids := []string{"_c_b-lock-0000000010", "other", "_c_a-lock-0000000002", "_c_c-lock-x", "_c_d-lock-0000000007"}
	es := lockEntries(kids)
	require.Len(t, es, 3)
	assert.Equal(t, []int64{2, 7, 10}, []int64{es[0].seq, es[1].seq, es[2].seq})

	pred, found := predecessor(kids, "_c_a-lock-0000000002")
	assert.True(t, found)
	assert.Empty(t, pred, "the lowest holds the lock")
	pred, found = predecessor(kids, "_c_b-lock-0000000010")
	assert.True(t, found)
	assert.Equal(t, "_c_d-lock-0000000007", pred, "the immediate predecessor, not the lowest")
	_, found = predecessor(kids, "_c_z-lock-0000000001")
	assert.False(t, found)
}

// within receives from ch, failing the test if nothing comes within 10 s
// (a broken recipe must fail the test, not hang it).
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// lockDir makes a fresh mutex directory and returns it with n sessions.
func lockDir(t *testing.T, addr string, n int) (string, []*client.Client) {
	t.Helper()
	ctx := context.Background()
	cs := make([]*client.Client, n)
	for i := range cs {
		c, err := client.Connect(ctx, []string{addr})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		cs[i] = c
	}
	dir := LockRoot + "/" + path.Base(t.Name())
	for _, p := range []string{Root, LockRoot, dir} {
		_, err := cs[0].Create(ctx, p, nil, tree.ModePersistent)
		if err != nil {
			require.ErrorIs(t, err, client.ErrNodeExists)
		}
	}
	return dir, cs
}

// While one contender holds the mutex, another cannot take it; the same
// check lets a recipe that skips the predecessor wait through, so it would
// catch a broken recipe.
func TestLockExcludes(t *testing.T) {
	addr := startServer(t)
	dir, cs := lockDir(t, addr, 2)
	ctx := context.Background()
	a := newMutex(cs[0], dir, nil)
	require.NoError(t, a.Lock(ctx))

	b := newMutex(cs[1], dir, nil)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := b.Lock(short)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "b must not get the lock a holds")
	kids, _, err := cs[0].Children(ctx, dir)
	require.NoError(t, err)
	assert.Equal(t, []string{path.Base(a.node)}, kids, "b removed its node when it gave up")

	broken := newMutex(cs[1], dir, &lockHooks{skipWait: true})
	require.NoError(t, broken.Lock(ctx), "without the predecessor wait the recipe lets a second holder in")
	require.NoError(t, broken.Unlock(ctx))

	done := make(chan error, 1)
	go func() { done <- b.Lock(ctx) }()
	require.NoError(t, a.Unlock(ctx))
	require.NoError(t, within(t, done, "b's Lock"), "released: b gets it")
	require.NoError(t, b.Unlock(ctx))
	kids, _, err = cs[0].Children(ctx, dir)
	require.NoError(t, err)
	assert.Empty(t, kids)
}

// A waiter whose predecessor gives up lists again and waits for the holder:
// it never takes the event as ownership.
func TestLockRechecksAfterEvent(t *testing.T) {
	addr := startServer(t)
	dir, cs := lockDir(t, addr, 3)
	ctx := context.Background()
	a := newMutex(cs[0], dir, nil)
	require.NoError(t, a.Lock(ctx))

	bWaits, cWaits := make(chan string, 4), make(chan string, 4)
	bCtx, cancelB := context.WithCancel(ctx)
	defer cancelB()
	bDone, cDone := make(chan error, 1), make(chan error, 1)
	b := newMutex(cs[1], dir, &lockHooks{onWait: func(p string) { bWaits <- p }})
	go func() { bDone <- b.Lock(bCtx) }()
	aName := path.Base(a.node)
	require.Equal(t, aName, within(t, bWaits, "b to wait"), "b watches the holder")

	c := newMutex(cs[2], dir, &lockHooks{onWait: func(p string) { cWaits <- p }})
	go func() { cDone <- c.Lock(ctx) }()
	bName := within(t, cWaits, "c to wait")
	assert.NotEqual(t, aName, bName, "c watches its predecessor b, not the holder")

	cancelB()
	require.ErrorIs(t, within(t, bDone, "b to give up"), context.Canceled)
	select {
	case p := <-cWaits:
		require.Equal(t, aName, p, "after b's node went, c listed again and now watches a")
	case err := <-cDone:
		t.Fatalf("c returned (%v) while a holds the lock", err)
	case <-time.After(10 * time.Second):
		t.Fatal("c neither waits for a nor returns")
	}
	require.NoError(t, a.Unlock(ctx))
	require.NoError(t, within(t, cDone, "c's Lock"))
	require.NoError(t, c.Unlock(ctx))
}

// The workload against a real server: handoffs, no violations, no errors.
func TestLockWorkload(t *testing.T) {
	addr := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a deadlocked recipe fails, not hangs
	defer cancel()
	res, err := Run(ctx, "lock", Config{Servers: []string{addr}, Lockers: 8, Duration: time.Second})
	require.NoError(t, err)
	require.Len(t, res, 1)
	r := res[0]
	assert.Equal(t, "lock", r.Workload)
	assert.Equal(t, 8, r.Clients)
	assert.Equal(t, 8, r.Sessions)
	assert.Zero(t, r.Violations)
	assert.Zero(t, r.Errors, r.FirstErr)
	assert.Positive(t, r.Ops)
	assert.Positive(t, r.OpsPerS)
	assert.LessOrEqual(t, r.P50, r.P99)
	t.Logf("%d handoffs, %.0f/s, p50 %.0fus p99 %.0fus", r.Ops, r.OpsPerS, r.P50, r.P99)
}

// The workload's holder counter catches a recipe that lets two holders in:
// with the predecessor wait skipped, the first holder waits inside the
// critical section for a second one to arrive.
func TestLockWorkloadCountsViolations(t *testing.T) {
	addr := startServer(t)
	var inside atomic.Int32
	met := make(chan struct{})
	var once sync.Once
	hooks := &lockHooks{skipWait: true, hold: func() {
		if inside.Add(1) >= 2 {
			once.Do(func() { close(met) })
		}
		select {
		case <-met:
		case <-time.After(10 * time.Second): // safety net only; met closes within ms
		}
		inside.Add(-1)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, "lock", Config{Servers: []string{addr}, Lockers: 4,
		Duration: 200 * time.Millisecond, lockHooks: hooks})
	require.NoError(t, err)
	require.Len(t, res, 1)
	assert.Positive(t, res[0].Violations)
	assert.Contains(t, res[0].FirstErr, "MUTUAL EXCLUSION VIOLATED")
}
