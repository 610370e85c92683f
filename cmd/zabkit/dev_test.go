package main

import (
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble"
	"github.com/zabkit/zabkit/ensemble/wire"
)

func TestDevConfigs(t *testing.T) {
	dir := t.TempDir()
	cfgs, err := devConfigs(dir, 0, 3)
	require.NoError(t, err)
	require.Len(t, cfgs, 3)
	seen := map[string]bool{}
	for i, c := range cfgs {
		assert.Equal(t, uint32(i+1), c.ServerID)
		assert.Equal(t, "127.0.0.1:0", c.ClientAddr)
		assert.Contains(t, c.DataDir, dir)
		assert.Equal(t, cfgs[0].Members, c.Members, "every peer has the same member list")
		assert.False(t, seen[c.DataDir])
		seen[c.DataDir] = true
	}
	members := cfgs[0].Members
	require.Len(t, members, 3)
	ports := map[string]bool{}
	for i, m := range members {
		assert.Equal(t, uint32(i+1), m.ID)
		assert.False(t, m.Observer)
		for _, addr := range []string{m.PeerAddr, m.GossipAddr} {
			host, port, err := net.SplitHostPort(addr)
			require.NoError(t, err)
			assert.Equal(t, "127.0.0.1", host)
			assert.NotEqual(t, "0", port)
			assert.False(t, ports[port], "port %s used twice", port)
			ports[port] = true
		}
	}
	// The same members pass the --peers checks.
	again, err := parsePeers(formatPeers(members))
	require.NoError(t, err)
	assert.Equal(t, members, again)

	one, err := devConfigs(dir, 0, 1)
	require.NoError(t, err)
	require.Len(t, one, 1)
	assert.Empty(t, one[0].Members, "one peer is standalone")
}

func TestFreePorts(t *testing.T) {
	ports, err := freePorts("127.0.0.1", 6)
	require.NoError(t, err)
	require.Len(t, ports, 6)
	slices.Sort(ports)
	assert.Len(t, slices.Compact(slices.Clone(ports)), 6, "distinct")
	for _, p := range ports {
		// Free again once returned.
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		require.NoError(t, err)
		require.NoError(t, l.Close())
	}
}

func TestSettled(t *testing.T) {
	st := func(id uint32, role string, leader uint32) wire.PeerStatus {
		return wire.PeerStatus{ServerID: id, Role: role, Leader: leader, Epoch: 1}
	}
	discovering := st(1, "leading", 1)
	discovering.Epoch = 0
	tests := []struct {
		name string
		st   []wire.PeerStatus
		want bool
	}{
		{"standalone", []wire.PeerStatus{st(1, "standalone", 0)}, true},
		{"elected", []wire.PeerStatus{st(1, "following", 2), st(2, "leading", 2), st(3, "following", 2)}, true},
		{"observer", []wire.PeerStatus{st(1, "leading", 1), st(2, "following", 1), st(3, "following", 1), st(4, "observing", 1)}, true},
		{"looking", []wire.PeerStatus{st(1, "leading", 1), st(2, "following", 1), st(3, "looking", 0)}, false},
		{"follows another", []wire.PeerStatus{st(1, "leading", 1), st(2, "following", 3), st(3, "following", 1)}, false},
		{"no leader", []wire.PeerStatus{st(1, "following", 3), st(2, "following", 3)}, false},
		{"two leaders", []wire.PeerStatus{st(1, "leading", 1), st(2, "leading", 2), st(3, "following", 1)}, false},
		{"none", nil, true},
		{"leader without an epoch yet", []wire.PeerStatus{discovering, st(2, "following", 1), st(3, "following", 1)}, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, settled(tt.st), tt.name)
	}
}

func TestDevBanner(t *testing.T) {
	members := []ensemble.Member{
		{ID: 1, PeerAddr: "127.0.0.1:40001", GossipAddr: "127.0.0.1:40002"},
		{ID: 2, PeerAddr: "127.0.0.1:40003", GossipAddr: "127.0.0.1:40004"},
		{ID: 3, PeerAddr: "127.0.0.1:40005", GossipAddr: "127.0.0.1:40006"},
	}
	cfgs := make([]ensemble.Config, 3)
	for i := range cfgs {
		cfgs[i] = ensemble.Config{ServerID: uint32(i + 1), Members: members}
	}
	addrs := []string{"127.0.0.1:2281", "127.0.0.1:2282", "127.0.0.1:2283"}
	roles := []wire.PeerStatus{
		{ServerID: 1, Role: "following", Leader: 2, Epoch: 1},
		{ServerID: 2, Role: "leading", Leader: 2, Epoch: 1},
		{ServerID: 3, Role: "following", Leader: 2, Epoch: 1},
	}
	var b strings.Builder
	writeDevBanner(&b, "/tmp/zabkit-dev-1", false, cfgs, addrs, roles)
	want := `zabkit dev: 3 peers running, data in /tmp/zabkit-dev-1 (removed on exit)

  peer 1  clients on 127.0.0.1:2281  zab 127.0.0.1:40001  following 2
  peer 2  clients on 127.0.0.1:2282  zab 127.0.0.1:40003  leading (epoch 1)
  peer 3  clients on 127.0.0.1:2283  zab 127.0.0.1:40005  following 2

Connect string: 127.0.0.1:2281,127.0.0.1:2282,127.0.0.1:2283

  export ZABKIT_SERVERS=127.0.0.1:2281,127.0.0.1:2282,127.0.0.1:2283

Try, in another terminal:
  zabkit create /hello world
  zabkit get -s /hello
  zabkit shell
  zabkit status

Ctrl-C stops it.
`
	assert.Equal(t, want, b.String())

	// No leader within the wait: said so.
	roles[1].Role = "looking"
	b.Reset()
	writeDevBanner(&b, "/tmp/d", true, cfgs, []string{"127.0.0.1:3001", "127.0.0.1:3002", "127.0.0.1:3003"}, roles)
	assert.Contains(t, b.String(), "  peer 2  clients on 127.0.0.1:3002  zab 127.0.0.1:40003  looking\n")
	assert.Contains(t, b.String(), "(no leader elected yet; run 'zabkit status --servers 127.0.0.1:3001,127.0.0.1:3002,127.0.0.1:3003' to watch)")
	assert.Contains(t, b.String(), "(kept on exit)")
	assert.Contains(t, b.String(), "  zabkit --servers 127.0.0.1:3001,127.0.0.1:3002,127.0.0.1:3003 status\n")
}

func TestServerBanner(t *testing.T) {
	members, err := parsePeers("1=a:2888:3888,2=b:2888:3888,3=c:2888:3888,4=d:2888:observer")
	require.NoError(t, err)
	var b strings.Builder
	writeServerBanner(&b, ensemble.Config{ServerID: 4, DataDir: "/d", Members: members, ClusterID: "prod"}, "d:2281")
	assert.Equal(t, "zabkit server 4: serving clients on d:2281, data in /d\n"+
		`zabkit server 4: observer in cluster "prod" of 3 voters (1, 2, 3) and 1 observer (4), ZAB on d:2888`+"\n", b.String())
	b.Reset()
	writeServerBanner(&b, ensemble.Config{ServerID: 1, DataDir: "/d"}, "h:1")
	assert.Equal(t, "zabkit server 1: serving clients on h:1, data in /d\n", b.String(), "standalone: one line")
}

func TestDevPeersFlag(t *testing.T) {
	for _, n := range []string{"0", "2", "4", "7", "-1"} {
		r := cli(t, "", "", "dev", "--port", "0", "--peers", n)
		assert.Equal(t, exitUsage, r.code, n)
		assert.Contains(t, r.stderr, "--peers "+n+": want 1, 3 or 5")
	}
}

var (
	connectRe = regexp.MustCompile(`(?m)^Connect string: (\S+)$`)
	devRoleRe = regexp.MustCompile(`(?m)^  peer (\d)  clients on (\S+)  zab \S+  (\S+)(?: (\S+))?`)
)

// dev with its default 3 peers: one leads, two follow, a write through
// any peer is read on every peer, and status finds all three from one
// address. Needs the ensemble driver (ZAB): until it lands, peers given
// Members still run standalone and the test skips.
func TestDevEnsemble(t *testing.T) {
	out, errb, stop := background(t, "dev", "--port", "0")
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "Ctrl-C stops it.") }, 2*waitFor, 10e6,
		"stderr: %s", errb.String())
	banner := out.String()
	m := connectRe.FindStringSubmatch(banner)
	require.NotNil(t, m, banner)
	addrs := strings.Split(m[1], ",")
	require.Len(t, addrs, 3, banner)
	assert.Contains(t, banner, "zabkit dev: 3 peers running")

	rows := devRoleRe.FindAllStringSubmatch(banner, -1)
	require.Len(t, rows, 3, banner)
	if rows[0][3] == "standalone" {
		t.Skip("the ensemble driver has not landed: peers with Members run standalone")
	}
	leaders := 0
	for i, r := range rows {
		assert.Equal(t, strconv.Itoa(i+1), r[1])
		assert.Equal(t, addrs[i], r[2])
		switch r[3] {
		case "leading":
			leaders++
		case "following":
		default:
			t.Errorf("peer %s: role %q in\n%s", r[1], r[3], banner)
		}
	}
	assert.Equal(t, 1, leaders, banner)
	assert.NotContains(t, banner, "no leader elected yet")

	connect := m[1]
	assert.Equal(t, "/hello\n", ok(t, connect, "create", "/hello", "world"))
	for _, addr := range addrs {
		require.Eventually(t, func() bool {
			r := cli(t, addr, "", "get", "/hello")
			return r.code == exitOK && r.stdout == "world\n"
		}, waitFor, 10e6, "peer %s never had /hello", addr)
	}

	// status from the first address alone finds all three.
	var last result
	eventually(t, func() bool {
		last = cli(t, addrs[0], "", "status")
		return last.code == exitOK && strings.Contains(last.stdout, "Digests agree among peers at the same last zxid (peers 1, 2, 3 at ")
	}, waitFor, func() string { return fmt.Sprintf("%+v", last) })
	assert.Contains(t, last.stdout, "All 3 peers answered.")
	assert.Equal(t, 1, strings.Count(last.stdout, " leading "), last.stdout)
	assert.Equal(t, 2, strings.Count(last.stdout, " following "), last.stdout)

	r := cli(t, addrs[0], "", "--json", "status")
	require.Equal(t, exitOK, r.code, r.stderr)
	var js statusJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &js))
	require.Len(t, js.Peers, 3)
	assert.Empty(t, js.Unanswered)
	for i, p := range js.Peers {
		require.NotNil(t, p.ID)
		assert.Equal(t, uint32(i+1), *p.ID)
		assert.Equal(t, addrs[i], p.Address)
		assert.Len(t, p.Members, 3)
		assert.Positive(t, p.Epoch)
	}

	require.Equal(t, exitOK, stop(), errb.String())
	assert.Contains(t, out.String(), "data removed")
}
