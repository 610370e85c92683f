package ensemble

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/tree"
)

// testEnsemble is an in-process ensemble on 127.0.0.1: every peer a real
// Server with its own data dir, client port and peer port.
type testEnsemble struct {
	t       testing.TB
	members []Member
	cfgs    map[uint32]Config
	mu      sync.Mutex
	peers   map[uint32]*Server
}

// gossipTest makes newTestEnsemble give every member a gossip address.
var gossipTest bool

// freeAddrs returns n distinct free loopback TCP addresses.
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var lns []net.Listener
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// newTestEnsemble starts voters (and observers) peers, ids from 1.
func newTestEnsemble(t testing.TB, voters, observers int, tweak func(*Config)) *testEnsemble {
	t.Helper()
	n := voters + observers
	addrs := freeAddrs(t, 2*n)
	e := &testEnsemble{t: t, cfgs: map[uint32]Config{}, peers: map[uint32]*Server{}}
	for i := range n {
		e.members = append(e.members, Member{ID: uint32(i + 1), PeerAddr: addrs[i], Observer: i >= voters})
	}
	if gossipTest {
		for i := range e.members {
			e.members[i].GossipAddr = freeAddrs(t, 1)[0]
		}
	}
	for i := range n {
		cfg := testConfig(t)
		cfg.ServerID = uint32(i + 1)
		cfg.ClientAddr = addrs[n+i]
		cfg.Members = e.members
		cfg.ClusterID = "test"
		cfg.ZabTick = 10 * time.Millisecond
		cfg.TickTime = 50 * time.Millisecond
		cfg.MinSessionTimeout = 200 * time.Millisecond
		if tweak != nil {
			tweak(&cfg)
		}
		e.cfgs[cfg.ServerID] = cfg
	}
	for id := range e.cfgs {
		e.start(id)
	}
	t.Cleanup(func() {
		for id := range e.cfgs {
			e.stop(id)
		}
	})
	return e
}

// start (re)starts peer id on its data dir.
func (e *testEnsemble) start(id uint32) *Server {
	e.t.Helper()
	s, err := New(e.cfgs[id])
	require.NoError(e.t, err)
	s.walSegmentBytes = testSegmentBytes
	require.NoError(e.t, s.Start(context.Background()))
	e.mu.Lock()
	e.peers[id] = s
	e.mu.Unlock()
	return s
}

// crash stops peer id without its final snapshot: the next start replays
// its log, as after a kill -9 (only what was fsynced is in it).
func (e *testEnsemble) crash(id uint32) {
	e.mu.Lock()
	if s := e.peers[id]; s != nil {
		s.crashStop = true
	}
	e.mu.Unlock()
	e.stop(id)
}

// stop stops peer id if it runs.
func (e *testEnsemble) stop(id uint32) {
	e.mu.Lock()
	s := e.peers[id]
	delete(e.peers, id)
	e.mu.Unlock()
	if s != nil {
		if err := s.Stop(context.Background()); err != nil && !errors.Is(err, ErrNotStarted) {
			e.t.Errorf("stop %d: %v", id, err)
		}
	}
}

func (e *testEnsemble) peer(id uint32) *Server {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.peers[id]
}

// servers returns every peer's client address (running or not).
func (e *testEnsemble) servers() []string {
	var out []string
	for i := range e.members {
		out = append(out, e.cfgs[uint32(i+1)].ClientAddr)
	}
	return out
}

// leader waits for an established leader that every running peer
// follows, and returns its id.
func (e *testEnsemble) leader() uint32 {
	e.t.Helper()
	var lead uint32
	require.Eventually(e.t, func() bool {
		lead = 0
		e.mu.Lock()
		defer e.mu.Unlock()
		for id, s := range e.peers {
			st := s.PeerStatus()
			if st.Role == "leading" && s.serving() {
				lead = id
			}
		}
		if lead == 0 {
			return false
		}
		for _, s := range e.peers {
			st := s.PeerStatus()
			if !s.serving() || st.Leader != lead {
				return false
			}
		}
		return true
	}, 20*time.Second, 5*time.Millisecond, "no leader that every running peer follows")
	return lead
}

// converged waits until every running peer has applied the same last zxid
// with the same digest, and returns it.
func (e *testEnsemble) converged() tree.Zxid {
	e.t.Helper()
	var last tree.Zxid
	require.Eventually(e.t, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		var digest uint64
		first := true
		for _, s := range e.peers {
			st := s.PeerStatus()
			if first {
				last, digest, first = st.LastZxid, st.Digest, false
				continue
			}
			if st.LastZxid != last || st.Digest != digest {
				return false
			}
		}
		return true
	}, 20*time.Second, 5*time.Millisecond, "peers did not converge on one zxid and digest")
	return last
}

// connect opens a client on the given servers.
func (e *testEnsemble) connect(servers []string, opts ...client.Option) *client.Client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts = append([]client.Option{client.WithSessionTimeout(2 * time.Second), client.WithConnectTimeout(time.Second)}, opts...)
	c, err := client.Connect(ctx, servers, opts...)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { c.Close() })
	return c
}

func (e *testEnsemble) addrOf(id uint32) string { return e.cfgs[id].ClientAddr }

// createRetry creates path, retrying after a connection loss (the create
// may have happened: then it exists).
func createRetry(t *testing.T, c *client.Client, path string) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, err := c.Create(context.Background(), path, nil, tree.ModePersistent)
		return err == nil || errors.Is(err, tree.ErrNodeExists)
	}, 20*time.Second, time.Millisecond)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestEnsembleReplicates: writes through any peer reach every peer, reads
// after Sync see them, and all trees end with the same digest.
func TestEnsembleReplicates(t *testing.T) {
	e := newTestEnsemble(t, 3, 0, nil)
	lead := e.leader()
	ctx := testCtx(t)
	for id := uint32(1); id <= 3; id++ {
		c := e.connect([]string{e.addrOf(id)})
		for i := range 20 {
			_, err := c.Create(ctx, fmt.Sprintf("/p%d-%02d", id, i), []byte("v"), tree.ModePersistent)
			require.NoError(t, err, "create via peer %d (leader %d)", id, lead)
		}
	}
	e.converged()
	for id := uint32(1); id <= 3; id++ {
		c := e.connect([]string{e.addrOf(id)})
		require.NoError(t, c.Sync(ctx, "/"))
		names, _, err := c.Children(ctx, "/")
		require.NoError(t, err)
		assert.Len(t, names, 60, "peer %d", id)
	}
}

// TestEnsembleFIFOThroughFollower: one session's pipelined writes and
// reads through a follower are answered in order, and each read sees the
// writes before it.
func TestEnsembleFIFOThroughFollower(t *testing.T) {
	e := newTestEnsemble(t, 3, 0, nil)
	lead := e.leader()
	follower := uint32(1)
	if follower == lead {
		follower = 2
	}
	c := e.connect([]string{e.addrOf(follower)})
	ctx := testCtx(t)
	_, err := c.Create(ctx, "/f", []byte("0"), tree.ModePersistent)
	require.NoError(t, err)
	for i := 1; i <= 50; i++ {
		_, err := c.Set(ctx, "/f", []byte(fmt.Sprint(i)), -1)
		require.NoError(t, err)
		data, _, err := c.Get(ctx, "/f")
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(i), string(data), "a read after a write of the same session sees it")
	}
	data, _, err := c.GetLinearizable(ctx, "/f")
	require.NoError(t, err)
	assert.Equal(t, "50", string(data))
}

// TestEnsembleEphemeralsAndExpiry: a session created through a follower is
// global: its ephemeral is on every peer, and when the client vanishes the
// leader expires it and the ephemeral goes everywhere.
func TestEnsembleEphemeralsAndExpiry(t *testing.T) {
	e := newTestEnsemble(t, 3, 0, nil)
	lead := e.leader()
	follower := uint32(1)
	if follower == lead {
		follower = 2
	}
	ctx := testCtx(t)
	c := e.connect([]string{e.addrOf(follower)}, client.WithSessionTimeout(400*time.Millisecond))
	_, err := c.Create(ctx, "/eph", nil, tree.ModeEphemeral)
	require.NoError(t, err)
	// The session stays alive through the follower's reports well past its
	// timeout.
	watcher := e.connect([]string{e.addrOf(lead)})
	require.Eventually(t, func() bool {
		ok, _, err := watcher.Exists(ctx, "/eph")
		return err == nil && ok
	}, 5*time.Second, 5*time.Millisecond)
	deadline := time.Now().Add(1200 * time.Millisecond)
	for time.Now().Before(deadline) {
		ok, _, err := watcher.Exists(ctx, "/eph")
		require.NoError(t, err)
		require.True(t, ok, "the live session's ephemeral must stay")
		require.NoError(t, watcher.Sync(ctx, "/"))
	}
	c.Close()
	require.Eventually(t, func() bool {
		ok, _, err := watcher.Exists(ctx, "/eph")
		return err == nil && !ok
	}, 10*time.Second, 10*time.Millisecond)
	e.converged()
}

// TestEnsembleLeaderStop: stopping the leader while a client writes elects
// a new one, the client keeps its session, every acknowledged write is on
// every peer, and the old leader catches up when it returns.
func TestEnsembleLeaderStop(t *testing.T) {
	e := newTestEnsemble(t, 3, 0, nil)
	lead := e.leader()
	ctx := testCtx(t)
	c := e.connect(e.servers(), client.WithSessionTimeout(5*time.Second))
	sess := c.SessionID()
	_, err := c.Create(ctx, "/eph", nil, tree.ModeEphemeral)
	require.NoError(t, err)
	var acked []string
	for i := range 30 {
		p := fmt.Sprintf("/w%03d", i)
		if _, err := c.Create(ctx, p, nil, tree.ModePersistent); err == nil {
			acked = append(acked, p)
		}
		if i == 10 {
			e.stop(lead)
		}
	}
	newLead := e.leader()
	require.NotEqual(t, lead, newLead)
	for i := 30; i < 40; i++ {
		p := fmt.Sprintf("/w%03d", i)
		_, err := c.Create(ctx, p, nil, tree.ModePersistent)
		require.NoError(t, err)
		acked = append(acked, p)
	}
	assert.Equal(t, sess, c.SessionID(), "the session survived the leader's death")
	e.start(lead)
	e.leader()
	e.converged()
	for id := uint32(1); id <= 3; id++ {
		s := e.peer(id)
		s.treeMu.RLock()
		for _, p := range acked {
			_, err := s.tree.Exists(p)
			assert.NoError(t, err, "peer %d lost acknowledged %s", id, p)
		}
		_, err := s.tree.Exists("/eph")
		assert.NoError(t, err, "peer %d lost the live session's ephemeral", id)
		s.treeMu.RUnlock()
	}
}

// TestEnsembleMinorityCannotCommit: with two of three peers down the last
// one stops serving, and nothing is committed.
func TestEnsembleMinorityCannotCommit(t *testing.T) {
	e := newTestEnsemble(t, 3, 0, nil)
	lead := e.leader()
	ctx := testCtx(t)
	c := e.connect([]string{e.addrOf(lead)})
	_, err := c.Create(ctx, "/before", nil, tree.ModePersistent)
	require.NoError(t, err)
	before := e.peer(lead).PeerStatus().LastZxid
	for id := uint32(1); id <= 3; id++ {
		if id != lead {
			e.stop(id)
		}
	}
	require.Eventually(t, func() bool { return !e.peer(lead).serving() }, 10*time.Second, 5*time.Millisecond,
		"a leader without a quorum steps down")
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = c.Create(short, "/after", nil, tree.ModePersistent)
	require.Error(t, err)
	assert.Equal(t, before, e.peer(lead).PeerStatus().LastZxid, "nothing committed without a quorum")
	assert.Equal(t, "looking", e.peer(lead).PeerStatus().Role)
}

// TestEnsembleSnapCatchUp: a follower away for longer than the leader
// keeps its log in memory catches up by SNAP, and one away briefly by DIFF.
func TestEnsembleSnapCatchUp(t *testing.T) {
	e := newTestEnsemble(t, 3, 0, func(c *Config) { c.SnapshotEvery = 50 })
	lead := e.leader()
	away := uint32(1)
	if away == lead {
		away = 2
	}
	ctx := testCtx(t)
	e.stop(away)
	c := e.connect([]string{e.addrOf(lead)})
	for i := range 300 {
		_, err := c.Create(ctx, fmt.Sprintf("/s%03d", i), []byte("x"), tree.ModePersistent)
		require.NoError(t, err)
	}
	e.start(away)
	e.leader()
	last := e.converged()
	assert.GreaterOrEqual(t, last.Counter(), uint32(300))
	// A short absence: DIFF.
	e.stop(away)
	for i := range 5 {
		_, err := c.Create(ctx, fmt.Sprintf("/d%d", i), nil, tree.ModePersistent)
		require.NoError(t, err)
	}
	e.start(away)
	e.leader()
	e.converged()
}

// TestEnsembleObserverServes: an observer serves reads and forwards writes
// but does not count toward the quorum.
func TestEnsembleObserverServes(t *testing.T) {
	e := newTestEnsemble(t, 3, 1, nil)
	e.leader()
	ctx := testCtx(t)
	c := e.connect([]string{e.addrOf(4)})
	_, err := c.Create(ctx, "/via-observer", []byte("o"), tree.ModePersistent)
	require.NoError(t, err)
	data, _, err := c.Get(ctx, "/via-observer")
	require.NoError(t, err)
	assert.Equal(t, "o", string(data))
	assert.Equal(t, "observing", e.peer(4).PeerStatus().Role)
	e.converged()
}

// TestEnsembleRestartReplaysLog: peers that crash (no final snapshot)
// replay their logs on restart, deliver what a new leader confirms as
// committed, and agree.
func TestEnsembleRestartReplaysLog(t *testing.T) {
	e := newTestEnsemble(t, 3, 0, nil)
	lead := e.leader()
	ctx := testCtx(t)
	c := e.connect(e.servers(), client.WithSessionTimeout(5*time.Second))
	for i := range 40 {
		_, err := c.Create(ctx, fmt.Sprintf("/r%02d", i), []byte("x"), tree.ModePersistent)
		require.NoError(t, err)
	}
	// Crash a follower, then the leader: both replay on restart.
	follower := uint32(1)
	if follower == lead {
		follower = 2
	}
	e.crash(follower)
	createRetry(t, c, "/while-one-down")
	e.start(follower)
	e.leader()
	e.crash(lead)
	e.start(lead)
	e.leader()
	last := e.converged()
	assert.GreaterOrEqual(t, last.Counter(), uint32(1))
	for id := uint32(1); id <= 3; id++ {
		s := e.peer(id)
		s.treeMu.RLock()
		n := s.tree.NodeCount()
		s.treeMu.RUnlock()
		assert.Equal(t, 42, n, "peer %d: / plus 41 znodes", id)
	}
}

// TestEnsembleStatusKnowsMembers: every peer's status lists every member
// with its client address (from the members' hellos), and with gossip on,
// memberlist sees all of them too; neither changes who votes.
func TestEnsembleStatusKnowsMembers(t *testing.T) {
	for _, gossip := range []bool{false, true} {
		t.Run(fmt.Sprintf("gossip=%v", gossip), func(t *testing.T) {
			gossipTest = gossip
			defer func() { gossipTest = false }()
			e := newTestEnsemble(t, 3, 0, nil)
			e.leader()
			require.Eventually(t, func() bool {
				for id := uint32(1); id <= 3; id++ {
					st := e.peer(id).PeerStatus()
					if len(st.Members) != 3 {
						return false
					}
					for _, m := range st.Members {
						if m.ClientAddr != e.addrOf(m.ID) || !m.Connected {
							return false
						}
					}
				}
				return true
			}, 10*time.Second, 10*time.Millisecond)
			if gossip {
				require.Eventually(t, func() bool {
					for id := uint32(1); id <= 3; id++ {
						alive := 0
						for _, m := range e.peer(id).gossip.Members() {
							if m.Alive {
								alive++
							}
						}
						if alive != 3 {
							return false
						}
					}
					return true
				}, 10*time.Second, 10*time.Millisecond)
			}
		})
	}
}
