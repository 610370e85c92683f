package membership

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var three = []uint64{1, 2, 3}

func TestThreeMembersFromOneSeed(t *testing.T) {
	m1 := start(t, node{id: 1, members: three, client: "127.0.0.1:21001"})
	m2 := start(t, node{id: 2, members: three, client: "127.0.0.1:21002", seeds: []string{m1.Addr()}})
	m3 := startNoCleanup(t, node{id: 3, members: three, client: "127.0.0.1:21003", seeds: []string{m1.Addr(), m2.Addr()}})
	want := map[uint64]string{1: "127.0.0.1:20001", 2: "127.0.0.1:20002", 3: "127.0.0.1:20003"}
	requireConverged(t, want, m1, m2, m3)

	for _, m := range []*Membership{m1, m2, m3} {
		got := m.Members()
		require.Len(t, got, 3)
		for i, mi := range got {
			id := uint64(i + 1)
			assert.Equal(t, MemberInfo{ID: id, PeerAddr: want[id], ClientAddr: fmt.Sprintf("127.0.0.1:%d", 21000+id), Alive: true}, mi)
			peer, ok := m.PeerAddr(id)
			assert.True(t, ok)
			assert.Equal(t, want[id], peer)
			client, ok := m.ClientAddr(id)
			assert.True(t, ok)
			assert.Equal(t, fmt.Sprintf("127.0.0.1:%d", 21000+id), client)
		}
		_, ok := m.PeerAddr(4)
		assert.False(t, ok)
		_, ok = m.ClientAddr(4)
		assert.False(t, ok)
		assert.Zero(t, m.Strangers())
	}

	// A new client address reaches everyone.
	require.NoError(t, m2.UpdateClientAddr("127.0.0.1:22002"))
	require.Eventually(t, func() bool {
		for _, m := range []*Membership{m1, m2, m3} {
			if a, _ := m.ClientAddr(2); a != "127.0.0.1:22002" {
				return false
			}
		}
		return true
	}, waitFor, 20*time.Millisecond)
	assert.ErrorIs(t, m2.UpdateClientAddr("no port"), ErrConfig)

	// A member that leaves is a Down hint at once, and stays known.
	require.NoError(t, m3.Close())
	requireDown(t, m1, 3)
	requireDown(t, m2, 3)
	peer, ok := m1.PeerAddr(3)
	assert.True(t, ok)
	assert.Equal(t, want[3], peer)
	assert.Equal(t, MemberInfo{ID: 3, PeerAddr: want[3], ClientAddr: "127.0.0.1:21003"}, m1.Members()[2])
}

func TestSeedNotUpYet(t *testing.T) {
	port := freePort(t)
	seed := fmt.Sprintf("127.0.0.1:%d", port)
	m2 := start(t, node{id: 2, members: three, seeds: []string{seed}})
	require.Eventually(t, func() bool { return m2.joinAttempts.Load() >= 2 }, waitFor, 10*time.Millisecond)
	assert.Equal(t, []MemberInfo{{ID: 2, PeerAddr: "127.0.0.1:20002", Alive: true}}, m2.Members())

	m1 := start(t, node{id: 1, members: three, bind: seed})
	require.Equal(t, seed, m1.Addr())
	requireConverged(t, map[uint64]string{1: "127.0.0.1:20001", 2: "127.0.0.1:20002"}, m1, m2)
}

func TestOwnAddressAsSeedIsNotAJoin(t *testing.T) {
	port := freePort(t)
	self := fmt.Sprintf("127.0.0.1:%d", port)
	m1 := start(t, node{id: 1, members: three, bind: self, seeds: []string{self}})
	m2 := start(t, node{id: 2, members: three, seeds: []string{self}})
	requireConverged(t, map[uint64]string{1: "127.0.0.1:20001", 2: "127.0.0.1:20002"}, m1, m2)
}

func TestKillRestartNewAddresses(t *testing.T) {
	m1 := start(t, node{id: 1, members: three})
	m2 := start(t, node{id: 2, members: three, seeds: []string{m1.Addr()}})
	m3 := startNoCleanup(t, node{id: 3, members: three, seeds: []string{m1.Addr()}, peer: "127.0.0.1:30003"})
	want := map[uint64]string{1: "127.0.0.1:20001", 2: "127.0.0.1:20002", 3: "127.0.0.1:30003"}
	requireConverged(t, want, m1, m2, m3)

	// A crash (no leave) is detected by probing.
	gossip := m3.Addr()
	require.NoError(t, m3.close(false))
	requireDown(t, m1, 3)
	requireDown(t, m2, 3)
	assert.False(t, m1.Members()[2].Alive)
	peer, ok := m1.PeerAddr(3)
	assert.True(t, ok, "a dead member's address stays known")
	assert.Equal(t, "127.0.0.1:30003", peer)

	// Back on the same gossip address with a new ZAB address.
	m3 = startNoCleanup(t, node{id: 3, members: three, seeds: []string{m1.Addr()}, bind: gossip, peer: "127.0.0.1:31003"})
	want[3] = "127.0.0.1:31003"
	requireConverged(t, want, m1, m2, m3)

	// Crash again; back on a new gossip address and a new ZAB address.
	require.NoError(t, m3.close(false))
	requireDown(t, m1, 3)
	requireDown(t, m2, 3)
	m3 = start(t, node{id: 3, members: three, seeds: []string{m2.Addr()}, peer: "127.0.0.1:32003"})
	require.NotEqual(t, gossip, m3.Addr())
	want[3] = "127.0.0.1:32003"
	requireConverged(t, want, m1, m2, m3)
	for _, m := range []*Membership{m1, m2, m3} {
		assert.Zero(t, m.Strangers())
	}
}

func TestStrangersAreRefusedAndInvisible(t *testing.T) {
	logs1, logs2 := &recorder{}, &recorder{}
	m1 := start(t, node{id: 1, members: three, log: logs1})
	m2 := start(t, node{id: 2, members: three, log: logs2, seeds: []string{m1.Addr()}})
	requireConverged(t, map[uint64]string{1: "127.0.0.1:20001", 2: "127.0.0.1:20002"}, m1, m2)

	// An unconfigured id whose own config names us.
	s9 := start(t, node{id: 9, members: []uint64{1, 2, 3, 9}, seeds: []string{m1.Addr()}, peer: "127.0.0.1:40009"})
	// A configured id of another cluster.
	sc := start(t, node{id: 3, cluster: "other", members: three, seeds: []string{m1.Addr()}, peer: "127.0.0.1:40003"})
	// A second process claiming id 2. It is only killed at the end: its
	// leave would name zabkit-2.
	imp := startNoCleanup(t, node{id: 2, members: three, seeds: []string{m2.Addr(), m1.Addr()}, peer: "127.0.0.1:40002"})
	t.Cleanup(func() { require.NoError(t, imp.close(false)) })
	// A name that does not match its id, and meta that does not decode.
	good, err := encodeMeta(Meta{ID: 3, ClusterID: "zabkit", PeerAddr: "127.0.0.1:40013"})
	require.NoError(t, err)
	startRaw(t, "zabkit-7", good, m1.Addr())
	startRaw(t, "zabkit-5", []byte("\x84\xa2id\x05"), m1.Addr())

	require.Eventually(t, func() bool { return m1.Strangers() >= 4 && m2.Strangers() >= 1 },
		waitFor, 20*time.Millisecond, "m1 %d, m2 %d", m1.Strangers(), m2.Strangers())
	for _, name := range []string{"zabkit-9", "zabkit-3", "zabkit-7", "zabkit-5"} {
		assert.Equal(t, 1, logs1.count("gossip stranger refused", "name", name), name)
	}
	assert.Equal(t, 1, logs2.count("gossip stranger refused", "name", "zabkit-2"))

	// The real member 3 joins; gossip has had time to carry anything the
	// strangers said. Nobody sees them.
	m3 := start(t, node{id: 3, members: three, seeds: []string{m1.Addr()}})
	want := map[uint64]string{1: "127.0.0.1:20001", 2: "127.0.0.1:20002", 3: "127.0.0.1:20003"}
	requireConverged(t, want, m1, m2, m3)
	require.Eventually(t, func() bool { return s9.joinAttempts.Load() >= 1 && sc.joinAttempts.Load() >= 2 },
		waitFor, 20*time.Millisecond)
	for _, m := range []*Membership{m1, m2, m3} {
		assert.True(t, seesAlive(m, want), "%v", m.Members())
		_, ok := m.PeerAddr(9)
		assert.False(t, ok)
		requireNoDown(t, m)
	}
	assert.Equal(t, 4, m1.Strangers(), "each stranger counted once")
	// The other cluster's node sees nobody of ours either.
	assert.Equal(t, []MemberInfo{{ID: 3, PeerAddr: "127.0.0.1:40003", Alive: true}}, sc.Members())
}

func TestSecretKeepsOutsidersOut(t *testing.T) {
	const secret = "s3cret"
	m1 := start(t, node{id: 1, members: three, secret: secret})
	m2 := start(t, node{id: 2, members: three, secret: secret, seeds: []string{m1.Addr()}})
	// Right id, wrong secret; right id, no secret.
	wrong := start(t, node{id: 3, members: three, secret: "guess", seeds: []string{m1.Addr()}, peer: "127.0.0.1:40003"})
	none := start(t, node{id: 3, members: three, seeds: []string{m2.Addr()}, peer: "127.0.0.1:41003"})
	require.Eventually(t, func() bool { return wrong.joinAttempts.Load() >= 2 && none.joinAttempts.Load() >= 2 },
		waitFor, 20*time.Millisecond)

	m3 := start(t, node{id: 3, members: three, secret: secret, seeds: []string{m2.Addr()}})
	want := map[uint64]string{1: "127.0.0.1:20001", 2: "127.0.0.1:20002", 3: "127.0.0.1:20003"}
	requireConverged(t, want, m1, m2, m3)
	for _, m := range []*Membership{m1, m2, m3} {
		assert.Zero(t, m.Strangers(), "unreadable nodes are not counted")
		requireNoDown(t, m)
	}
	for _, s := range []*Membership{wrong, none} {
		assert.Len(t, s.Members(), 1, "an outsider hears nobody")
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	m := startNoCleanup(t, node{id: 1, members: three})
	require.NoError(t, m.Close())
	require.NoError(t, m.Close())
	assert.ErrorIs(t, m.UpdateClientAddr("127.0.0.1:1"), ErrClosed)
	_, ok := <-m.Down()
	assert.False(t, ok, "Down is closed")
	peer, ok := m.PeerAddr(1)
	assert.True(t, ok)
	assert.Equal(t, "127.0.0.1:20001", peer)
}

func TestStartRefusesBadConfig(t *testing.T) {
	good := func() Config {
		return Config{
			Self:     Meta{ID: 1, ClusterID: "zabkit", PeerAddr: "127.0.0.1:2888"},
			BindAddr: "127.0.0.1:0",
			Members:  three,
		}
	}
	for name, mod := range map[string]func(*Config){
		"self not a member": func(c *Config) { c.Members = []uint64{2, 3} },
		"no cluster":        func(c *Config) { c.Self.ClusterID = "" },
		"no peer addr":      func(c *Config) { c.Self.PeerAddr = "" },
		"bad client addr":   func(c *Config) { c.Self.ClientAddr = "x" },
		"meta too long":     func(c *Config) { c.Self.ClusterID = string(make([]byte, MaxMetaBytes)) },
		"bind no port":      func(c *Config) { c.BindAddr = "127.0.0.1" },
		"bind hostname":     func(c *Config) { c.BindAddr = "localhost:0" },
		"bind bad port":     func(c *Config) { c.BindAddr = "127.0.0.1:70000" },
		"empty seed":        func(c *Config) { c.Seeds = []string{""} },
		"probe too short":   func(c *Config) { c.ProbeInterval = time.Millisecond },
	} {
		t.Run(name, func(t *testing.T) {
			c := good()
			mod(&c)
			m, err := Start(c)
			assert.ErrorIs(t, err, ErrConfig)
			assert.Nil(t, m)
		})
	}
}

func TestStartReportsBindConflict(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	m, err := Start(Config{
		Self:     Meta{ID: 1, ClusterID: "zabkit", PeerAddr: "127.0.0.1:2888"},
		BindAddr: l.Addr().String(),
		Members:  three,
	})
	assert.ErrorIs(t, err, ErrBind)
	assert.Nil(t, m)
}

func TestReconnectsToDeadMemberWithoutSeeds(t *testing.T) {
	// Neither side names the other after the restart: only the rejoin of
	// members believed dead brings them back together.
	m1 := start(t, node{id: 1, members: three})
	m2 := startNoCleanup(t, node{id: 2, members: three, seeds: []string{m1.Addr()}})
	want := map[uint64]string{1: "127.0.0.1:20001", 2: "127.0.0.1:20002"}
	requireConverged(t, want, m1, m2)
	gossip := m2.Addr()
	require.NoError(t, m2.close(false))
	requireDown(t, m1, 2)

	m2 = start(t, node{id: 2, members: three, bind: gossip, peer: "127.0.0.1:30002"})
	want[2] = "127.0.0.1:30002"
	requireConverged(t, want, m1, m2)
}
