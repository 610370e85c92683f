package membership

import (
	"net"
	"testing"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClassify(t *testing.T) {
	s, err := Config{
		Self:     Meta{ID: 1, ClusterID: "zabkit", PeerAddr: "127.0.0.1:2888"},
		BindAddr: "127.0.0.1:0",
		Members:  []uint64{1, 2, 3},
	}.validate()
	require.NoError(t, err)
	meta := func(id uint64, cluster string) []byte {
		b, err := encodeMeta(Meta{ID: id, ClusterID: cluster, PeerAddr: "127.0.0.1:2888"})
		require.NoError(t, err)
		return b
	}
	here := net.ParseIP("127.0.0.1")
	known := selfAddr{known: true, ip: here, port: 7000}
	for _, tc := range []struct {
		name     string
		self     selfAddr
		node     string
		ip       net.IP
		port     uint16
		meta     []byte
		merge    bool
		reason   string
		wantMeta uint64
	}{
		{name: "member", self: known, node: "zabkit-2", ip: here, port: 7002, meta: meta(2, "zabkit"), wantMeta: 2},
		{name: "garbage meta", self: known, node: "zabkit-2", ip: here, port: 7002, meta: []byte{0xc1}, reason: reasonMeta},
		{name: "no meta", self: known, node: "zabkit-2", ip: here, port: 7002, reason: reasonMeta},
		{name: "other cluster", self: known, node: "zabkit-2", ip: here, port: 7002, meta: meta(2, "other"), reason: reasonCluster},
		{name: "name mismatch", self: known, node: "zabkit-3", ip: here, port: 7002, meta: meta(2, "zabkit"), reason: reasonName},
		{name: "name with zero", self: known, node: "zabkit-02", ip: here, port: 7002, meta: meta(2, "zabkit"), reason: reasonName},
		{name: "unconfigured", self: known, node: "zabkit-9", ip: here, port: 7002, meta: meta(9, "zabkit"), reason: reasonUnconfigured},
		{name: "us", self: known, node: "zabkit-1", ip: net.IPv4(127, 0, 0, 1), port: 7000, meta: meta(1, "zabkit"), wantMeta: 1},
		{name: "our id elsewhere", self: known, node: "zabkit-1", ip: here, port: 7001, meta: meta(1, "zabkit"), reason: reasonSelf},
		{name: "our id in a merge", self: selfAddr{}, node: "zabkit-1", ip: here, port: 7001, meta: meta(1, "zabkit"), merge: true, wantMeta: 1},
		{name: "us while starting", self: selfAddr{}, node: "zabkit-1", ip: here, port: 7000, meta: s.selfMeta, wantMeta: 1},
		{name: "our id while starting", self: selfAddr{}, node: "zabkit-1", ip: here, port: 7000, meta: []byte(`{"id":1,"c":"zabkit","p":"127.0.0.1:9"}`), reason: reasonSelf},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, reason := classify(&s, tc.self, tc.node, tc.ip, tc.port, tc.meta, tc.merge)
			assert.Equal(t, tc.reason, reason)
			if tc.reason == "" {
				assert.Equal(t, tc.wantMeta, m.ID)
			}
		})
	}
}

func TestStrangerWarnedAndCountedOnce(t *testing.T) {
	logs := &recorder{}
	m := startNoCleanup(t, node{id: 1, members: three, log: logs})
	defer func() { require.NoError(t, m.Close()) }()
	d := &delegate{m: m}
	bad, err := encodeMeta(Meta{ID: 9, ClusterID: "zabkit", PeerAddr: "127.0.0.1:1"})
	require.NoError(t, err)
	n := &memberlist.Node{Name: "zabkit-9", Addr: net.ParseIP("127.0.0.1"), Port: 9, Meta: bad}
	for range 3 {
		assert.ErrorIs(t, d.NotifyAlive(n), ErrStranger)
	}
	assert.ErrorIs(t, d.NotifyMerge([]*memberlist.Node{n}), ErrStranger)
	other := *n
	other.Name = "zabkit-8"
	assert.ErrorIs(t, d.NotifyAlive(&other), ErrStranger)

	assert.Equal(t, 2, m.Strangers())
	assert.Equal(t, 1, logs.count("gossip stranger refused", "name", "zabkit-9"))
	assert.Equal(t, 1, logs.count("gossip stranger refused", "name", "zabkit-8"))
	assert.Equal(t, []MemberInfo{{ID: 1, PeerAddr: "127.0.0.1:20001", Alive: true}}, m.Members())

	// Events about a stranger (which memberlist never sends) change nothing.
	d.NotifyJoin(n)
	d.NotifyLeave(n)
	assert.Len(t, m.Members(), 1)
	requireNoDown(t, m)
}

func TestStrangerNamesAreBounded(t *testing.T) {
	m := startNoCleanup(t, node{id: 1, members: three, log: &recorder{}})
	defer func() { require.NoError(t, m.Close()) }()
	for i := range maxStrangerNames + 10 {
		_ = m.refuse(NodeName(uint64(1000+i)), net.ParseIP("127.0.0.1"), 1, reasonUnconfigured)
	}
	m.mu.Lock()
	assert.Len(t, m.mu.warned, maxStrangerNames)
	m.mu.Unlock()
	assert.Equal(t, maxStrangerNames+10, m.Strangers())
	long := string(make([]byte, 10*maxNameKey))
	assert.ErrorIs(t, m.refuse(long, net.ParseIP("127.0.0.1"), 1, reasonName), ErrStranger)
}

func TestDeriveKey(t *testing.T) {
	k := deriveKey("zabkit", "s")
	assert.Len(t, k, 32)
	assert.NotEqual(t, k, deriveKey("zabkit", "t"))
	assert.NotEqual(t, k, deriveKey("zabki", "ts"), "the separator keeps cluster and secret apart")
	require.NoError(t, memberlist.ValidateKey(k))
}
