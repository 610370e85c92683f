package barrier_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/ensemble/enstest"
	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/recipes/barrier"
	"github.com/zabkit/zabkit/recipes/internal/recipetest"
	"github.com/zabkit/zabkit/tree"
)

const waitFor = 30 * time.Second

// countConn counts the reads a recipe makes, so a test knows a waiter
// woke up and looked again.
type countConn struct {
	recipes.Conn
	reads atomic.Int64
}

func (c *countConn) Children(ctx context.Context, path string) ([]string, tree.Stat, error) {
	c.reads.Add(1)
	return c.Conn.Children(ctx, path)
}

func (c *countConn) ExistsW(ctx context.Context, path string) (bool, tree.Stat, <-chan client.Event, error) {
	c.reads.Add(1)
	return c.Conn.ExistsW(ctx, path)
}

// lookedAgain waits until every conn made more reads than in before. It
// fails at once if bad (the test's checker) reports a violation: a waiter
// that went through makes no more reads.
func lookedAgain(t *testing.T, conns []*countConn, before []int64, bad func() []string) []int64 {
	t.Helper()
	now := make([]int64, len(conns))
	require.Eventually(t, func() bool {
		if len(bad()) > 0 {
			return true // reported below
		}
		for i, c := range conns {
			now[i] = c.reads.Load()
			if now[i] <= before[i] {
				return false
			}
		}
		return true
	}, waitFor, time.Millisecond, "a waiter did not wake up and look again (did it return early?)")
	require.Empty(t, bad(), "checker")
	return now
}

func reads(conns []*countConn) []int64 {
	out := make([]int64, len(conns))
	for i, c := range conns {
		out[i] = c.reads.Load()
	}
	return out
}

func cutAll(e *enstest.Ensemble) {
	for _, id := range e.IDs() {
		e.Proxy(id).Cut()
	}
}

func wait(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(waitFor):
		t.Fatal("call did not return")
		return nil
	}
}

// TestBarrier: 32 waiters on 4 sessions stay blocked while the barrier is
// set, through spurious wake-ups (data changes on the barrier node, cut
// connections), and are all released by Remove.
func TestBarrier(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	c := e.Connect(t)
	const path = "/b/start"
	b := barrier.NewBarrier(c, path)
	require.NoError(t, b.Wait(ctx), "not set: Wait returns at once")
	set, err := b.IsSet(ctx)
	require.NoError(t, err)
	assert.False(t, set)
	require.NoError(t, b.Set(ctx))
	require.NoError(t, b.Set(ctx), "set twice is fine")
	set, err = b.IsSet(ctx)
	require.NoError(t, err)
	assert.True(t, set)

	var removed atomic.Bool
	var early atomic.Int64
	const waiters = 32
	clients := make([]*client.Client, 4)
	for i := range clients {
		clients[i] = e.Connect(t)
	}
	conns := make([]*countConn, waiters)
	done := make(chan error, waiters)
	for i := range waiters {
		conns[i] = &countConn{Conn: clients[i%len(clients)]}
		w := barrier.NewBarrier(conns[i], path)
		go func() {
			err := w.Wait(ctx)
			if !removed.Load() {
				early.Add(1)
			}
			done <- err
		}()
	}
	bad := func() []string {
		if n := early.Load(); n > 0 {
			return []string{fmt.Sprintf("%d waiters went through a set barrier", n)}
		}
		return nil
	}
	seen := lookedAgain(t, conns, make([]int64, waiters), bad)
	// Spurious wake-ups: a change that is not the removal.
	_, err = c.Set(ctx, path, []byte("still set"), tree.AnyVersion)
	require.NoError(t, err)
	seen = lookedAgain(t, conns, seen, bad)
	_, err = c.Set(ctx, path, []byte("still set, again"), tree.AnyVersion)
	require.NoError(t, err)
	lookedAgain(t, conns, seen, bad)
	cutAll(e)
	require.Zero(t, early.Load(), "a waiter went through a set barrier")
	assert.Len(t, done, 0)

	removed.Store(true)
	require.NoError(t, b.Remove(ctx))
	for range waiters {
		require.NoError(t, wait(t, done))
	}
	assert.Zero(t, early.Load())
	require.NoError(t, b.Remove(ctx), "remove twice is fine")
}

// TestBarrierWaitSessionExpired: a waiter whose session dies returns an
// error, it does not hang.
func TestBarrierWaitSessionExpired(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	f := e.Follower(t)
	c := e.ConnectPeer(t, f, client.WithSessionTimeout(time.Second))
	other := e.ConnectPeer(t, e.Leader(t))
	require.NoError(t, barrier.NewBarrier(other, "/b/expire").Set(ctx))
	done := make(chan error, 1)
	go func() { done <- barrier.NewBarrier(c, "/b/expire").Wait(ctx) }()
	e.Proxy(f).Pause()
	t.Cleanup(e.Proxy(f).Resume)
	require.ErrorIs(t, wait(t, done), client.ErrSessionExpired)
	set, err := barrier.NewBarrier(other, "/b/expire").IsSet(ctx)
	require.NoError(t, err)
	assert.True(t, set)
}

func TestBarrierCancel(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	c := e.Connect(t)
	b := barrier.NewBarrier(c, "/b/cancel")
	require.NoError(t, b.Set(ctx))
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Wait(wctx) }()
	cancel()
	require.ErrorIs(t, wait(t, done), context.Canceled)
}

func TestBadArguments(t *testing.T) {
	ctx := recipetest.Ctx(t)
	var conn recipes.Conn = &client.Client{}
	for _, p := range []string{"", "relative", "/", "/a/", "/a//b"} {
		assert.ErrorIs(t, barrier.NewBarrier(conn, p).Set(ctx), tree.ErrBadArguments, "path %q", p)
		assert.ErrorIs(t, barrier.NewDoubleBarrier(conn, p, 2).Enter(ctx), tree.ErrBadArguments, "path %q", p)
	}
	assert.ErrorIs(t, barrier.NewBarrier(nil, "/x").Wait(ctx), tree.ErrBadArguments)
	assert.ErrorIs(t, barrier.NewDoubleBarrier(conn, "/x", 0).Enter(ctx), tree.ErrBadArguments)
	assert.ErrorIs(t, barrier.NewDoubleBarrier(nil, "/x", 1).Leave(ctx), tree.ErrBadArguments)
	_, err := barrier.NewDoubleBarrier(conn, "/x", -1).Members(ctx)
	assert.ErrorIs(t, err, tree.ErrBadArguments)
}

// enterChecker checks, at every Enter's return, that at least n members
// of that round had called Enter, and at every Leave's return, that every
// member of the round had called Leave.
type enterChecker struct {
	n          int
	mu         sync.Mutex
	entering   map[int]int // round -> members that called Enter
	leaving    map[int]int // round -> members that called Leave
	size       map[int]int // round -> members in it
	violations []string
}

func newEnterChecker(n int) *enterChecker {
	return &enterChecker{n: n, entering: map[int]int{}, leaving: map[int]int{}, size: map[int]int{}}
}

func (c *enterChecker) enter(round int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entering[round]++
}

func (c *enterChecker) entered(round, member int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entering[round] < c.n {
		c.violations = append(c.violations, fmt.Sprintf("round %d: member %d entered with %d of %d members arrived", round, member, c.entering[round], c.n))
	}
}

func (c *enterChecker) leave(round int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leaving[round]++
}

func (c *enterChecker) left(round, member int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if want := c.size[round]; c.leaving[round] < want {
		c.violations = append(c.violations, fmt.Sprintf("round %d: member %d left with %d of %d members leaving", round, member, c.leaving[round], want))
	}
}

func (c *enterChecker) report() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.violations...)
}
