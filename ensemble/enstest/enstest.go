package enstest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble"
	"github.com/zabkit/zabkit/ensemble/client"
)

// T is the part of *testing.T (or *testing.B) the harness uses; StartMain
// supplies one for TestMain and Examples.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	FailNow()
	TempDir() string
	Cleanup(func())
}

// Defaults used by Start for zero Options fields.
const (
	// DefaultPeers is the number of voters Start runs.
	DefaultPeers = 3
	// DefaultSessionTimeout is the session timeout Connect asks for.
	DefaultSessionTimeout = 2 * time.Second
	// waitFor bounds every wait of the harness (leader, convergence).
	waitFor = 30 * time.Second
)

// Options configures Start. The zero value runs 3 voters.
type Options struct {
	// Peers is the number of voters: 1 (a standalone peer), 3 or 5;
	// DefaultPeers if zero.
	Peers int
	// Observers is the number of observers, added after the voters.
	Observers int
	// Tweak, if set, edits each peer's Config before it starts.
	Tweak func(*ensemble.Config)
	// Logger receives the peers' logs; nil discards them unless the
	// environment variable ZABKIT_TEST_LOG is set (then debug to stderr).
	Logger *slog.Logger
}

// Ensemble is a running in-process ensemble. Its methods are safe for
// concurrent use.
type Ensemble struct {
	t       T
	ids     []uint32
	cfgs    map[uint32]ensemble.Config
	proxies map[uint32]*Proxy

	mu    sync.Mutex
	peers map[uint32]*ensemble.Server
}

// Start runs an ensemble as opts says, waits until it has a leader that
// every peer follows, and stops it when the test ends. It fails the test if
// a peer cannot start or no leader is elected within 30 seconds.
func Start(t T, opts Options) *Ensemble {
	t.Helper()
	n := opts.Peers
	if n == 0 {
		n = DefaultPeers
	}
	logger := opts.Logger
	if logger == nil && os.Getenv("ZABKIT_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	total := n + opts.Observers
	e := &Ensemble{t: t, cfgs: map[uint32]ensemble.Config{}, proxies: map[uint32]*Proxy{}, peers: map[uint32]*ensemble.Server{}}
	for i := range total {
		id := uint32(i + 1)
		e.ids = append(e.ids, id)
	}
	dirs := map[uint32]string{}
	for _, id := range e.ids {
		dirs[id] = t.TempDir()
	}
	// The free ports are picked before the peers bind them, so another
	// process may take one meanwhile: then pick new ones and start again.
	var err error
	for attempt := 0; attempt < bindAttempts; attempt++ {
		e.configure(t, opts, n, total, dirs, logger)
		if err = e.startAll(); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
		e.stopAll()
	}
	require.NoError(t, err, "enstest: start the ensemble")
	for _, id := range e.ids {
		p, err := NewProxy(e.cfgs[id].ClientAddr)
		require.NoError(t, err)
		e.proxies[id] = p
	}
	t.Cleanup(func() {
		for _, id := range e.ids {
			e.Stop(id)
			if p := e.proxies[id]; p != nil {
				p.Close()
			}
		}
	})
	if total > 1 {
		e.Leader(t)
	}
	return e
}

// bindAttempts bounds how often Start picks new ports after a clash.
const bindAttempts = 5

// configure sets every peer's Config on fresh free ports.
func (e *Ensemble) configure(t T, opts Options, voters, total int, dirs map[uint32]string, logger *slog.Logger) {
	addrs := freeAddrs(t, 2*total)
	var members []ensemble.Member
	if total > 1 {
		for i := range total {
			members = append(members, ensemble.Member{ID: uint32(i + 1), PeerAddr: addrs[i], Observer: i >= voters})
		}
	}
	for i, id := range e.ids {
		cfg := ensemble.Config{
			ServerID:          id,
			DataDir:           dirs[id],
			ClientAddr:        addrs[total+i],
			Members:           members,
			ClusterID:         "enstest",
			ZabTick:           10 * time.Millisecond,
			TickTime:          50 * time.Millisecond,
			MinSessionTimeout: 200 * time.Millisecond,
			MaxSessionTimeout: 60 * time.Second,
			Logger:            logger,
		}
		if opts.Tweak != nil {
			opts.Tweak(&cfg)
		}
		e.cfgs[id] = cfg
	}
}

// startAll starts every peer, stopping at the first error.
func (e *Ensemble) startAll() error {
	for _, id := range e.ids {
		s, err := ensemble.New(e.cfgs[id])
		if err != nil {
			return err
		}
		if err := s.Start(context.Background()); err != nil {
			return err
		}
		e.mu.Lock()
		e.peers[id] = s
		e.mu.Unlock()
	}
	return nil
}

// stopAll stops every running peer.
func (e *Ensemble) stopAll() {
	for _, id := range e.ids {
		e.Stop(id)
	}
}

// freeAddrs returns n distinct free loopback TCP addresses.
func freeAddrs(t T, n int) []string {
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

// IDs returns every configured peer's id, running or not, in order.
func (e *Ensemble) IDs() []uint32 { return append([]uint32(nil), e.ids...) }

// Servers returns the address of every peer's proxy, the connect string
// clients should use, running or not.
func (e *Ensemble) Servers() []string {
	var out []string
	for _, id := range e.ids {
		out = append(out, e.proxies[id].Addr())
	}
	return out
}

// Proxy returns the proxy in front of peer id, or nil for an unknown id.
func (e *Ensemble) Proxy(id uint32) *Proxy { return e.proxies[id] }

// Peer returns the running server of peer id, or nil if it is stopped.
func (e *Ensemble) Peer(id uint32) *ensemble.Server {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.peers[id]
}

// Restart starts peer id on its data directory (it is a no-op if the
// peer runs). It fails the test if the peer cannot start.
func (e *Ensemble) Restart(t T, id uint32) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.peers[id] != nil {
		return
	}
	cfg, ok := e.cfgs[id]
	require.True(t, ok, "no peer %d", id)
	s, err := ensemble.New(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	e.peers[id] = s
}

// Stop stops peer id cleanly (final snapshot); a no-op if it is stopped.
// Its clients lose their connections and move to other peers.
func (e *Ensemble) Stop(id uint32) { e.stop(id, false) }

// Kill stops peer id as a crash would: connections drop at once and no
// final snapshot is written, so a restart replays its log. A no-op if it
// is stopped.
func (e *Ensemble) Kill(id uint32) { e.stop(id, true) }

func (e *Ensemble) stop(id uint32, crash bool) {
	e.mu.Lock()
	s := e.peers[id]
	delete(e.peers, id)
	e.mu.Unlock()
	if s == nil {
		return
	}
	e.proxies[id].Cut()
	ctx := context.Background()
	if crash {
		c, cancel := context.WithCancel(ctx)
		cancel() // an ended ctx skips the final snapshot
		ctx = c
	}
	if err := s.Stop(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, ensemble.ErrNotStarted) {
		e.t.Errorf("enstest: stop peer %d: %v", id, err)
	}
}

// Leader waits until one running peer leads and every running peer
// follows it and serves, and returns its id. With one peer it returns 1.
// It fails the test after 30 seconds.
func (e *Ensemble) Leader(t T) uint32 {
	t.Helper()
	if len(e.ids) == 1 {
		return e.ids[0]
	}
	var lead uint32
	require.Eventually(t, func() bool {
		lead = 0
		e.mu.Lock()
		defer e.mu.Unlock()
		for id, s := range e.peers {
			if st := s.PeerStatus(); st.Role == "leading" && st.Serving {
				lead = id
			}
		}
		if lead == 0 {
			return false
		}
		for _, s := range e.peers {
			if st := s.PeerStatus(); !st.Serving || st.Leader != lead {
				return false
			}
		}
		return true
	}, waitFor, 5*time.Millisecond, "enstest: no leader that every running peer follows")
	return lead
}

// Follower returns the id of a running peer that is not the leader (after
// waiting for one, as Leader does). It fails the test with one peer.
func (e *Ensemble) Follower(t T) uint32 {
	t.Helper()
	lead := e.Leader(t)
	e.mu.Lock()
	defer e.mu.Unlock()
	var ids []uint32
	for id := range e.peers {
		if id != lead {
			ids = append(ids, id)
		}
	}
	require.NotEmpty(t, ids, "enstest: no running follower")
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids[0]
}

// Converged waits until every running peer has applied the same last zxid
// with the same tree digest. It fails the test after 30 seconds.
func (e *Ensemble) Converged(t T) {
	t.Helper()
	require.Eventually(t, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		first := true
		var last, digest uint64
		for _, s := range e.peers {
			st := s.PeerStatus()
			if first {
				last, digest, first = uint64(st.LastZxid), st.Digest, false
				continue
			}
			if uint64(st.LastZxid) != last || st.Digest != digest {
				return false
			}
		}
		return true
	}, waitFor, 5*time.Millisecond, "enstest: peers did not converge")
}

// Connect opens a client on every peer (through the proxies) with a
// DefaultSessionTimeout session unless opts say otherwise, and closes it
// when the test ends. It fails the test if no session opens in 30 seconds.
func (e *Ensemble) Connect(t T, opts ...client.Option) *client.Client {
	t.Helper()
	return e.ConnectTo(t, e.Servers(), opts...)
}

// ConnectPeer opens a client on peer id only, as Connect does, so a test
// knows which peer its client uses.
func (e *Ensemble) ConnectPeer(t T, id uint32, opts ...client.Option) *client.Client {
	t.Helper()
	p := e.proxies[id]
	require.NotNil(t, p, "no peer %d", id)
	return e.ConnectTo(t, []string{p.Addr()}, opts...)
}

// ConnectTo opens a client on the given addresses, as Connect does.
func (e *Ensemble) ConnectTo(t T, servers []string, opts ...client.Option) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	opts = append([]client.Option{client.WithSessionTimeout(DefaultSessionTimeout), client.WithConnectTimeout(time.Second)}, opts...)
	c, err := client.Connect(ctx, servers, opts...)
	require.NoError(t, err, "enstest: connect to %v", servers)
	t.Cleanup(func() { c.Close() })
	return c
}

// String names the ensemble's peers and addresses, for test logs.
func (e *Ensemble) String() string {
	return fmt.Sprintf("enstest ensemble %v", e.Servers())
}
