package barrier_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
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

// async runs f in a goroutine; its error arrives on the channel.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

func notYet(t *testing.T, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s returned early: %v", what, err)
	default:
	}
}

// waitMembers waits until the double barrier lists n members.
func waitMembers(t *testing.T, ctx context.Context, d *barrier.DoubleBarrier, n int) []string {
	t.Helper()
	var got []string
	require.Eventually(t, func() bool {
		var err error
		got, err = d.Members(ctx)
		return err == nil && len(got) == n
	}, waitFor, 2*time.Millisecond, "want %d members, have %v", n, got)
	return got
}

// connectOn opens a client that knows every peer but holds its session on
// peer id, so that killing id moves it to another peer.
func connectOn(t *testing.T, e *enstest.Ensemble, id uint32, opts ...client.Option) *client.Client {
	t.Helper()
	for _, other := range e.IDs() {
		if other != id {
			e.Proxy(other).Refuse(true)
		}
	}
	c := e.ConnectTo(t, e.Servers(), opts...)
	for _, other := range e.IDs() {
		e.Proxy(other).Refuse(false)
	}
	return c
}

// exists reports whether path exists, after syncing c's server with the
// leader (so that it has seen what other clients did).
func exists(t *testing.T, ctx context.Context, c *client.Client, path string) bool {
	t.Helper()
	require.NoError(t, c.Sync(ctx, "/"))
	ok, _, err := c.Exists(ctx, path)
	require.NoError(t, err)
	return ok
}

func TestDoubleBarrier(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	c := e.Connect(t)
	const path = "/db/basic"
	const n = 3
	ds := make([]*barrier.DoubleBarrier, n)
	for i := range ds {
		ds[i] = barrier.NewDoubleBarrier(e.Connect(t), path, n, barrier.WithData(fmt.Appendf(nil, "m%d", i)))
	}
	require.ErrorIs(t, ds[0].Leave(ctx), barrier.ErrNotEntered)
	for round := range 2 { // the path is reused
		enter := make([]<-chan error, n)
		for i := range n - 1 {
			enter[i] = async(func() error { return ds[i].Enter(ctx) })
		}
		waitMembers(t, ctx, ds[0], n-1)
		for i := range n - 1 {
			notYet(t, enter[i], "Enter")
		}
		enter[n-1] = async(func() error { return ds[n-1].Enter(ctx) })
		for i := range n {
			require.NoError(t, wait(t, enter[i]), "round %d member %d", round, i)
		}
		members := waitMembers(t, ctx, ds[0], n)
		require.NoError(t, c.Sync(ctx, "/"))
		data, _, err := c.Get(ctx, members[0])
		require.NoError(t, err)
		assert.Equal(t, "m", string(data[:1]))
		assert.True(t, exists(t, ctx, c, path+"/ready"))
		for i := range n {
			assert.NotEmpty(t, ds[i].Node())
		}
		require.ErrorIs(t, ds[0].Enter(ctx), barrier.ErrEntered)

		// Leave: the first two block until the third leaves too.
		leave := make([]<-chan error, n)
		for i := range n - 1 {
			leave[i] = async(func() error { return ds[i].Leave(ctx) })
		}
		// Wait until the non-lowest of them has deleted its node.
		require.Eventually(t, func() bool {
			m, err := ds[0].Members(ctx)
			return err == nil && len(m) <= n-1
		}, waitFor, time.Millisecond)
		for i := range n - 1 {
			notYet(t, leave[i], "Leave")
		}
		leave[n-1] = async(func() error { return ds[n-1].Leave(ctx) })
		for i := range n {
			require.NoError(t, wait(t, leave[i]), "round %d member %d", round, i)
			assert.Empty(t, ds[i].Node())
		}
		waitMembers(t, ctx, ds[0], 0)
		assert.False(t, exists(t, ctx, c, path+"/ready"), "the last one out deletes the ready node")
	}
}

// TestDoubleBarrierMany: 32 members on 4 sessions go through several
// rounds of Enter and Leave while connections are cut at random; the
// checker finds no member entering before all 32 arrived, nor leaving
// before all 32 left.
func TestDoubleBarrierMany(t *testing.T) {
	seed := recipetest.Seed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 11))
	rounds := 3
	if os.Getenv("ZABKIT_LONG") != "" {
		rounds = 15
	}
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	const members = 32
	const path = "/db/many"
	clients := make([]*client.Client, 4)
	for i := range clients {
		clients[i] = e.Connect(t)
	}
	chk := newEnterChecker(members)
	for r := range rounds {
		chk.size[r] = members
	}
	events := make(chan struct{}, 2*members*rounds)
	var wg sync.WaitGroup
	for i := range members {
		d := barrier.NewDoubleBarrier(clients[i%len(clients)], path, members)
		wg.Go(func() {
			for r := range rounds {
				chk.enter(r)
				if err := d.Enter(ctx); err != nil {
					t.Errorf("member %d round %d: enter: %v", i, r, err)
					return
				}
				chk.entered(r, i)
				events <- struct{}{}
				chk.leave(r)
				if err := d.Leave(ctx); err != nil {
					t.Errorf("member %d round %d: leave: %v", i, r, err)
					return
				}
				chk.left(r, i)
				events <- struct{}{}
			}
		})
	}
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() {
		ids := e.IDs()
		for {
			select {
			case <-events:
			case <-stop:
				return
			}
			if rng.IntN(16) == 0 {
				e.Proxy(ids[rng.IntN(len(ids))]).Cut()
			}
		}
	})
	wg.Wait()
	close(stop)
	bg.Wait()
	assert.Empty(t, chk.report())
	d := barrier.NewDoubleBarrier(clients[0], path, members)
	waitMembers(t, ctx, d, 0)
}

// TestDoubleBarrierSpuriousWakeups: with n-1 members in Enter, wake-ups
// that are not the barrier opening (cut connections, a bogus ready node
// created, changed and deleted) make every member look again, and none
// goes through; the n-th member then opens it (over the bogus ready node).
func TestDoubleBarrierSpuriousWakeups(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	c := e.Connect(t)
	const n = 6
	const path = "/db/spurious"
	chk := newEnterChecker(n)
	conns := make([]*countConn, n-1)
	done := make(chan error, n)
	for i := range n - 1 {
		conns[i] = &countConn{Conn: e.Connect(t)}
		d := barrier.NewDoubleBarrier(conns[i], path, n)
		chk.enter(0)
		go func() {
			err := d.Enter(ctx)
			chk.entered(0, i)
			done <- err
		}()
	}
	probe := barrier.NewDoubleBarrier(c, path, n)
	waitMembers(t, ctx, probe, n-1)
	seen := reads(conns)

	cutAll(e) // a reconnect wakes every waiter
	seen = lookedAgain(t, conns, seen, chk.report)
	_, err := c.Create(ctx, path+"/ready", []byte("bogus"), tree.ModePersistent)
	require.NoError(t, err)
	seen = lookedAgain(t, conns, seen, chk.report)
	_, err = c.Set(ctx, path+"/ready", []byte("-1"), tree.AnyVersion)
	require.NoError(t, err)
	seen = lookedAgain(t, conns, seen, chk.report)
	_, err = c.Create(ctx, path+"/unrelated", nil, tree.ModePersistent)
	require.NoError(t, err)
	cutAll(e)
	lookedAgain(t, conns, seen, chk.report)
	require.Empty(t, chk.report())
	assert.Len(t, done, 0)

	last := barrier.NewDoubleBarrier(c, path, n)
	chk.enter(0)
	require.NoError(t, last.Enter(ctx))
	for range n - 1 {
		require.NoError(t, wait(t, done))
	}
	assert.Empty(t, chk.report())
}

// TestDoubleBarrierPeerKilled: a member's peer crashes while it waits in
// Enter; its session moves to another peer and the barrier completes.
func TestDoubleBarrierPeerKilled(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	const path = "/db/killed"
	victim := e.Follower(t)
	var survivor uint32
	for _, id := range e.IDs() {
		if id != victim {
			survivor = id
		}
	}
	ca := connectOn(t, e, victim)
	cb := e.ConnectPeer(t, survivor)
	a := barrier.NewDoubleBarrier(ca, path, 3)
	b := barrier.NewDoubleBarrier(cb, path, 3)
	c := barrier.NewDoubleBarrier(cb, path, 3)
	ea := async(func() error { return a.Enter(ctx) })
	eb := async(func() error { return b.Enter(ctx) })
	waitMembers(t, ctx, b, 2)
	sid := ca.SessionID()
	states, unsubscribe := ca.Subscribe()
	defer unsubscribe()
	e.Kill(victim)
	for st := range states { // until the client noticed
		if st == client.StateDisconnected {
			break
		}
	}
	notYet(t, ea, "Enter")
	require.NoError(t, c.Enter(ctx))
	require.NoError(t, wait(t, ea))
	require.NoError(t, wait(t, eb))
	assert.Equal(t, sid, ca.SessionID())
	la := async(func() error { return a.Leave(ctx) })
	lb := async(func() error { return b.Leave(ctx) })
	require.NoError(t, c.Leave(ctx))
	require.NoError(t, wait(t, la))
	require.NoError(t, wait(t, lb))
	waitMembers(t, ctx, c, 0)
}

// TestDoubleBarrierCancel: a cancelled Enter deletes its node and is not
// counted; a cancelled Leave deletes its node (the member has left) and
// Leave can be called again to wait for the others.
func TestDoubleBarrierCancel(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	c := e.Connect(t)
	const path = "/db/cancel"
	a := barrier.NewDoubleBarrier(c, path, 2)
	b := barrier.NewDoubleBarrier(c, path, 2)

	actx, cancel := context.WithCancel(ctx)
	ea := async(func() error { return a.Enter(actx) })
	waitMembers(t, ctx, a, 1)
	require.ErrorIs(t, a.Enter(ctx), barrier.ErrBusy)
	cancel()
	require.ErrorIs(t, wait(t, ea), context.Canceled)
	waitMembers(t, ctx, a, 0)

	// The cancelled member did not count: b alone waits.
	eb := async(func() error { return b.Enter(ctx) })
	waitMembers(t, ctx, a, 1)
	notYet(t, eb, "Enter")
	require.NoError(t, a.Enter(ctx))
	require.NoError(t, wait(t, eb))

	lctx, lcancel := context.WithCancel(ctx)
	la := async(func() error { return a.Leave(lctx) })
	// a is the lowest or deletes itself; either way it waits for b.
	notYet(t, la, "Leave")
	lcancel()
	require.ErrorIs(t, wait(t, la), context.Canceled)
	members := waitMembers(t, ctx, a, 1)
	assert.Equal(t, b.Node(), members[0], "the cancelled Leave deleted a's node")
	require.NoError(t, b.Leave(ctx), "a has left: b does not wait for it")
	require.NoError(t, a.Leave(ctx), "Leave again: everyone is out")
	require.ErrorIs(t, a.Leave(ctx), barrier.ErrNotEntered)
	waitMembers(t, ctx, a, 0)
}

// TestDoubleBarrierLostCreateReply: a member's create is applied but its
// reply lost; it adopts its node: no orphan, no second member.
func TestDoubleBarrierLostCreateReply(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	const path = "/db-lost-reply"
	c1, c2 := e.Connect(t), e.Connect(t)
	_, err := c1.Create(ctx, path, nil, tree.ModeContainer)
	require.NoError(t, err)
	f := recipetest.NewFaultConn(c1)
	f.LoseCreateReplies(1, func() { cutAll(e) })
	a := barrier.NewDoubleBarrier(f, path, 2)
	b := barrier.NewDoubleBarrier(c2, path, 2)
	ea := async(func() error { return a.Enter(ctx) })
	members := waitMembers(t, ctx, b, 1)
	require.Eventually(t, func() bool { return len(f.Lost()) == 1 }, waitFor, time.Millisecond)
	assert.Equal(t, f.Lost()[0], members[0])
	notYet(t, ea, "Enter")
	require.NoError(t, b.Enter(ctx))
	require.NoError(t, wait(t, ea))
	assert.Equal(t, f.Lost()[0], a.Node())
	assert.Len(t, waitMembers(t, ctx, b, 2), 2, "no second node")

	// A lost reply and then the caller gives up: nothing is left.
	f3 := recipetest.NewFaultConn(c1)
	cctx, cancel := context.WithCancel(ctx)
	f3.LoseCreateReplies(1, func() { cutAll(e); cancel() })
	require.ErrorIs(t, barrier.NewDoubleBarrier(f3, path, 2).Enter(cctx), context.Canceled)
	assert.Len(t, waitMembers(t, ctx, b, 2), 2)

	la := async(func() error { return a.Leave(ctx) })
	require.NoError(t, b.Leave(ctx))
	require.NoError(t, wait(t, la))
	waitMembers(t, ctx, b, 0)
}

// TestDoubleBarrierLateArrival: a member arriving while a round is in
// progress is not part of it: it waits for the round to end and counts
// towards the next; the round's Leave does not wait for it.
func TestDoubleBarrierLateArrival(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	c := e.Connect(t)
	const path = "/db/late"
	a := barrier.NewDoubleBarrier(c, path, 2)
	b := barrier.NewDoubleBarrier(c, path, 2)
	late := barrier.NewDoubleBarrier(c, path, 2)
	next := barrier.NewDoubleBarrier(c, path, 2)
	ea := async(func() error { return a.Enter(ctx) })
	require.NoError(t, b.Enter(ctx))
	require.NoError(t, wait(t, ea))

	el := async(func() error { return late.Enter(ctx) })
	waitMembers(t, ctx, a, 3)
	la := async(func() error { return a.Leave(ctx) })
	require.NoError(t, b.Leave(ctx))
	require.NoError(t, wait(t, la))
	members := waitMembers(t, ctx, a, 1)
	notYet(t, el, "late Enter") // a round of one is not a round of two
	require.Eventually(t, func() bool { return !exists(t, ctx, c, path+"/ready") }, waitFor, time.Millisecond)
	require.NoError(t, next.Enter(ctx))
	require.NoError(t, wait(t, el))
	assert.Equal(t, members[0], late.Node())
	ll := async(func() error { return late.Leave(ctx) })
	require.NoError(t, next.Leave(ctx))
	require.NoError(t, wait(t, ll))
}

// TestDoubleBarrierSessionExpiredInside: a member whose session expires
// between Enter and Leave counts as having left: the others' Leave does
// not wait for it, and its own Leave reports ErrLost. Its round's ready
// node, left behind when every member of the round is gone without
// leaving, is stale and lets nobody through.
func TestDoubleBarrierSessionExpiredInside(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	const path = "/db/expired"
	f := e.Follower(t)
	ca := e.ConnectPeer(t, f, client.WithSessionTimeout(time.Second))
	cb := e.ConnectPeer(t, f, client.WithSessionTimeout(time.Second))
	cc := e.ConnectPeer(t, e.Leader(t))
	a := barrier.NewDoubleBarrier(ca, path, 3)
	b := barrier.NewDoubleBarrier(cb, path, 3)
	c := barrier.NewDoubleBarrier(cc, path, 3)
	ea := async(func() error { return a.Enter(ctx) })
	eb := async(func() error { return b.Enter(ctx) })
	waitMembers(t, ctx, c, 2)
	require.NoError(t, c.Enter(ctx))
	require.NoError(t, wait(t, ea))
	require.NoError(t, wait(t, eb))

	e.Proxy(f).Pause() // a and b go silent; their sessions expire
	t.Cleanup(e.Proxy(f).Resume)
	require.NoError(t, c.Leave(ctx), "the expired members count as left")
	e.Proxy(f).Resume()
	require.ErrorIs(t, a.Leave(ctx), barrier.ErrLost)
	require.ErrorIs(t, b.Leave(ctx), client.ErrSessionExpired)
	require.ErrorIs(t, a.Leave(ctx), barrier.ErrNotEntered, "the lost member is out")
	assert.True(t, exists(t, ctx, cc, path+"/ready"), "nobody deleted the ready node... ")

	// ...which is stale: new members are not let through by it.
	cd, ce := e.Connect(t), e.Connect(t)
	d1 := barrier.NewDoubleBarrier(cc, path, 3)
	d2 := barrier.NewDoubleBarrier(cd, path, 3)
	d3 := barrier.NewDoubleBarrier(ce, path, 3)
	e1 := async(func() error { return d1.Enter(ctx) })
	e2 := async(func() error { return d2.Enter(ctx) })
	waitMembers(t, ctx, d1, 2)
	notYet(t, e1, "Enter")
	notYet(t, e2, "Enter")
	require.NoError(t, d3.Enter(ctx))
	require.NoError(t, wait(t, e1))
	require.NoError(t, wait(t, e2))
	l1 := async(func() error { return d1.Leave(ctx) })
	l2 := async(func() error { return d2.Leave(ctx) })
	require.NoError(t, d3.Leave(ctx))
	require.NoError(t, wait(t, l1))
	require.NoError(t, wait(t, l2))
	assert.False(t, exists(t, ctx, cc, path+"/ready"))
}

// lagConn answers the first GetEphemerals calls with nothing, as a server
// that has not yet applied the session's last create would.
type lagConn struct {
	recipes.Conn
	mu   sync.Mutex
	hide int
}

func (c *lagConn) GetEphemerals(ctx context.Context, prefix string) ([]string, error) {
	c.mu.Lock()
	hide := c.hide > 0
	c.hide--
	c.mu.Unlock()
	if hide {
		return nil, nil
	}
	return c.Conn.GetEphemerals(ctx, prefix)
}

// TestDoubleBarrierLostCreateReplyNotFoundAtOnce: the create is applied,
// its reply lost, and the lookup that follows does not see it, so a second
// node with the same GUID is made. The first would count as a member
// nobody owns (opening the barrier early, then blocking Leave forever);
// the member deletes it.
func TestDoubleBarrierLostCreateReplyNotFoundAtOnce(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	const path = "/db-lag"
	c1, c2, c3 := e.Connect(t), e.Connect(t), e.Connect(t)
	_, err := c1.Create(ctx, path, nil, tree.ModeContainer)
	require.NoError(t, err)
	f := recipetest.NewFaultConn(c1)
	f.LoseCreateReplies(1, func() { cutAll(e) })
	a := barrier.NewDoubleBarrier(&lagConn{Conn: f, hide: 1}, path, 3)
	b := barrier.NewDoubleBarrier(c2, path, 3)
	c := barrier.NewDoubleBarrier(c3, path, 3)
	ea := async(func() error { return a.Enter(ctx) })
	require.Eventually(t, func() bool { return len(f.Lost()) == 1 }, waitFor, time.Millisecond)
	require.Eventually(t, func() bool {
		m, err := b.Members(ctx)
		return err == nil && len(m) == 1 && m[0] != f.Lost()[0]
	}, waitFor, time.Millisecond, "the second node is kept, the first deleted")
	eb := async(func() error { return b.Enter(ctx) })
	waitMembers(t, ctx, b, 2)
	notYet(t, ea, "Enter")
	notYet(t, eb, "Enter")
	require.NoError(t, c.Enter(ctx))
	require.NoError(t, wait(t, ea))
	require.NoError(t, wait(t, eb))
	la := async(func() error { return a.Leave(ctx) })
	lb := async(func() error { return b.Leave(ctx) })
	require.NoError(t, c.Leave(ctx))
	require.NoError(t, wait(t, la))
	require.NoError(t, wait(t, lb))
	waitMembers(t, ctx, b, 0)
}
