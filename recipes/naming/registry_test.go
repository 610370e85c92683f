package naming_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/ensemble/enstest"
	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/recipes/internal/recipetest"
	"github.com/zabkit/zabkit/recipes/naming"
	"github.com/zabkit/zabkit/tree"
)

// idsOf returns the instances' ids.
func idsOf(list []naming.Instance) []string {
	out := make([]string, len(list))
	for i, in := range list {
		out[i] = in.ID
	}
	return out
}

// waitList receives from ch until a list satisfies ok, and returns it with
// every list received on the way (it included). It fails the test if the
// stream ends or ctx ends first.
func waitList(t *testing.T, ctx context.Context, ch <-chan naming.Members, ok func([]naming.Instance) bool) ([]naming.Instance, [][]naming.Instance) {
	t.Helper()
	var seen [][]naming.Instance
	for {
		select {
		case m, open := <-ch:
			require.True(t, open, "watch ended; seen %v", seen)
			require.NoError(t, m.Err, "watch ended; seen %v", seen)
			seen = append(seen, m.Instances)
			if ok(m.Instances) {
				return m.Instances, seen
			}
		case <-ctx.Done():
			t.Fatalf("no matching list; seen %v", seen)
		}
	}
}

// waitIDs waits for the list with exactly these ids.
func waitIDs(t *testing.T, ctx context.Context, ch <-chan naming.Members, want ...string) [][]naming.Instance {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	_, seen := waitList(t, ctx, ch, func(l []naming.Instance) bool { return slices.Equal(idsOf(l), want) })
	return seen
}

// closeRegistry closes r when the test ends.
func closeRegistry(t *testing.T, r *naming.Registry) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, r.Close(ctx))
	})
}

func watch(t *testing.T, ctx context.Context, r *naming.Registry, service string) <-chan naming.Members {
	t.Helper()
	ch, err := r.Watch(ctx, service)
	require.NoError(t, err)
	return ch
}

// TestRegistry: register, lookup, watch, update, conflicts, deregister,
// close.
func TestRegistry(t *testing.T) {
	ctx := recipetest.Ctx(t)
	c1, c2 := shared.Connect(t), shared.Connect(t)
	reg := naming.NewRegistry(c1, "/reg-happy")
	closeRegistry(t, reg)
	obs := naming.NewRegistry(c2, "/reg-happy")
	closeRegistry(t, obs)
	ch := watch(t, ctx, obs, "api")
	waitIDs(t, ctx, ch)

	a1, err := reg.Register(ctx, "api", naming.Instance{ID: "a1", Address: "h1:1", Metadata: map[string]string{"v": "1"}})
	require.NoError(t, err)
	assert.True(t, a1.Registered())
	waitIDs(t, ctx, ch, "a1")
	a2, err := reg.Register(ctx, "api", naming.Instance{ID: "a2", Address: "h2:2"})
	require.NoError(t, err)
	list := waitIDs(t, ctx, ch, "a1", "a2")
	last := list[len(list)-1]
	assert.Equal(t, naming.Instance{ID: "a1", Address: "h1:1", Metadata: map[string]string{"v": "1"}}, last[0])
	assert.Equal(t, naming.Instance{ID: "a2", Address: "h2:2"}, last[1])

	got, err := obs.Lookup(ctx, "api")
	require.NoError(t, err)
	assert.Equal(t, last, got)
	services, err := obs.Services(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"api"}, services)
	assert.Len(t, reg.Registrations(), 2)

	// Update: the watcher sees the new metadata.
	require.NoError(t, a1.Update(ctx, naming.Instance{ID: "a1", Address: "h1:1", Metadata: map[string]string{"v": "2"}}))
	waitList(t, ctx, ch, func(l []naming.Instance) bool { return len(l) == 2 && l[0].Metadata["v"] == "2" })
	assert.Equal(t, "2", a1.Instance().Metadata["v"])
	require.ErrorIs(t, a1.Update(ctx, naming.Instance{ID: "zz"}), naming.ErrBadName)

	// Conflicts: same registry, another session.
	_, err = reg.Register(ctx, "api", naming.Instance{ID: "a1"})
	require.ErrorIs(t, err, naming.ErrAlreadyRegistered)
	_, err = obs.Register(ctx, "api", naming.Instance{ID: "a1"})
	require.ErrorIs(t, err, naming.ErrAlreadyRegistered)
	sameSession := naming.NewRegistry(c1, "/reg-happy") // the sidecar's case: the session alone cannot tell
	_, err = sameSession.Register(ctx, "api", naming.Instance{ID: "a1"})
	require.ErrorIs(t, err, naming.ErrAlreadyRegistered)
	require.NoError(t, sameSession.Close(ctx))
	owner := memberOwner(t, ctx, c2, a1.Path())
	assert.Equal(t, c1.SessionID(), owner.EphemeralOwner)

	// Deregister, twice.
	require.NoError(t, a2.Deregister(ctx))
	require.NoError(t, a2.Deregister(ctx))
	waitIDs(t, ctx, ch, "a1")
	require.ErrorIs(t, a2.Update(ctx, naming.Instance{ID: "a2"}), naming.ErrNotRegistered)
	assert.Error(t, a2.Context().Err())

	// Close deregisters the rest.
	require.NoError(t, reg.Close(ctx))
	require.NoError(t, reg.Close(ctx))
	waitIDs(t, ctx, ch)
	assert.Error(t, a1.Context().Err())
	select {
	case <-a1.Lost():
		t.Fatal("Close is not a loss")
	default:
	}
	_, err = reg.Register(ctx, "api", naming.Instance{ID: "a3"})
	require.ErrorIs(t, err, naming.ErrClosed)

	// Closing the observer ends its stream with ErrClosed.
	require.NoError(t, obs.Close(ctx))
	m, open := <-ch
	require.True(t, open)
	require.ErrorIs(t, m.Err, naming.ErrClosed)
	_, open = <-ch
	require.False(t, open)
}

// TestRegistryBadArgs: bad paths and ids are errors.
func TestRegistryBadArgs(t *testing.T) {
	ctx := recipetest.Ctx(t)
	c := shared.Connect(t)
	bad := naming.NewRegistry(c, "no-slash")
	_, err := bad.Register(ctx, "s", naming.Instance{ID: "x"})
	require.ErrorIs(t, err, naming.ErrBadName)
	require.NoError(t, bad.Close(ctx))
	reg := naming.NewRegistry(c, "/reg-bad")
	closeRegistry(t, reg)
	for _, id := range []string{"", "a/b", ".."} {
		_, err := reg.Register(ctx, "s", naming.Instance{ID: id})
		require.ErrorIs(t, err, naming.ErrBadName, "%q", id)
		_, err = reg.Lookup(ctx, id)
		require.ErrorIs(t, err, naming.ErrBadName, "%q", id)
	}
	_, err = naming.NewDialRegistry(nil, "/x").Register(ctx, "s", naming.Instance{ID: "x"})
	require.ErrorIs(t, err, tree.ErrBadArguments)
}

// TestRegistryManyMembers: 32 clients register at once; the watcher sees
// all of them, then none after they close their clients abruptly.
func TestRegistryManyMembers(t *testing.T) {
	ctx := recipetest.Ctx(t)
	const n = 32
	obs := naming.NewRegistry(shared.Connect(t), "/reg-many")
	closeRegistry(t, obs)
	ch := watch(t, ctx, obs, "svc")
	conns := make([]*client.Client, n)
	want := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		conns[i] = shared.Connect(t)
		want[i] = fmt.Sprintf("m%02d", i)
		reg := naming.NewRegistry(conns[i], "/reg-many")
		closeRegistry(t, reg)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := reg.Register(ctx, "svc", naming.Instance{ID: want[i], Address: strconv.Itoa(i)})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	waitIDs(t, ctx, ch, want...)
	got, err := obs.Lookup(ctx, "svc")
	require.NoError(t, err)
	assert.Equal(t, want, idsOf(got))
	for _, c := range conns {
		require.NoError(t, c.Close()) // no Deregister: the session's end removes the members
	}
	waitIDs(t, ctx, ch)
}

// TestRegistryClientClosed: an instance whose client is closed abruptly
// disappears from Watch, and (plain Conn) its Registration is lost.
func TestRegistryClientClosed(t *testing.T) {
	ctx := recipetest.Ctx(t)
	victim := shared.Connect(t)
	reg := naming.NewRegistry(victim, "/reg-closed")
	closeRegistry(t, reg)
	obs := naming.NewRegistry(shared.Connect(t), "/reg-closed")
	closeRegistry(t, obs)
	ch := watch(t, ctx, obs, "api")
	r, err := reg.Register(ctx, "api", naming.Instance{ID: "v1"})
	require.NoError(t, err)
	waitIDs(t, ctx, ch, "v1")
	require.NoError(t, victim.Close())
	waitIDs(t, ctx, ch)
	select {
	case <-r.Lost():
	case <-ctx.Done():
		t.Fatal("not lost")
	}
	require.ErrorIs(t, r.Update(ctx, naming.Instance{ID: "v1"}), naming.ErrLost)
	require.NoError(t, r.Deregister(ctx))
}

// gatedDialer returns a Dialer whose first dial reaches first only and
// whose later dials reach rest, each waiting until gate is closed.
func gatedDialer(first, rest []string, timeout time.Duration, gate <-chan struct{}, dials *atomic.Int32) naming.Dialer {
	return func(ctx context.Context) (recipes.Conn, error) {
		addrs := first
		if dials.Add(1) > 1 {
			addrs = rest
			select {
			case <-gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return client.Connect(ctx, addrs, client.WithSessionTimeout(timeout), client.WithConnectTimeout(500*time.Millisecond))
	}
}

// proxiesBut returns the proxy addresses of every peer but skip.
func proxiesBut(e *enstest.Ensemble, skip uint32) []string {
	var out []string
	for _, id := range e.IDs() {
		if id != skip {
			out = append(out, e.Proxy(id).Addr())
		}
	}
	return out
}

// memberOwner reads the member node's ephemeral owner through c (synced).
func memberOwner(t *testing.T, ctx context.Context, c *client.Client, path string) tree.Stat {
	t.Helper()
	require.NoError(t, c.Sync(ctx, path))
	_, st, err := c.Get(ctx, path)
	require.NoError(t, err)
	return st
}

// TestRegistryExpiryReRegisters: a dialing Registry's session expires
// (its peer's proxy paused): the member disappears from another client's
// Watch within the session timeout; the Registry dials a new session and
// the member reappears, owned by it; the Registry's own Watch follows
// to the new session.
func TestRegistryExpiryReRegisters(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	leader := e.Leader(t)
	f := e.Follower(t)
	const timeout = time.Second
	gate := make(chan struct{})
	var dials atomic.Int32
	reg := naming.NewDialRegistry(gatedDialer([]string{e.Proxy(f).Addr()}, proxiesBut(e, f), timeout, gate, &dials), "/reg-expiry")
	closeRegistry(t, reg)
	obsConn := e.ConnectPeer(t, leader)
	obs := naming.NewRegistry(obsConn, "/reg-expiry")
	closeRegistry(t, obs)
	ch := watch(t, ctx, obs, "api")
	mine := watch(t, ctx, reg, "api")

	r, err := reg.Register(ctx, "api", naming.Instance{ID: "a1", Address: "h:1"})
	require.NoError(t, err)
	waitIDs(t, ctx, ch, "a1")
	waitIDs(t, ctx, mine, "a1")
	before := memberOwner(t, ctx, obsConn, r.Path())

	paused := time.Now()
	e.Proxy(f).Pause()
	t.Cleanup(e.Proxy(f).Resume)
	waitIDs(t, ctx, ch)
	gone := time.Since(paused)
	t.Logf("member gone %v after the pause (session timeout %v)", gone, timeout)
	assert.Less(t, gone, timeout+time.Second, "gone within the session timeout (plus the server's tick and this machine's delays)")
	require.Eventually(t, func() bool { return !r.Registered() }, 10*time.Second, 5*time.Millisecond)

	// While it is away, another member joins.
	_, err = obs.Register(ctx, "api", naming.Instance{ID: "b1", Address: "h:2"})
	require.NoError(t, err)
	close(gate) // let the Registry dial its new session
	waitIDs(t, ctx, ch, "a1", "b1")
	waitIDs(t, ctx, mine, "a1", "b1")
	require.Eventually(t, r.Registered, 10*time.Second, 5*time.Millisecond)
	after := memberOwner(t, ctx, obsConn, r.Path())
	assert.NotEqual(t, before.EphemeralOwner, after.EphemeralOwner, "re-created on a new session")
	assert.Greater(t, after.Czxid, before.Czxid)
	assert.GreaterOrEqual(t, dials.Load(), int32(2))
	select {
	case <-r.Lost():
		t.Fatal("a dialing Registry never loses a Registration")
	default:
	}
	require.NoError(t, r.Context().Err())

	// The re-registered member is still kept: Update and Deregister work
	// on the new session.
	require.NoError(t, r.Update(ctx, naming.Instance{ID: "a1", Address: "h:3"}))
	waitList(t, ctx, ch, func(l []naming.Instance) bool { return len(l) == 2 && l[0].Address == "h:3" })
	require.NoError(t, r.Deregister(ctx))
	waitIDs(t, ctx, ch, "b1")
}

// TestRegistryExpiryPlainConn: with a plain Conn the Registration is lost
// with the session (told on Lost), disappears from Watch, and is not
// re-created; the Registry's own Watch ends with the session's error.
func TestRegistryExpiryPlainConn(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	f := e.Follower(t)
	const timeout = time.Second
	victim := e.ConnectPeer(t, f, client.WithSessionTimeout(timeout))
	reg := naming.NewRegistry(victim, "/reg-plain")
	closeRegistry(t, reg)
	obsConn := e.ConnectPeer(t, e.Leader(t))
	obs := naming.NewRegistry(obsConn, "/reg-plain")
	closeRegistry(t, obs)
	ch := watch(t, ctx, obs, "api")
	mine := watch(t, ctx, reg, "api")
	r, err := reg.Register(ctx, "api", naming.Instance{ID: "v1"})
	require.NoError(t, err)
	waitIDs(t, ctx, ch, "v1")
	waitIDs(t, ctx, mine, "v1")

	paused := time.Now()
	e.Proxy(f).Pause()
	t.Cleanup(e.Proxy(f).Resume)
	waitIDs(t, ctx, ch)
	t.Logf("member gone %v after the pause (session timeout %v)", time.Since(paused), timeout)
	select {
	case <-r.Lost():
	case <-ctx.Done():
		t.Fatal("the loss was never reported")
	}
	require.Error(t, r.Context().Err())
	assert.False(t, r.Registered())
	require.ErrorIs(t, r.Update(ctx, naming.Instance{ID: "v1"}), naming.ErrLost)
	require.NoError(t, r.Deregister(ctx), "the node went with the session")
	for m := range mine {
		if m.Err != nil {
			require.ErrorIs(t, m.Err, client.ErrSessionExpired)
		}
	}
	_, err = reg.Lookup(ctx, "api")
	require.ErrorIs(t, err, client.ErrSessionExpired)
	require.NoError(t, obsConn.Sync(ctx, "/"))
	got, err := obs.Lookup(ctx, "api")
	require.NoError(t, err)
	assert.Empty(t, got, "not re-created")
}

// TestRegistryPeerKilled: the registered client's peer is killed; the
// client moves to another peer with the same session, so the member node
// stays (same czxid, never missing from Watch), and the Registry's own
// Watch survives the reconnect.
func TestRegistryPeerKilled(t *testing.T) {
	e := recipetest.Ensemble(t)
	ctx := recipetest.Ctx(t)
	leader := e.Leader(t)
	f := e.Follower(t)
	// Land the victim on f: the others refuse while it connects.
	for _, id := range e.IDs() {
		if id != f {
			e.Proxy(id).Refuse(true)
		}
	}
	victim := e.Connect(t)
	for _, id := range e.IDs() {
		e.Proxy(id).Refuse(false)
	}
	reg := naming.NewRegistry(victim, "/reg-kill")
	closeRegistry(t, reg)
	obsConn := e.ConnectPeer(t, leader)
	obs := naming.NewRegistry(obsConn, "/reg-kill")
	closeRegistry(t, obs)
	ch := watch(t, ctx, obs, "api")
	mine := watch(t, ctx, reg, "api")
	r, err := reg.Register(ctx, "api", naming.Instance{ID: "a1"})
	require.NoError(t, err)
	waitIDs(t, ctx, ch, "a1")
	waitIDs(t, ctx, mine, "a1")
	before := memberOwner(t, ctx, obsConn, r.Path())
	session := victim.SessionID()

	e.Kill(f)
	_, err = obs.Register(ctx, "api", naming.Instance{ID: "b1"})
	require.NoError(t, err)
	waitIDs(t, ctx, mine, "a1", "b1") // the victim's watch is back, on another peer
	require.NoError(t, r.Update(ctx, naming.Instance{ID: "a1", Address: "moved"}))
	_, seen := waitList(t, ctx, ch, func(l []naming.Instance) bool { return len(l) == 2 && l[0].Address == "moved" })
	for _, l := range seen {
		assert.Contains(t, idsOf(l), "a1", "the member never left: %v", seen)
	}
	after := memberOwner(t, ctx, obsConn, r.Path())
	assert.Equal(t, session, victim.SessionID())
	assert.Equal(t, before.Czxid, after.Czxid, "the same node, never re-created")
	assert.Equal(t, before.EphemeralOwner, after.EphemeralOwner)
	select {
	case <-r.Lost():
		t.Fatal("a peer's death is not a loss")
	default:
	}
	assert.True(t, r.Registered())
}

// TestRegisterLostReply: the member create is applied, its reply lost and
// the connection cut; Register adopts the node: one node, this session's.
func TestRegisterLostReply(t *testing.T) {
	e := shared // cutting its proxies only makes its clients reconnect
	ctx := recipetest.Ctx(t)
	c, other := e.Connect(t), e.Connect(t)
	_, err := other.Create(ctx, "/reg-lost", nil, tree.ModePersistent)
	require.NoError(t, err)
	_, err = other.Create(ctx, "/reg-lost/api", nil, tree.ModePersistent)
	require.NoError(t, err)
	f := recipetest.NewFaultConn(c)
	f.LoseCreateReplies(1, func() {
		for _, id := range e.IDs() {
			e.Proxy(id).Cut()
		}
	})
	reg := naming.NewRegistry(f, "/reg-lost")
	closeRegistry(t, reg)
	r, err := reg.Register(ctx, "api", naming.Instance{ID: "a1"})
	require.NoError(t, err, "the node of the lost reply is ours")
	require.Equal(t, []string{"/reg-lost/api/a1"}, f.Lost())
	st := memberOwner(t, ctx, other, r.Path())
	assert.Equal(t, c.SessionID(), st.EphemeralOwner)
	names, _, err := other.Children(ctx, "/reg-lost/api")
	require.NoError(t, err)
	assert.Equal(t, []string{"a1"}, names)
	require.NoError(t, r.Deregister(ctx))
}

// TestRegisterCancel: a Register whose ctx ends after its create was
// applied leaves no node, and the id can be registered again.
func TestRegisterCancel(t *testing.T) {
	ctx := recipetest.Ctx(t)
	c := shared.Connect(t)
	_, err := c.Create(ctx, "/reg-cancel", nil, tree.ModePersistent)
	require.NoError(t, err)
	_, err = c.Create(ctx, "/reg-cancel/api", nil, tree.ModePersistent)
	require.NoError(t, err)
	f := recipetest.NewFaultConn(c)
	cctx, cancel := context.WithCancel(ctx)
	f.LoseCreateReplies(1, cancel)
	reg := naming.NewRegistry(f, "/reg-cancel")
	closeRegistry(t, reg)
	_, err = reg.Register(cctx, "api", naming.Instance{ID: "a1"})
	require.ErrorIs(t, err, context.Canceled)
	got, err := reg.Lookup(ctx, "api")
	require.NoError(t, err)
	assert.Empty(t, got)
	r, err := reg.Register(ctx, "api", naming.Instance{ID: "a1"})
	require.NoError(t, err)
	require.NoError(t, r.Deregister(ctx))
}

// TestWatchOrder: a member updated many times in a row; the watcher never
// sees an older value after a newer one, and ends on the last.
func TestWatchOrder(t *testing.T) {
	ctx := recipetest.Ctx(t)
	reg := naming.NewRegistry(shared.Connect(t), "/reg-order")
	closeRegistry(t, reg)
	obs := naming.NewRegistry(shared.Connect(t), "/reg-order")
	closeRegistry(t, obs)
	ch := watch(t, ctx, obs, "api")
	n := 50
	if long() {
		n = 500
	}
	r, err := reg.Register(ctx, "api", naming.Instance{ID: "a1", Metadata: map[string]string{"v": "0"}})
	require.NoError(t, err)
	updates := func(from, to int) chan error {
		done := make(chan error, 1)
		go func() {
			for i := from; i <= to; i++ {
				if err := r.Update(ctx, naming.Instance{ID: "a1", Metadata: map[string]string{"v": strconv.Itoa(i)}}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		return done
	}
	prev := -1
	check := func(seen [][]naming.Instance) {
		for _, l := range seen {
			if len(l) == 0 {
				continue
			}
			v, err := strconv.Atoi(l[0].Metadata["v"])
			require.NoError(t, err)
			assert.GreaterOrEqual(t, v, prev, "an older list after a newer one: %v", seen)
			prev = v
		}
	}
	last := func(v int) func([]naming.Instance) bool {
		return func(l []naming.Instance) bool { return len(l) == 1 && l[0].Metadata["v"] == strconv.Itoa(v) }
	}
	// A receiver as fast as the updates.
	done := updates(1, n)
	_, seen := waitList(t, ctx, ch, last(n))
	require.NoError(t, <-done)
	check(seen)
	t.Logf("fast receiver: %d updates, %d lists seen", n, len(seen))

	// A receiver that reads nothing until the updates are done gets the
	// newest list, not one it missed.
	require.NoError(t, <-updates(n+1, 2*n))
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_, seen = waitList(t, wctx, ch, last(2*n))
	check(seen)
	t.Logf("slow receiver: %d updates, %d lists seen", n, len(seen))
}
