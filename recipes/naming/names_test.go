package naming_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/recipes/internal/recipetest"
	"github.com/zabkit/zabkit/recipes/naming"
	"github.com/zabkit/zabkit/tree"
)

// raceClaims has every Names claim name at once and checks that exactly
// one wins, that the others get ErrTaken, and that Owner names the
// winner. It returns the winner's index and Claim.
func raceClaims(t *testing.T, ctx context.Context, names []*naming.Names, name string, round int) (int, *naming.Claim) {
	t.Helper()
	type result struct {
		i   int
		c   *naming.Claim
		err error
	}
	start := make(chan struct{})
	results := make(chan result, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c, err := n.Claim(ctx, name, fmt.Appendf(nil, "round %d contender %d", round, i))
			results <- result{i, c, err}
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	var winners []result
	for r := range results {
		switch {
		case r.err == nil:
			winners = append(winners, r)
		case errors.Is(r.err, naming.ErrTaken):
		default:
			require.NoError(t, r.err, "contender %d", r.i)
		}
	}
	require.Len(t, winners, 1, "round %d: exactly one of %d contenders wins", round, len(names))
	w := winners[0]
	owner, err := names[0].Owner(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("round %d contender %d", round, w.i), string(owner.Data))
	assert.Equal(t, w.c.Token(), owner.Token)
	return w.i, w.c
}

// TestClaimRace: 32 clients (each its own session) race for one name, for
// several rounds; the winner releases between rounds.
func TestClaimRace(t *testing.T) {
	for _, persistent := range []bool{false, true} {
		t.Run(fmt.Sprintf("persistent=%v", persistent), func(t *testing.T) {
			ctx := recipetest.Ctx(t)
			rounds := 3
			if long() {
				rounds = 20
			}
			path := fmt.Sprintf("/claims-race-%v", persistent)
			var opts []naming.NamesOption
			if persistent {
				opts = append(opts, naming.WithPersistent())
			}
			names := make([]*naming.Names, 32)
			var first *client.Client
			for i := range names {
				c := shared.Connect(t)
				if i == 0 {
					first = c
				}
				names[i] = naming.NewNames(c, path, opts...)
			}
			var lastToken int64
			for round := range rounds {
				_, c := raceClaims(t, ctx, names, "leader", round)
				assert.Greater(t, c.Token(), lastToken, "a later claim has a larger token")
				lastToken = c.Token()
				if persistent {
					o, err := names[0].Owner(ctx, "leader")
					require.NoError(t, err)
					assert.Zero(t, o.Session)
				}
				require.NoError(t, c.Release(ctx))
				require.NoError(t, c.Release(ctx), "idempotent")
				select {
				case <-c.Lost():
					t.Fatal("a release is not a loss")
				default:
				}
				assert.Error(t, c.Context().Err())
			}
			require.NoError(t, first.Sync(ctx, path)) // the last release may come from another session
			list, err := names[0].List(ctx)
			require.NoError(t, err)
			assert.Empty(t, list)
		})
	}
}

// TestClaimRaceOneSession: the sidecar's case, 32 claimants sharing one
// session: the session alone cannot tell them apart, the GUID does.
func TestClaimRaceOneSession(t *testing.T) {
	ctx := recipetest.Ctx(t)
	c := shared.Connect(t)
	names := make([]*naming.Names, 32)
	for i := range names {
		names[i] = naming.NewNames(c, "/claims-one-session")
	}
	for round := range 3 {
		_, w := raceClaims(t, ctx, names, "leader", round)
		require.NoError(t, w.Release(ctx))
	}
}

// TestClaimLostReply: the create is applied, its reply lost and the
// connection cut; Claim adopts its node instead of calling it taken.
func TestClaimLostReply(t *testing.T) {
	e := shared // cutting its proxies only makes its clients reconnect
	for _, persistent := range []bool{false, true} {
		t.Run(fmt.Sprintf("persistent=%v", persistent), func(t *testing.T) {
			ctx := recipetest.Ctx(t)
			c, other := e.Connect(t), e.Connect(t)
			path := fmt.Sprintf("/claims-lost-%v", persistent)
			// The parent exists, so the reply lost is the claim's own.
			_, err := other.Create(ctx, path, nil, tree.ModePersistent)
			require.NoError(t, err)
			f := recipetest.NewFaultConn(c)
			f.LoseCreateReplies(1, func() {
				for _, id := range e.IDs() {
					e.Proxy(id).Cut()
				}
			})
			var opts []naming.NamesOption
			if persistent {
				opts = append(opts, naming.WithPersistent())
			}
			claim, err := naming.NewNames(f, path, opts...).Claim(ctx, "x", []byte("me"))
			require.NoError(t, err, "the lost reply's node is ours")
			require.Len(t, f.Lost(), 1)
			_, err = naming.NewNames(other, path, opts...).Claim(ctx, "x", []byte("other"))
			require.ErrorIs(t, err, naming.ErrTaken)
			o, err := naming.NewNames(other, path).Owner(ctx, "x")
			require.NoError(t, err)
			assert.Equal(t, "me", string(o.Data))
			assert.Equal(t, claim.Token(), o.Token)
			require.NoError(t, claim.Release(ctx))
			require.NoError(t, other.Sync(ctx, path))
			_, err = naming.NewNames(other, path).Owner(ctx, "x")
			require.ErrorIs(t, err, naming.ErrNotClaimed)
		})
	}
}

// TestClaimCancel: a Claim whose ctx ends after its create was applied
// leaves no node.
func TestClaimCancel(t *testing.T) {
	ctx := recipetest.Ctx(t)
	c := shared.Connect(t)
	_, err := c.Create(ctx, "/claims-cancel", nil, tree.ModePersistent)
	require.NoError(t, err)
	for _, persistent := range []bool{false, true} {
		f := recipetest.NewFaultConn(c)
		cctx, cancel := context.WithCancel(ctx)
		f.LoseCreateReplies(1, cancel)
		var opts []naming.NamesOption
		if persistent {
			opts = append(opts, naming.WithPersistent())
		}
		_, err := naming.NewNames(f, "/claims-cancel", opts...).Claim(cctx, "x", nil)
		require.ErrorIs(t, err, context.Canceled)
		_, err = naming.NewNames(c, "/claims-cancel").Owner(ctx, "x")
		require.ErrorIs(t, err, naming.ErrNotClaimed, "persistent=%v", persistent)
	}
}

// TestClaimSessionLoss: an ephemeral claim's holder whose session expires
// is told on Lost before the name is free; then another client claims it.
// A persistent claim survives its holder's session.
func TestClaimSessionLoss(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	f := e.Follower(t)
	other := e.ConnectPeer(t, e.Leader(t))
	holder := e.ConnectPeer(t, f, client.WithSessionTimeout(time.Second))
	eph, err := naming.NewNames(holder, "/claims-loss").Claim(ctx, "eph", []byte("h"))
	require.NoError(t, err)
	per, err := naming.NewNames(holder, "/claims-loss", naming.WithPersistent()).Claim(ctx, "per", []byte("h"))
	require.NoError(t, err)

	e.Proxy(f).Pause()
	t.Cleanup(e.Proxy(f).Resume)
	select {
	case <-eph.Lost():
	case <-ctx.Done():
		t.Fatal("the holder was never told")
	}
	require.NoError(t, other.Sync(ctx, eph.Path()))
	ok, _, err := other.Exists(ctx, eph.Path())
	require.NoError(t, err)
	assert.True(t, ok, "the holder is told before its session expires and the name is free")
	require.Error(t, eph.Context().Err())
	var won *naming.Claim
	require.Eventually(t, func() bool {
		won, err = naming.NewNames(other, "/claims-loss").Claim(ctx, "eph", []byte("o"))
		return err == nil
	}, 30*time.Second, 10*time.Millisecond, "the name is free once the session expired: %v", err)
	assert.Greater(t, won.Token(), eph.Token())
	require.NoError(t, won.Release(ctx))
	require.NoError(t, eph.Release(ctx), "release after loss: the node is gone with the session")

	_, err = naming.NewNames(other, "/claims-loss", naming.WithPersistent()).Claim(ctx, "per", nil)
	require.ErrorIs(t, err, naming.ErrTaken, "a persistent claim outlives its session")
	select {
	case <-per.Lost():
		t.Fatal("a persistent claim is not lost with its session")
	default:
	}
	require.ErrorIs(t, per.Release(ctx), client.ErrSessionExpired, "its session cannot delete it any more")
	require.NoError(t, other.Delete(ctx, per.Path(), tree.AnyVersion))
}

// TestClaimDeletedByOther: a holder whose node someone deletes is told.
func TestClaimDeletedByOther(t *testing.T) {
	ctx := recipetest.Ctx(t)
	a, b := shared.Connect(t), shared.Connect(t)
	for _, persistent := range []bool{false, true} {
		var opts []naming.NamesOption
		if persistent {
			opts = append(opts, naming.WithPersistent())
		}
		c, err := naming.NewNames(a, "/claims-deleted", opts...).Claim(ctx, "x", nil)
		require.NoError(t, err)
		require.NoError(t, b.Sync(ctx, c.Path()))
		require.NoError(t, b.Delete(ctx, c.Path(), tree.AnyVersion))
		select {
		case <-c.Lost():
		case <-ctx.Done():
			t.Fatalf("persistent=%v: never told", persistent)
		}
		require.NoError(t, c.Release(ctx))
	}
}

// TestNamesBadArgs: bad names are errors.
func TestNamesBadArgs(t *testing.T) {
	ctx := recipetest.Ctx(t)
	var conn recipes.Conn = shared.Connect(t)
	n := naming.NewNames(conn, "/claims-bad")
	for _, name := range []string{"", ".", "..", "a/b", "a\x00b"} {
		_, err := n.Claim(ctx, name, nil)
		assert.ErrorIs(t, err, naming.ErrBadName, "%q", name)
		_, err = n.Owner(ctx, name)
		assert.ErrorIs(t, err, naming.ErrBadName, "%q", name)
	}
	_, err := naming.NewNames(conn, "bad").List(ctx)
	assert.ErrorIs(t, err, naming.ErrBadName)
}
