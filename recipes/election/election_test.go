package election_test

import (
	"context"
	"errors"
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
	"github.com/zabkit/zabkit/recipes/election"
	"github.com/zabkit/zabkit/recipes/internal/recipetest"
	"github.com/zabkit/zabkit/tree"
)

const waitFor = 30 * time.Second

type result struct {
	l   *election.Leadership
	err error
}

// campaign runs e.Campaign in a goroutine; the result arrives on the
// channel.
func campaign(ctx context.Context, e *election.Election, value string) <-chan result {
	out := make(chan result, 1)
	go func() {
		l, err := e.Campaign(ctx, []byte(value))
		out <- result{l, err}
	}()
	return out
}

// get waits for a campaign's result.
func get(t *testing.T, ch <-chan result) *election.Leadership {
	t.Helper()
	select {
	case r := <-ch:
		require.NoError(t, r.err)
		return r.l
	case <-time.After(waitFor):
		t.Fatal("campaign did not return")
		return nil
	}
}

// pending asserts a campaign has not returned.
func pending(t *testing.T, ch <-chan result) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("campaign returned early: %v, %v", r.l, r.err)
	default:
	}
}

// waitCandidates waits until n candidates stand at e's path.
func waitCandidates(t *testing.T, ctx context.Context, e *election.Election, n int) []string {
	t.Helper()
	var got []string
	require.Eventually(t, func() bool {
		var err error
		got, err = e.Candidates(ctx)
		return err == nil && len(got) == n
	}, waitFor, 2*time.Millisecond, "want %d candidates, have %v", n, got)
	return got
}

// closed waits for ch to be closed.
func closed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitFor):
		t.Fatalf("%s: not closed", what)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// connectOn opens a client that knows every peer but holds its session on
// peer id (the others refuse while it connects), so that killing id
// moves it to another peer.
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

func TestCampaignResign(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	c1, c2 := e.Connect(t), e.Connect(t)
	const path = "/app/leader"
	a := election.NewElection(c1, path)
	b := election.NewElection(c2, path)
	same := election.NewElection(c1, path) // a distinct participant on a's session

	_, err := a.Leader(ctx)
	require.ErrorIs(t, err, election.ErrNoLeader)
	require.ErrorIs(t, a.Proclaim(ctx, []byte("x")), election.ErrNotLeader)
	require.NoError(t, a.Resign(ctx), "resign without leadership is a no-op")

	la, err := a.Campaign(ctx, []byte("a"))
	require.NoError(t, err)
	assert.Positive(t, la.Token())
	ld, err := b.Leader(ctx)
	require.NoError(t, err)
	assert.Equal(t, la.Node(), ld.Node)
	assert.Equal(t, "a", string(ld.Value))
	assert.Equal(t, la.Token(), ld.Token)

	rb := campaign(ctx, b, "b")
	waitCandidates(t, ctx, a, 2)
	rs := campaign(ctx, same, "same")
	cands := waitCandidates(t, ctx, a, 3)
	assert.Equal(t, la.Node(), cands[0])
	pending(t, rb)
	pending(t, rs)

	// Campaign while leading proclaims and returns the same leadership.
	again, err := a.Campaign(ctx, []byte("a2"))
	require.NoError(t, err)
	assert.Same(t, la, again)
	require.NoError(t, a.Proclaim(ctx, []byte("a3")))
	ld, err = b.Leader(ctx)
	require.NoError(t, err)
	assert.Equal(t, "a3", string(ld.Value))
	assert.EqualValues(t, 2, ld.Version)

	require.NoError(t, a.Resign(ctx))
	assert.ErrorIs(t, la.Context().Err(), context.Canceled)
	assert.False(t, isClosed(la.Lost()), "Resign does not close Lost")
	require.NoError(t, a.Resign(ctx), "idempotent")
	require.ErrorIs(t, a.Proclaim(ctx, []byte("late")), election.ErrNotLeader)

	lb := get(t, rb) // b was next in line
	assert.Greater(t, lb.Token(), la.Token())
	pending(t, rs)
	require.NoError(t, b.Resign(ctx))
	ls := get(t, rs)
	assert.Greater(t, ls.Token(), lb.Token())
	require.NoError(t, same.Resign(ctx))
	waitCandidates(t, ctx, a, 0)
	_, err = a.Leader(ctx)
	require.ErrorIs(t, err, election.ErrNoLeader)
}

// TestResignPassesInOrder: leadership passes down the line in the order
// the candidates joined it.
func TestResignPassesInOrder(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	c := e.Connect(t)
	const path = "/order"
	const n = 6
	els := make([]*election.Election, n)
	res := make([]<-chan result, n)
	for i := range n {
		els[i] = election.NewElection(c, path)
		res[i] = campaign(ctx, els[i], fmt.Sprint(i))
		waitCandidates(t, ctx, els[0], i+1)
	}
	var last int64
	for i := range n {
		l := get(t, res[i])
		assert.Greater(t, l.Token(), last)
		last = l.Token()
		ld, err := els[i].Leader(ctx)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint(i), string(ld.Value))
		for j := i + 1; j < n; j++ {
			pending(t, res[j])
		}
		require.NoError(t, els[i].Resign(ctx))
	}
}

func TestCampaignCancelDeletesNode(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	c := e.Connect(t)
	a := election.NewElection(c, "/cancel")
	b := election.NewElection(c, "/cancel")
	la, err := a.Campaign(ctx, nil)
	require.NoError(t, err)

	bctx, cancel := context.WithCancel(ctx)
	rb := campaign(bctx, b, "b")
	waitCandidates(t, ctx, a, 2)
	_, err = b.Campaign(ctx, nil)
	require.ErrorIs(t, err, election.ErrCampaigning)
	cancel()
	r := <-rb
	require.ErrorIs(t, r.err, context.Canceled)
	cands := waitCandidates(t, ctx, a, 1)
	assert.Equal(t, la.Node(), cands[0], "the cancelled candidate's node is gone")
	require.NoError(t, a.Resign(ctx))
	waitCandidates(t, ctx, a, 0)
}

// TestLostCreateReply: the create is applied but its reply is lost and the
// connection cut; the candidate adopts its node: no orphan, no second node.
func TestLostCreateReply(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	cutAll := func() {
		for _, id := range e.IDs() {
			e.Proxy(id).Cut()
		}
	}
	const path = "/lost-reply"
	c1, c2 := e.Connect(t), e.Connect(t)
	_, err := c1.Create(ctx, path, nil, tree.ModeContainer)
	require.NoError(t, err)

	f1 := recipetest.NewFaultConn(c1)
	f1.LoseCreateReplies(1, cutAll)
	a := election.NewElection(f1, path)
	la, err := a.Campaign(ctx, []byte("a"))
	require.NoError(t, err)
	require.Len(t, f1.Lost(), 1)
	assert.Equal(t, f1.Lost()[0], la.Node())
	assert.Equal(t, []string{la.Node()}, waitCandidates(t, ctx, a, 1))

	// A waiting candidate's lost reply, too.
	f2 := recipetest.NewFaultConn(c2)
	f2.LoseCreateReplies(1, cutAll)
	b := election.NewElection(f2, path)
	rb := campaign(ctx, b, "b")
	cands := waitCandidates(t, ctx, a, 2)
	require.Eventually(t, func() bool { return len(f2.Lost()) == 1 }, waitFor, time.Millisecond)
	assert.Equal(t, f2.Lost()[0], cands[1])
	pending(t, rb)
	require.NoError(t, a.Resign(ctx))
	lb := get(t, rb)
	assert.Equal(t, cands[1], lb.Node())

	// A lost reply and then the caller gives up: nothing is left.
	f3 := recipetest.NewFaultConn(c1)
	cctx, cancel := context.WithCancel(ctx)
	f3.LoseCreateReplies(1, func() { cutAll(); cancel() })
	_, err = election.NewElection(f3, path).Campaign(cctx, nil)
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, f3.Lost(), 1)
	assert.Equal(t, []string{lb.Node()}, waitCandidates(t, ctx, a, 1))
	require.NoError(t, b.Resign(ctx))
}

// TestLeaderPeerKilled: the peer the leader's client uses crashes; the
// client moves to another peer with its session, and the leadership is
// kept (nothing lost, nobody else leads).
func TestLeaderPeerKilled(t *testing.T) {
	for _, which := range []string{"follower", "leader"} {
		t.Run(which, func(t *testing.T) {
			e := recipetest.Ensemble(t)
			ctx := recipetest.Ctx(t)
			var victim uint32
			if which == "leader" {
				victim = e.Leader(t)
			} else {
				victim = e.Follower(t)
			}
			ca := connectOn(t, e, victim)
			var survivor uint32
			for _, id := range e.IDs() {
				if id != victim {
					survivor = id
				}
			}
			cb := e.ConnectPeer(t, survivor)
			a := election.NewElection(ca, "/killed")
			b := election.NewElection(cb, "/killed")
			la, err := a.Campaign(ctx, []byte("a"))
			require.NoError(t, err)
			rb := campaign(ctx, b, "b")
			waitCandidates(t, ctx, b, 2)

			states, unsubscribe := ca.Subscribe()
			defer unsubscribe()
			e.Kill(victim)
			sawDown := false
			for !sawDown || ca.State() != client.StateConnected {
				select {
				case st := <-states:
					if st == client.StateDisconnected {
						sawDown = true
					}
				case <-ctx.Done():
					t.Fatal("the client never reconnected")
				}
			}
			require.NoError(t, a.Proclaim(ctx, []byte("a after the crash")))
			assert.False(t, isClosed(la.Lost()), "the session survived: leadership kept")
			assert.NoError(t, la.Context().Err())
			ld, err := b.Leader(ctx)
			require.NoError(t, err)
			assert.Equal(t, la.Node(), ld.Node)
			assert.Equal(t, "a after the crash", string(ld.Value))
			pending(t, rb)

			require.NoError(t, a.Resign(ctx))
			lb := get(t, rb)
			require.NoError(t, b.Resign(ctx))
			assert.Greater(t, lb.Token(), la.Token())
		})
	}
}

// TestLeaderSessionExpiry: the leader's connection goes silent (Pause).
// It is told through Lost before the server expires its session (its node
// still exists then); after the expiry the next candidate leads; the old
// leader's Proclaim is refused and its late fenced write rejected.
func TestLeaderSessionExpiry(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	f := e.Follower(t)
	other := e.Leader(t)
	ca := e.ConnectPeer(t, f, client.WithSessionTimeout(time.Second))
	cb := e.ConnectPeer(t, other)
	cs := e.ConnectPeer(t, other) // the store and the observer
	const path = "/expiry"
	store, err := newFence(ctx, cs, "/expiry-store")
	require.NoError(t, err)

	a := election.NewElection(ca, path)
	b := election.NewElection(cb, path)
	observer := election.NewElection(cs, path)
	la, err := a.Campaign(ctx, []byte("a"))
	require.NoError(t, err)
	ok, err := store.write(ctx, ca, la.Token())
	require.NoError(t, err)
	require.True(t, ok)
	rb := campaign(ctx, b, "b")
	waitCandidates(t, ctx, observer, 2)

	e.Proxy(f).Pause()
	t.Cleanup(e.Proxy(f).Resume)
	closed(t, la.Lost(), "Lost")
	assert.NotEqual(t, client.StateExpired, ca.State(), "told by the Guard, before even the client gave the session up")
	exists, _, err := cs.Exists(ctx, la.Node())
	require.NoError(t, err)
	assert.True(t, exists, "the leader was told before the server expired its session")
	assert.Error(t, la.Context().Err())
	require.ErrorIs(t, a.Proclaim(ctx, []byte("late")), election.ErrNotLeader)

	lb := get(t, rb)
	assert.Greater(t, lb.Token(), la.Token())
	ok, err = store.write(ctx, cb, lb.Token())
	require.NoError(t, err)
	require.True(t, ok)
	// The paused leader's late write (say it reaches the store another
	// way) carries its old token and is refused.
	ok, err = store.write(ctx, cs, la.Token())
	require.NoError(t, err)
	assert.False(t, ok, "a late write with the old token must be refused")
	ld, err := observer.Leader(ctx)
	require.NoError(t, err)
	assert.Equal(t, lb.Node(), ld.Node)

	e.Proxy(f).Resume()
	_, err = a.Campaign(ctx, nil)
	require.ErrorIs(t, err, election.ErrLost, "the session is gone")
	require.ErrorIs(t, err, client.ErrSessionExpired)
	require.NoError(t, a.Resign(ctx), "resign after the session is gone")
	require.NoError(t, b.Resign(ctx))
	assert.Empty(t, store.check(ctx, cs))
}

// TestCampaignSessionExpiredWhileWaiting: a waiting candidate whose session
// expires returns ErrLost, not a leadership, and never hangs.
func TestCampaignSessionExpiredWhileWaiting(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	f := e.Follower(t)
	ca := e.ConnectPeer(t, e.Leader(t))
	cb := e.ConnectPeer(t, f, client.WithSessionTimeout(time.Second))
	a := election.NewElection(ca, "/expire-wait")
	b := election.NewElection(cb, "/expire-wait")
	_, err := a.Campaign(ctx, nil)
	require.NoError(t, err)
	rb := campaign(ctx, b, "b")
	waitCandidates(t, ctx, a, 2)
	e.Proxy(f).Pause()
	t.Cleanup(e.Proxy(f).Resume)
	select {
	case r := <-rb:
		require.ErrorIs(t, r.err, election.ErrLost)
		require.ErrorIs(t, r.err, client.ErrSessionExpired)
	case <-ctx.Done():
		t.Fatal("the waiting candidate hangs after its session died")
	}
	waitCandidates(t, ctx, a, 1)
	require.NoError(t, a.Resign(ctx))
}

// TestLeaderNodeDeleted: someone deletes the leader's node; the leader is
// told at once and the next candidate leads.
func TestLeaderNodeDeleted(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	c1, c2 := e.Connect(t), e.Connect(t)
	a := election.NewElection(c1, "/deleted")
	b := election.NewElection(c2, "/deleted")
	la, err := a.Campaign(ctx, []byte("a"))
	require.NoError(t, err)
	rb := campaign(ctx, b, "b")
	waitCandidates(t, ctx, a, 2)
	require.NoError(t, c2.Delete(ctx, la.Node(), tree.AnyVersion))
	closed(t, la.Lost(), "Lost")
	require.ErrorIs(t, a.Proclaim(ctx, []byte("x")), election.ErrNotLeader)
	lb := get(t, rb)
	assert.Greater(t, lb.Token(), la.Token())
	require.NoError(t, a.Resign(ctx))
	// a lost leadership does not stop the participant from campaigning again
	ra := campaign(ctx, a, "a again")
	waitCandidates(t, ctx, a, 2)
	require.NoError(t, b.Resign(ctx))
	la2 := get(t, ra)
	assert.Greater(t, la2.Token(), lb.Token())
	require.NoError(t, a.Resign(ctx))
}

// TestObserve: an observer sees every change in order, "no leader"
// included, without repeats.
func TestObserve(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	c1, c2, c3 := e.Connect(t), e.Connect(t), e.Connect(t)
	const path = "/observe"
	octx, cancel := context.WithCancel(ctx)
	events := election.NewElection(c3, path).Observe(octx)
	next := func() election.Leader {
		t.Helper()
		select {
		case ld, ok := <-events:
			require.True(t, ok, "observer stopped")
			return ld
		case <-time.After(waitFor):
			t.Fatal("no event")
			return election.Leader{}
		}
	}
	assert.True(t, next().None())
	a := election.NewElection(c1, path)
	b := election.NewElection(c2, path)
	la, err := a.Campaign(ctx, []byte("a"))
	require.NoError(t, err)
	ld := next()
	assert.Equal(t, election.Leader{Node: la.Node(), Value: []byte("a"), Token: la.Token()}, ld)
	require.NoError(t, a.Proclaim(ctx, []byte("a1")))
	ld = next()
	assert.Equal(t, "a1", string(ld.Value))
	assert.EqualValues(t, 1, ld.Version)

	rb := campaign(ctx, b, "b")
	waitCandidates(t, ctx, a, 2)
	require.NoError(t, a.Resign(ctx))
	lb := get(t, rb)
	ld = next()
	assert.Equal(t, lb.Node(), ld.Node, "the handoff shows the next leader, no gap")
	assert.Equal(t, "b", string(ld.Value))
	require.NoError(t, b.Resign(ctx))
	assert.True(t, next().None())

	// A reconnect re-reads, but the same state is not sent again.
	for _, id := range e.IDs() {
		e.Proxy(id).Cut()
	}
	lc, err := a.Campaign(ctx, []byte("c"))
	require.NoError(t, err)
	ld = next()
	assert.Equal(t, lc.Node(), ld.Node)
	require.NoError(t, a.Resign(ctx))
	assert.True(t, next().None())

	cancel()
	for range events {
	}
}

// TestObserveOrderUnderChurn: with leaders coming and going fast, an
// observer never sees an older leader after a newer one, never the same
// state twice in a row, and ends on the server's final state.
func TestObserveOrderUnderChurn(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	const path = "/churn"
	obsClient := e.Connect(t)
	octx, cancel := context.WithCancel(ctx)
	events := election.NewElection(obsClient, path).Observe(octx)
	var seen []election.Leader
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ld := range events {
			mu.Lock()
			seen = append(seen, ld)
			mu.Unlock()
		}
	}()

	var wg sync.WaitGroup
	for i := range 8 {
		c := e.Connect(t)
		wg.Go(func() {
			el := election.NewElection(c, path)
			for r := range 4 {
				if _, err := el.Campaign(ctx, fmt.Appendf(nil, "%d/%d", i, r)); err != nil {
					t.Error(err)
					return
				}
				if err := el.Proclaim(ctx, fmt.Appendf(nil, "%d/%d proclaimed", i, r)); err != nil {
					t.Error(err)
				}
				if err := el.Resign(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) > 0 && seen[len(seen)-1].None()
	}, waitFor, time.Millisecond, "the observer ends on no leader")
	cancel()
	<-done
	assert.NoError(t, checkObserved(seen))
	t.Logf("%d events observed for 32 leaderships", len(seen))
}

// checkObserved checks an observed sequence: no older leader after a newer
// one, no repeats.
func checkObserved(seen []election.Leader) error {
	var last election.Leader
	var top int64
	for i, ld := range seen {
		switch {
		case i > 0 && ld.None() && last.None():
			return fmt.Errorf("event %d: no leader twice in a row", i)
		case ld.None():
		case ld.Token < top:
			return fmt.Errorf("event %d: leader token %d after %d", i, ld.Token, top)
		case ld.Token == top && (last.None() || ld.Version <= last.Version):
			return fmt.Errorf("event %d: leader %s repeated or older than %s", i, ld, last)
		}
		if !ld.None() {
			top = ld.Token
		}
		last = ld
	}
	return nil
}

func TestCheckObservedHasTeeth(t *testing.T) {
	a := election.Leader{Node: "/x/a", Token: 10}
	a1 := election.Leader{Node: "/x/a", Token: 10, Version: 1}
	b := election.Leader{Node: "/x/b", Token: 20}
	none := election.Leader{}
	require.NoError(t, checkObserved([]election.Leader{none, a, a1, b, none}))
	assert.Error(t, checkObserved([]election.Leader{b, a}), "older after newer")
	assert.Error(t, checkObserved([]election.Leader{a, a}), "repeat")
	assert.Error(t, checkObserved([]election.Leader{a1, a}), "older value")
	assert.Error(t, checkObserved([]election.Leader{a, none, a}), "old leader after no leader")
	assert.Error(t, checkObserved([]election.Leader{none, none}), "repeated none")
}

// TestManyCandidates: 32 participants on 4 sessions campaign, lead, write
// to a fenced store and resign, while connections are cut at random. The
// checkers find no two believers at once, no believer the server does not
// list first, no store refusal of a leader that still believed it led, and
// strictly increasing tokens.
func TestManyCandidates(t *testing.T) {
	seed := recipetest.Seed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	rounds, cutEvery := 2, 8
	if os.Getenv("ZABKIT_LONG") != "" {
		rounds, cutEvery = 10, 3
	}
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	const path = "/many"
	const participants = 32
	clients := make([]*client.Client, 4)
	for i := range clients {
		clients[i] = e.Connect(t)
	}
	obsClient := e.Connect(t)
	observer := election.NewElection(obsClient, path)
	store, err := newFence(ctx, obsClient, "/many-store")
	require.NoError(t, err)
	chk := newLeaderChecker()

	handoffs := make(chan struct{}, participants*rounds)
	var wg sync.WaitGroup
	for i := range participants {
		c := clients[i%len(clients)]
		wg.Go(func() {
			el := election.NewElection(c, path)
			for r := range rounds {
				l, err := el.Campaign(ctx, fmt.Appendf(nil, "%d/%d", i, r))
				if err != nil {
					t.Errorf("participant %d: %v", i, err)
					return
				}
				chk.begin(i, l)
				for range 2 {
					if l.Context().Err() != nil {
						break
					}
					if err := store.leaderWrite(ctx, c, i, l); err != nil {
						t.Errorf("participant %d: store: %v", i, err)
					}
				}
				// Resign cancels the Context first, which ends the belief;
				// the entry is dropped only afterwards, so a leader whose
				// Context outlived its node would be seen.
				if err := el.Resign(ctx); err != nil {
					t.Errorf("participant %d: resign: %v", i, err)
				}
				chk.end(i)
				handoffs <- struct{}{}
			}
		})
	}
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() { // the sampler
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := chk.sample(ctx, observer); err != nil {
				t.Errorf("sample: %v", err)
				return
			}
		}
	})
	bg.Go(func() { // faults: cut a random peer's connections now and then
		ids := e.IDs()
		for n := 0; n < participants*rounds; n++ {
			select {
			case <-handoffs:
			case <-stop:
				return
			}
			if rng.IntN(cutEvery) == 0 {
				e.Proxy(ids[rng.IntN(len(ids))]).Cut()
			}
		}
	})
	wg.Wait()
	close(stop)
	bg.Wait()

	violations, leaderships, samples := chk.report()
	assert.Empty(t, violations)
	assert.Empty(t, store.check(ctx, obsClient))
	assert.Equal(t, participants*rounds, leaderships)
	assert.Positive(t, samples)
	waitCandidates(t, ctx, observer, 0)
	t.Logf("%d leaderships, %d samples, %d fenced writes", leaderships, samples, store.accepted)
}

// fakeLeadership is a participant that believes it leads without having
// won (the bug the checkers are for).
type fakeLeadership struct {
	node  string
	token int64
}

func (f fakeLeadership) Context() context.Context { return context.Background() }
func (f fakeLeadership) Token() int64             { return f.token }
func (f fakeLeadership) Node() string             { return f.node }

// TestCheckersHaveTeeth: the checkers of TestManyCandidates catch a second
// participant that believes it leads while the real leader does.
func TestCheckersHaveTeeth(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	c := e.Connect(t)
	el := election.NewElection(c, "/teeth")
	store, err := newFence(ctx, c, "/teeth-store")
	require.NoError(t, err)

	t.Run("two believers", func(t *testing.T) {
		chk := newLeaderChecker()
		l, err := el.Campaign(ctx, nil)
		require.NoError(t, err)
		defer el.Resign(ctx)
		chk.begin(1, l)
		chk.begin(2, fakeLeadership{node: "/teeth/fake", token: l.Token() + 1})
		v, _, _ := chk.report()
		assert.NotEmpty(t, v)
	})
	t.Run("believer not first on the server", func(t *testing.T) {
		chk := newLeaderChecker()
		l, err := el.Campaign(ctx, nil)
		require.NoError(t, err)
		defer el.Resign(ctx)
		_ = l
		chk.begin(2, fakeLeadership{node: "/teeth/fake", token: 1 << 62})
		require.NoError(t, chk.sample(ctx, el))
		v, _, _ := chk.report()
		assert.NotEmpty(t, v)
	})
	t.Run("token not increasing", func(t *testing.T) {
		chk := newLeaderChecker()
		chk.begin(1, fakeLeadership{node: "/teeth/a", token: 10})
		chk.end(1)
		chk.begin(2, fakeLeadership{node: "/teeth/b", token: 10})
		v, _, _ := chk.report()
		assert.NotEmpty(t, v)
	})
	t.Run("fenced store", func(t *testing.T) {
		l, err := el.Campaign(ctx, nil)
		require.NoError(t, err)
		defer el.Resign(ctx)
		// a second "leader" with a newer token writes while l still leads
		require.NoError(t, store.leaderWrite(ctx, c, 2, fakeLeadership{node: "/teeth/fake", token: l.Token() + 1}))
		require.NoError(t, store.leaderWrite(ctx, c, 1, l))
		assert.NotEmpty(t, store.check(ctx, c))
	})
}

func TestBadArguments(t *testing.T) {
	ctx := recipetest.Ctx(t)
	for _, p := range []string{"", "relative", "/", "/a/", "/a//b"} {
		_, err := election.NewElection(&client.Client{}, p).Campaign(ctx, nil)
		assert.ErrorIs(t, err, tree.ErrBadArguments, "path %q", p)
	}
	_, err := election.NewElection(nil, "/x").Leader(ctx)
	assert.ErrorIs(t, err, tree.ErrBadArguments)
	_, ok := <-election.NewElection(nil, "/x").Observe(ctx)
	assert.False(t, ok)
	assert.True(t, errors.Is(election.NewElection(nil, "/x").Resign(ctx), tree.ErrBadArguments))
}

// TestLostLeaderNodeCleanedUp: the leader is disconnected long enough for
// its Guard to report the loss, then reconnects with its session alive.
// Its node would still lead on the server; the lost leadership deletes it,
// so the next candidate leads and nobody is stuck behind a leader that
// does not know it leads.
func TestLostLeaderNodeCleanedUp(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	f := e.Follower(t)
	ca := e.ConnectPeer(t, f, client.WithSessionTimeout(3*time.Second))
	cb := e.ConnectPeer(t, e.Leader(t))
	a := election.NewElection(ca, "/cleanup")
	b := election.NewElection(cb, "/cleanup")
	la, err := a.Campaign(ctx, nil)
	require.NoError(t, err)
	rb := campaign(ctx, b, "b")
	waitCandidates(t, ctx, b, 2)
	sid := ca.SessionID()

	e.Proxy(f).Pause()
	closed(t, la.Lost(), "Lost")
	e.Proxy(f).Resume()
	lb := get(t, rb)
	assert.Greater(t, lb.Token(), la.Token())
	assert.Equal(t, sid, ca.SessionID())
	assert.NotEqual(t, client.StateExpired, ca.State(), "the session survived; the node was deleted by the lost leadership")
	require.NoError(t, a.Resign(ctx))
	require.NoError(t, b.Resign(ctx))
}

// TestLeaderRechecksAfterReconnect: the leader's node is deleted while its
// client is disconnected; once it reconnects it reads its state from the
// server and reports the loss.
func TestLeaderRechecksAfterReconnect(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	f := e.Follower(t)
	ca := e.ConnectPeer(t, f, client.WithSessionTimeout(10*time.Second))
	cb := e.ConnectPeer(t, e.Leader(t))
	a := election.NewElection(ca, "/recheck")
	la, err := a.Campaign(ctx, nil)
	require.NoError(t, err)

	e.Proxy(f).Refuse(true)
	e.Proxy(f).Cut()
	require.Eventually(t, func() bool { return ca.State() == client.StateDisconnected }, waitFor, time.Millisecond)
	require.NoError(t, cb.Delete(ctx, la.Node(), tree.AnyVersion))
	assert.False(t, isClosed(la.Lost()), "nothing known yet")
	e.Proxy(f).Refuse(false)
	closed(t, la.Lost(), "Lost after the reconnect")
	require.ErrorIs(t, a.Proclaim(ctx, nil), election.ErrNotLeader)
	require.NoError(t, a.Resign(ctx))
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

// TestLostCreateReplyNotFoundAtOnce: the create is applied, its reply
// lost, and the lookup that follows does not see it, so a second node
// with the same GUID is created. The first, ahead in line, would be a
// leader nobody knows of; the candidate deletes it and leads.
func TestLostCreateReplyNotFoundAtOnce(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	const path = "/lag"
	c := e.Connect(t)
	_, err := c.Create(ctx, path, nil, tree.ModeContainer)
	require.NoError(t, err)
	f := recipetest.NewFaultConn(c)
	f.LoseCreateReplies(1, func() {
		for _, id := range e.IDs() {
			e.Proxy(id).Cut()
		}
	})
	a := election.NewElection(&lagConn{Conn: f, hide: 1}, path)
	la := get(t, campaign(ctx, a, "a"))
	require.Len(t, f.Lost(), 1)
	assert.NotEqual(t, f.Lost()[0], la.Node(), "a second node was made")
	assert.Equal(t, []string{la.Node()}, waitCandidates(t, ctx, a, 1), "and the first one deleted")
	require.NoError(t, a.Resign(ctx))
	waitCandidates(t, ctx, a, 0)
}
