package recipe_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes/internal/recipe"
	"github.com/zabkit/zabkit/recipes/internal/recipetest"
	"github.com/zabkit/zabkit/tree"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSeqAndNames(t *testing.T) {
	n, ok := recipe.Seq("_c_0123456789abcdef0123456789abcdef-lock-0000000042")
	require.True(t, ok)
	assert.EqualValues(t, 42, n)
	_, ok = recipe.Seq("lock-")
	assert.False(t, ok)
	_, ok = recipe.Seq("lock-00000000x1")
	assert.False(t, ok)
	g := recipe.NewGUID()
	name := recipe.ProtectedName(g, "lock-") + "0000000007"
	got, ok := recipe.GUIDOf(name)
	require.True(t, ok)
	assert.Equal(t, g, got)
	assert.Equal(t, "lock-", recipe.Prefix(name))
	_, ok = recipe.GUIDOf("_c_short-lock-0000000001")
	assert.False(t, ok)
	assert.Equal(t, []string{"b-0000000001", "_c_x-a-0000000002", "a-0000000010", "zzz"},
		recipe.SortBySeq([]string{"zzz", "a-0000000010", "_c_x-a-0000000002", "b-0000000001"}))
	assert.Equal(t, "/a", recipe.Join("/", "a"))
	assert.Equal(t, "/a/b", recipe.Join("/a", "b"))
}

// TestCreateProtectedAdoptsAfterLostReply: the create is applied, its reply
// lost, the connection cut; the recipe finds and adopts its node instead
// of creating a second one.
func TestCreateProtectedAdoptsAfterLostReply(t *testing.T) {
	e := recipetest.Ensemble(t)
	c := e.Connect(t)
	ctx := recipetest.Ctx(t)
	for _, mode := range []tree.CreateMode{tree.ModeEphemeralSequential, tree.ModePersistentSequential} {
		parent := "/adopt-" + mode.String()
		require.NoError(t, recipe.EnsurePath(ctx, c, parent))
		f := recipetest.NewFaultConn(c)
		f.LoseCreateReplies(1, func() {
			for _, id := range e.IDs() {
				e.Proxy(id).Cut()
			}
		})
		p, err := recipe.CreateProtected(ctx, f, parent, "lock-", []byte("x"), mode)
		require.NoError(t, err)
		require.Len(t, f.Lost(), 1)
		assert.Equal(t, f.Lost()[0], p, "adopted the node the lost reply named")
		names, _, err := c.Children(ctx, parent)
		require.NoError(t, err)
		assert.Len(t, names, 1, "no orphan, no second node: %v", names)
	}
}

// TestCreateProtectedNeverAdoptsAnotherSession: a node with the same GUID
// owned by another session is not this session's ephemeral.
func TestCreateProtectedNeverAdoptsAnotherSession(t *testing.T) {
	e := recipetest.Ensemble(t)
	a, b := e.Connect(t), e.Connect(t)
	ctx := recipetest.Ctx(t)
	require.NoError(t, recipe.EnsurePath(ctx, a, "/p/q"))
	g := recipe.NewGUID()
	_, err := a.Create(ctx, "/p/q/"+recipe.ProtectedName(g, "x-"), nil, tree.ModeEphemeralSequential)
	require.NoError(t, err)
	found, err := recipe.FindProtected(ctx, b, "/p/q", g, tree.ModeEphemeralSequential)
	require.NoError(t, err)
	assert.Empty(t, found)
	found, err = recipe.FindProtected(ctx, a, "/p/q", g, tree.ModeEphemeralSequential)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(found, "/p/q/_c_"+g))
}

// TestCreateProtectedCancelCleansUp: a call whose ctx ends after the
// server applied its create leaves no node.
func TestCreateProtectedCancelCleansUp(t *testing.T) {
	e := recipetest.Ensemble(t)
	c := e.Connect(t)
	ctx := recipetest.Ctx(t)
	f := recipetest.NewFaultConn(c)
	cctx, cancel := context.WithCancel(ctx)
	f.LoseCreateReplies(1, cancel) // applied, then the caller gives up
	_, err := recipe.CreateProtected(cctx, f, "/cancel", "n-", nil, tree.ModePersistentSequential)
	require.ErrorIs(t, err, context.Canceled)
	names, _, err := c.Children(ctx, "/cancel")
	if !errors.Is(err, tree.ErrNoNode) {
		require.NoError(t, err)
		assert.Empty(t, names)
	}
}

// TestGuard: a cut connection that comes back quickly is not a loss; a
// client that hears nothing for half its session timeout is told before
// the server expires its session.
func TestGuard(t *testing.T) {
	e := recipetest.Ensemble(t)
	f := e.Follower(t)
	c := e.ConnectPeer(t, f, client.WithSessionTimeout(time.Second))
	other := e.ConnectPeer(t, e.Leader(t))
	ctx := recipetest.Ctx(t)
	_, err := c.Create(ctx, "/eph", nil, tree.ModeEphemeral)
	require.NoError(t, err)

	g := recipe.NewGuard(c)
	defer g.Stop()
	e.Proxy(f).Cut()
	require.Eventually(t, func() bool { return c.State() == client.StateConnected }, 30*time.Second, 5*time.Millisecond)
	assert.False(t, g.IsLost(), "a quick reconnect is not a loss")

	e.Proxy(f).Pause()
	defer e.Proxy(f).Resume()
	select {
	case <-g.Lost():
	case <-ctx.Done():
		t.Fatal("guard never reported the loss")
	}
	ok, _, err := other.Exists(ctx, "/eph")
	require.NoError(t, err)
	assert.True(t, ok, "the holder was told before the server expired the session")
	require.Eventually(t, func() bool {
		ok, _, err := other.Exists(ctx, "/eph")
		return err == nil && !ok
	}, 30*time.Second, 5*time.Millisecond)
}

// TestWaitGone returns when the node goes, and at once if it is absent.
func TestWaitGone(t *testing.T) {
	e := recipetest.Ensemble(t)
	c := e.Connect(t)
	ctx := recipetest.Ctx(t)
	require.NoError(t, recipe.WaitGone(ctx, c, "/absent", nil, nil))
	_, err := c.Create(ctx, "/w", nil, tree.ModePersistent)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- recipe.WaitGone(ctx, c, "/w", nil, nil) }()
	// a change that is not a delete wakes the waiter, which must look again
	_, err = c.Set(ctx, "/w", []byte("1"), tree.AnyVersion)
	require.NoError(t, err)
	select {
	case err := <-done:
		t.Fatalf("returned before the delete: %v", err)
	default:
	}
	require.NoError(t, c.Delete(ctx, "/w", tree.AnyVersion))
	require.NoError(t, <-done)
	stop := make(chan struct{})
	_, err = c.Create(ctx, "/w", nil, tree.ModePersistent)
	require.NoError(t, err)
	close(stop)
	errStop := errors.New("stopped")
	require.ErrorIs(t, recipe.WaitGone(ctx, c, "/w", stop, errStop), errStop)
}
