package membership

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"
)

// testProbe is the probe interval of the tests' members: short, so that a
// crash is detected in well under a second on loopback.
const testProbe = 150 * time.Millisecond

// waitFor bounds every Eventually in these tests.
const waitFor = 10 * time.Second

// recorder is a slog.Handler keeping Warn and above, for assertions.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// count returns how many records have message msg and attribute key=val.
func (r *recorder) count(msg, key, val string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.recs {
		if rec.Message != msg {
			continue
		}
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == key && a.Value.String() == val {
				n++
				return false
			}
			return true
		})
	}
	return n
}

// node describes a member to start.
type node struct {
	id      uint64
	cluster string
	members []uint64
	seeds   []string
	secret  string
	bind    string
	peer    string
	client  string
	log     *recorder
}

// start starts n, closing it (with a leave) at the end of the test.
func start(t *testing.T, n node) *Membership {
	t.Helper()
	m := startNoCleanup(t, n)
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	return m
}

// startNoCleanup starts n; the caller closes it.
func startNoCleanup(t *testing.T, n node) *Membership {
	t.Helper()
	if n.cluster == "" {
		n.cluster = "zabkit"
	}
	if n.bind == "" {
		n.bind = "127.0.0.1:0"
	}
	if n.peer == "" {
		n.peer = fmt.Sprintf("127.0.0.1:%d", 20000+n.id)
	}
	if n.log == nil {
		n.log = &recorder{}
	}
	m, err := Start(Config{
		Self:          Meta{ID: n.id, ClusterID: n.cluster, PeerAddr: n.peer, ClientAddr: n.client},
		BindAddr:      n.bind,
		Seeds:         n.seeds,
		Members:       n.members,
		Secret:        n.secret,
		Logger:        slog.New(n.log),
		ProbeInterval: testProbe,
	})
	require.NoError(t, err)
	return m
}

// seesAlive reports whether m knows exactly the ids in want, all alive,
// with the given peer addresses.
func seesAlive(m *Membership, want map[uint64]string) bool {
	got := m.Members()
	if len(got) != len(want) {
		return false
	}
	for _, mi := range got {
		if peer, ok := want[mi.ID]; !ok || !mi.Alive || mi.PeerAddr != peer {
			return false
		}
	}
	return true
}

// requireConverged waits until every m sees exactly want alive.
func requireConverged(t *testing.T, want map[uint64]string, ms ...*Membership) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, m := range ms {
			if !seesAlive(m, want) {
				return false
			}
		}
		return true
	}, waitFor, 20*time.Millisecond, "members did not converge on %v", want)
}

// requireDown waits for a Down hint for id on m, skipping others.
func requireDown(t *testing.T, m *Membership, id uint64) {
	t.Helper()
	timeout := time.After(waitFor)
	for {
		select {
		case got, ok := <-m.Down():
			require.True(t, ok, "Down closed")
			if got == id {
				return
			}
		case <-timeout:
			t.Fatalf("no Down hint for %d on %s", id, m.Addr())
		}
	}
}

// requireNoDown checks that no hint is pending on m.
func requireNoDown(t *testing.T, m *Membership) {
	t.Helper()
	select {
	case id := <-m.Down():
		t.Fatalf("unexpected Down hint for %d on %s", id, m.Addr())
	default:
	}
}

// freePort returns a port that was free for both TCP and UDP on 127.0.0.1
// a moment ago, for a member that must be named as a seed before it starts.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		require.NoError(t, l.Close())
		if err == nil {
			require.NoError(t, u.Close())
			return port
		}
	}
	t.Fatal("no port free for both TCP and UDP")
	return 0
}

// rawNode is a plain memberlist node announcing arbitrary meta under an
// arbitrary name: a stranger this package would never build itself.
type rawNode struct{ meta []byte }

func (r rawNode) NodeMeta(int) []byte           { return slices.Clone(r.meta) }
func (rawNode) NotifyMsg([]byte)                {}
func (rawNode) GetBroadcasts(int, int) [][]byte { return nil }
func (rawNode) LocalState(bool) []byte          { return nil }
func (rawNode) MergeRemoteState([]byte, bool)   {}
func startRaw(t *testing.T, name string, meta []byte, seed string) *memberlist.Memberlist {
	t.Helper()
	c := memberlist.DefaultLocalConfig()
	c.Name = name
	c.BindAddr = "127.0.0.1"
	c.BindPort = 0
	c.AdvertisePort = 0
	c.Delegate = rawNode{meta: meta}
	c.ProbeInterval = testProbe
	c.ProbeTimeout = testProbe / 2
	c.GossipInterval = testProbe / 3
	c.Logger = slog.NewLogLogger(slog.DiscardHandler, slog.LevelDebug)
	ml, err := memberlist.Create(c)
	require.NoError(t, err)
	// Shut down without a leave: a leave names the node, and a stranger's
	// name may be a member's.
	t.Cleanup(func() { require.NoError(t, ml.Shutdown()) })
	_, _ = ml.Join([]string{seed}) // the seed refuses the merge
	return ml
}
