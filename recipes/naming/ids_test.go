package naming_test

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes/internal/recipetest"
	"github.com/zabkit/zabkit/recipes/naming"
	"github.com/zabkit/zabkit/tree"
)

// draw is one Next call as a checker sees it.
type draw struct {
	client     int
	id         int64
	start, end time.Time
}

// checkDraws checks the ids promise: unique, increasing per client, and
// greater than every id returned before the call began (real time).
func checkDraws(t *testing.T, draws []draw) {
	t.Helper()
	seen := map[int64]int{}
	for i, d := range draws {
		if j, dup := seen[d.id]; dup {
			t.Errorf("id %d handed out twice (calls %d and %d)", d.id, j, i)
		}
		seen[d.id] = i
		assert.Positive(t, d.id)
	}
	last := map[int]int64{}
	for _, d := range draws { // draws are appended per client in call order
		if prev, ok := last[d.client]; ok && d.id <= prev {
			t.Errorf("client %d: id %d after %d", d.client, d.id, prev)
		}
		last[d.client] = d.id
	}
	byEnd := append([]draw(nil), draws...)
	sort.Slice(byEnd, func(i, j int) bool { return byEnd[i].end.Before(byEnd[j].end) })
	prefixMax := make([]int64, len(byEnd))
	for i, d := range byEnd {
		prefixMax[i] = d.id
		if i > 0 {
			prefixMax[i] = max(prefixMax[i], prefixMax[i-1])
		}
	}
	for _, b := range draws {
		// calls that ended before b began
		k := sort.Search(len(byEnd), func(i int) bool { return !byEnd[i].end.Before(b.start) })
		if k > 0 && prefixMax[k-1] >= b.id {
			t.Errorf("id %d (client %d) not above id %d returned before the call began", b.id, b.client, prefixMax[k-1])
		}
	}
}

// noChildren asserts path has no children left (or is gone), after
// syncing c's server with the leader (other clients' deletes may not have
// reached it yet).
func noChildren(t *testing.T, ctx context.Context, c *client.Client, path string) {
	t.Helper()
	require.NoError(t, c.Sync(ctx, path))
	names, _, err := c.Children(ctx, path)
	if errors.Is(err, tree.ErrNoNode) {
		return
	}
	require.NoError(t, err)
	assert.Empty(t, names, "nodes left under %s", path)
}

// TestIDsIncreasing: 32 clients draw ids at once, in rounds; between
// rounds the parent is deleted, so its sequence counter restarts.
func TestIDsIncreasing(t *testing.T) {
	ctx := recipetest.Ctx(t)
	const clients = 32
	rounds, per := 3, 4
	if long() {
		rounds, per = 10, 20
	}
	conns := make([]*client.Client, clients)
	for i := range conns {
		conns[i] = shared.Connect(t)
	}
	admin := conns[0]
	const path = "/ids-inc/orders"
	var mu sync.Mutex
	perClient := make([][]draw, clients)
	for round := range rounds {
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for i, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ids := naming.NewIDs(c, path)
				<-start
				for range per {
					s := time.Now()
					id, err := ids.Next(ctx)
					e := time.Now()
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					perClient[i] = append(perClient[i], draw{client: i, id: id, start: s, end: e})
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		noChildren(t, ctx, admin, path)
		// Remove the parent (the server may have removed the container
		// already): the next round starts on a fresh sequence counter.
		err := admin.Delete(ctx, path, tree.AnyVersion)
		if !errors.Is(err, tree.ErrNoNode) {
			require.NoError(t, err, "round %d", round)
		}
	}
	var all []draw
	for _, ds := range perClient {
		all = append(all, ds...)
	}
	require.Len(t, all, clients*rounds*per)
	checkDraws(t, all)
}

// TestIDsAcrossParentRecreation: a user-made persistent parent is deleted
// and made again; ids still grow although sequence numbers restart.
func TestIDsAcrossParentRecreation(t *testing.T) {
	ctx := recipetest.Ctx(t)
	a, b := shared.Connect(t), shared.Connect(t)
	const path = "/ids-recreate"
	var draws []draw
	for i := range 4 {
		_, err := a.Create(ctx, path, nil, tree.ModePersistent)
		require.NoError(t, err)
		for j, c := range []*client.Client{a, b} {
			s := time.Now()
			id, err := naming.NewIDs(c, path).Next(ctx)
			require.NoError(t, err)
			draws = append(draws, draw{client: 0, id: id, start: s, end: time.Now()})
			t.Logf("parent generation %d, client %d: id %d (%#x)", i, j, id, id)
		}
		require.NoError(t, a.Delete(ctx, path, tree.AnyVersion), "no id node left, so the parent deletes")
	}
	checkDraws(t, draws)
}

// TestIDsLostReply: the create reply is lost and the connection cut; Next
// adopts its node, so the id is that node's czxid, and no node is left.
func TestIDsLostReply(t *testing.T) {
	e := shared // cutting its proxies only makes its clients reconnect
	ctx := recipetest.Ctx(t)
	c, other := e.Connect(t), e.Connect(t)
	const path = "/ids-lost"
	// A persistent parent, so the reply lost is the id node's, not a
	// re-created container's.
	_, err := other.Create(ctx, path, nil, tree.ModePersistent)
	require.NoError(t, err)
	ids := naming.NewIDs(c, path)
	before, err := ids.Next(ctx)
	require.NoError(t, err)

	f := recipetest.NewFaultConn(c)
	var lostCzxid int64
	f.LoseCreateReplies(1, func() {
		lost := f.Lost()
		assert.NoError(t, other.Sync(ctx, path))
		ok, st, err := other.Exists(ctx, lost[len(lost)-1])
		assert.NoError(t, err)
		assert.True(t, ok, "the lost create was applied")
		lostCzxid = int64(st.Czxid)
		for _, id := range e.IDs() {
			e.Proxy(id).Cut()
		}
	})
	id, err := naming.NewIDs(f, path).Next(ctx)
	require.NoError(t, err)
	require.Len(t, f.Lost(), 1)
	assert.Equal(t, lostCzxid, id, "the id is the czxid of the node whose reply was lost: adopted, not drawn twice")
	assert.Greater(t, id, before)
	noChildren(t, ctx, other, path)
	after, err := ids.Next(ctx)
	require.NoError(t, err)
	assert.Greater(t, after, id)
	noChildren(t, ctx, other, path)
}

// TestIDsCancel: a caller that gives up after its create was applied
// leaves no node.
func TestIDsCancel(t *testing.T) {
	ctx := recipetest.Ctx(t)
	c := shared.Connect(t)
	_, err := c.Create(ctx, "/ids-cancel", nil, tree.ModePersistent)
	require.NoError(t, err)
	f := recipetest.NewFaultConn(c)
	cctx, cancel := context.WithCancel(ctx)
	f.LoseCreateReplies(1, cancel)
	_, err = naming.NewIDs(f, "/ids-cancel").Next(cctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, f.Lost(), 1)
	noChildren(t, ctx, c, "/ids-cancel")
}

// TestIDsBadPath: bad paths are errors, not panics.
func TestIDsBadPath(t *testing.T) {
	ctx := recipetest.Ctx(t)
	c := shared.Connect(t)
	for _, p := range []string{"", "ids", "/ids/", "/a//b", "/a/./b"} {
		_, err := naming.NewIDs(c, p).Next(ctx)
		assert.ErrorIs(t, err, naming.ErrBadName, "%q", p)
		assert.ErrorIs(t, err, tree.ErrBadArguments, "%q", p)
	}
}
