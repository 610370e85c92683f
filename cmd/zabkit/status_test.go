package main

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

var digestRe = regexp.MustCompile(`^0x[0-9a-f]{16}$`)

// status against a real standalone server: the table and the summary.
func TestStatusStandalone(t *testing.T) {
	addr := startServer(t)
	ok(t, addr, "create", "/s", "v")

	out := ok(t, addr, "status")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 5, out)
	assert.Equal(t, []string{"ID", "ADDRESS", "ROLE", "LEADER", "EPOCH", "LAST", "ZXID", "SESSIONS", "ZNODES", "DIGEST"},
		strings.Fields(lines[0]))
	row := strings.Fields(lines[1])
	require.Len(t, row, 9, lines[1])
	assert.Equal(t, []string{"0", addr, "standalone", "-", "-"}, row[:5], "the test server's id is 0")
	assert.Regexp(t, `^0x[0-9a-f]+$`, row[5])
	assert.Equal(t, "0", row[6], "status opens no session")
	assert.Equal(t, "2", row[7], "/ and /s")
	assert.Regexp(t, digestRe, row[8])
	assert.Equal(t, "", lines[2])
	assert.Equal(t, "Digests: one peer answered (peer 0 at "+row[5]+"), nothing to compare.", lines[3])
	assert.Equal(t, "The peer answered.", lines[4])
}

func TestStatusJSON(t *testing.T) {
	addr := startServer(t)
	ok(t, addr, "create", "/j")

	out := ok(t, addr, "--json", "status")
	assert.Equal(t, 1, strings.Count(out, "\n"), "one object")
	var got statusJSON
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Len(t, got.Peers, 1)
	p := got.Peers[0]
	require.NotNil(t, p.ID)
	assert.Equal(t, uint32(0), *p.ID)
	assert.Equal(t, addr, p.Address)
	assert.Equal(t, "standalone", p.Role)
	assert.Empty(t, p.Error)
	assert.Positive(t, p.LastZxid)
	assert.Equal(t, 2, p.Znodes)
	assert.Regexp(t, digestRe, p.Digest)
	assert.True(t, got.Agree)
	assert.Empty(t, got.Differ)
	assert.Empty(t, got.Unanswered)
	// The lists are [] rather than null, for jq.
	assert.Contains(t, out, `"differ":[]`)
	assert.Contains(t, out, `"unanswered":[]`)
}

// A server that does not answer: its row says so, the others are shown,
// the exit code is 1.
func TestStatusUnreachable(t *testing.T) {
	addr := startServer(t)
	dead := freeAddr(t)
	servers := addr + "," + dead

	r := cli(t, servers, "", "--connect-timeout", "2s", "status")
	assert.Equal(t, exitError, r.code, r.stderr)
	assert.Empty(t, r.stderr)
	assert.Regexp(t, `(?m)^0\s+`+regexp.QuoteMeta(addr)+`\s+standalone\s`, r.stdout)
	assert.Regexp(t, `(?m)^\?\s+`+regexp.QuoteMeta(dead)+`\s+no answer(\s+-){6}$`, r.stdout)
	assert.Contains(t, r.stdout, "\nNo answer from "+dead+": ")

	r = cli(t, servers, "", "--json", "status")
	assert.Equal(t, exitError, r.code, r.stderr)
	var got statusJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	require.Len(t, got.Peers, 2)
	assert.Equal(t, "standalone", got.Peers[0].Role)
	assert.Equal(t, dead, got.Peers[1].Address)
	assert.Nil(t, got.Peers[1].ID)
	assert.NotEmpty(t, got.Peers[1].Error)
	assert.Nil(t, got.Peers[1].PeerStatusJSON)
	assert.NotContains(t, r.stdout, `"error":"dial tcp `+dead+`: connect: connection refused","leader"`, "no status fields")
	require.Len(t, got.Unanswered, 1)
	assert.Equal(t, dead, got.Unanswered[0].Address)
	assert.True(t, got.Agree)
}

func TestStatusUsage(t *testing.T) {
	r := cli(t, ",", "", "status")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "no servers")
	r = cli(t, "", "", "status", "extra")
	assert.Equal(t, exitUsage, r.code)
}

// fakePeers answers status requests from a table, and records who was
// asked.
type fakePeers struct {
	mu    sync.Mutex
	byAdr map[string]*wire.PeerStatus
	asked []string
}

func (f *fakePeers) ask(_ context.Context, addr string) (*wire.PeerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, addr)
	if st, ok := f.byAdr[addr]; ok {
		cp := *st
		return &cp, nil
	}
	return nil, errors.New("connection refused")
}

func (f *fakePeers) askedSorted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.asked)
	slices.Sort(out)
	return out
}

// members of a 3-voter, 1-observer ensemble on hosts a..d as every peer
// reports them: 1 and 2 told their client address by gossip, 3 did not,
// 4 (the observer) listens on all interfaces.
func fakeMembers() []wire.MemberStatus {
	return []wire.MemberStatus{
		{ID: 1, PeerAddr: "a:2888", ClientAddr: "a:2281", Connected: true},
		{ID: 2, PeerAddr: "b:2888", ClientAddr: "b:2281", Connected: true},
		{ID: 3, PeerAddr: "c:2888"},
		{ID: 4, PeerAddr: "d:2888", ClientAddr: "0.0.0.0:2281", Observer: true, Connected: true},
	}
}

func fakeStatus(id uint32, role string, zxid tree.Zxid, digest uint64) *wire.PeerStatus {
	return &wire.PeerStatus{ServerID: id, Role: role, Leader: 1, Epoch: 3, LastZxid: zxid, Digest: digest,
		Sessions: int(id), Nodes: 10, Members: fakeMembers()}
}

// Asked one peer, status follows the members' client addresses to the
// others, reports the one whose address nobody knows, and sorts by id.
func TestGatherStatusFollowsMembers(t *testing.T) {
	f := &fakePeers{byAdr: map[string]*wire.PeerStatus{
		"b:2281": fakeStatus(2, "following", 0x300000005, 0xabc),
		"a:2281": fakeStatus(1, "leading", 0x300000005, 0xabc),
		"d:2281": fakeStatus(4, "observing", 0x300000004, 0x123),
	}}
	rep := gatherStatus(context.Background(), []string{"b:2281"}, f.ask)
	assert.Equal(t, []string{"a:2281", "b:2281", "d:2281"}, f.askedSorted(), "each asked once; 3 has no address")

	ids := make([]uint32, len(rep.rows))
	for i, r := range rep.rows {
		ids[i] = r.id
	}
	assert.Equal(t, []uint32{1, 2, 3, 4}, ids)
	assert.Nil(t, rep.rows[2].st)
	assert.ErrorContains(t, rep.rows[2].err, "client address unknown (peer address c:2888)")
	assert.False(t, rep.ok(), "3 did not answer")

	var b strings.Builder
	require.NoError(t, rep.writeText(&b))
	want := "" +
		"ID  ADDRESS  ROLE       LEADER  EPOCH  LAST ZXID    SESSIONS  ZNODES  DIGEST\n" +
		"1   a:2281   leading    1       3      0x300000005  1         10      0x0000000000000abc\n" +
		"2   b:2281   following  1       3      0x300000005  2         10      0x0000000000000abc\n" +
		"3   ?        no answer  -       -      -            -         -       -\n" +
		"4   d:2281   observing  1       3      0x300000004  4         10      0x0000000000000123\n" +
		"\n" +
		"Digests agree among peers at the same last zxid (peer 4 at 0x300000004; peers 1, 2 at 0x300000005).\n" +
		"No answer from server 3: client address unknown (peer address c:2888).\n"
	assert.Equal(t, want, b.String())

	js := rep.json()
	assert.True(t, js.Agree)
	require.Len(t, js.Unanswered, 1)
	three := uint32(3)
	assert.Equal(t, unansweredJSON{ID: &three, Error: "client address unknown (peer address c:2888)"}, js.Unanswered[0])
	require.Len(t, js.Peers, 4)
	assert.Len(t, js.Peers[0].Members, 4)
	assert.Equal(t, "0.0.0.0:2281", js.Peers[3].Members[3].ClientAddr)
}

// A seed that does not answer but is a member's address gets that
// member's id; an address that answers as another server is not trusted.
func TestGatherStatusDeadSeed(t *testing.T) {
	st1 := fakeStatus(1, "leading", 5, 1)
	st1.Members = []wire.MemberStatus{
		{ID: 1, PeerAddr: "a:2888", ClientAddr: "a:2281"},
		{ID: 2, PeerAddr: "b:2888", ClientAddr: "b:2281"},
		{ID: 3, PeerAddr: "c:2888", ClientAddr: "c:2281"},
	}
	f := &fakePeers{byAdr: map[string]*wire.PeerStatus{
		"a:2281": st1,
		"c:2281": fakeStatus(9, "following", 5, 1), // a stranger where 3 should be
	}}
	rep := gatherStatus(context.Background(), []string{"b:2281", "a:2281"}, f.ask)
	assert.Equal(t, []string{"a:2281", "b:2281", "c:2281"}, f.askedSorted())
	require.Len(t, rep.rows, 3)
	assert.Equal(t, uint32(2), rep.rows[1].id)
	assert.Equal(t, "b:2281", rep.rows[1].addr)
	assert.ErrorContains(t, rep.rows[1].err, "connection refused")
	assert.Equal(t, uint32(3), rep.rows[2].id)
	assert.ErrorContains(t, rep.rows[2].err, "answered as server 9, not 3")
	assert.False(t, rep.ok())
}

func TestStatusDigests(t *testing.T) {
	row := func(id uint32, addr string, zxid tree.Zxid, digest uint64) peerRow {
		return peerRow{id: id, addr: addr, st: &wire.PeerStatus{ServerID: id, Role: "following", LastZxid: zxid, Digest: digest}}
	}
	tests := []struct {
		name   string
		rows   []peerRow
		ok     bool
		line   string
		differ []differJSON
	}{
		{"agree", []peerRow{row(1, "a", 7, 9), row(2, "b", 7, 9), row(3, "c", 7, 9)}, true,
			"Digests agree among peers at the same last zxid (peers 1, 2, 3 at 0x7).", nil},
		{"not comparable", []peerRow{row(1, "a", 7, 9), row(2, "b", 6, 8)}, true,
			"Digests: no two peers at the same last zxid (peer 2 at 0x6; peer 1 at 0x7); run again to compare.", nil},
		{"differ", []peerRow{row(1, "a", 7, 9), row(2, "b", 7, 9), row(3, "c", 7, 10), row(4, "d", 6, 1)}, false,
			"Digests DIFFER at last zxid 0x7: 0x0000000000000009 on peers 1, 2; 0x000000000000000a on peer 3.",
			[]differJSON{{LastZxid: 7, Digests: map[string][]string{"0x0000000000000009": {"1", "2"}, "0x000000000000000a": {"3"}}}}},
		// Standalone servers all called 1: named by address.
		{"same ids", []peerRow{row(1, "a", 7, 9), row(1, "b", 7, 10)}, false,
			"Digests DIFFER at last zxid 0x7: 0x0000000000000009 on peer a; 0x000000000000000a on peer b.",
			[]differJSON{{LastZxid: 7, Digests: map[string][]string{"0x0000000000000009": {"a"}, "0x000000000000000a": {"b"}}}}},
		{"nobody", []peerRow{{addr: "a", err: errors.New("refused")}}, false, "Digests: no peer answered.", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := &statusReport{rows: tt.rows}
			assert.Equal(t, tt.ok, rep.ok())
			var b strings.Builder
			require.NoError(t, rep.writeText(&b))
			assert.Contains(t, b.String(), "\n\n"+tt.line+"\n")
			js := rep.json()
			assert.Equal(t, len(tt.differ) == 0, js.Agree)
			if tt.differ == nil {
				tt.differ = []differJSON{}
			}
			assert.Equal(t, tt.differ, js.Differ)
		})
	}
}

func TestMemberClientAddr(t *testing.T) {
	tests := []struct {
		client, peer, want string
	}{
		{"", "a:2888", ""},
		{"a:2281", "a:2888", "a:2281"},
		{"10.0.0.2:2281", "b.example:2888", "10.0.0.2:2281"},
		{"0.0.0.0:2281", "10.0.0.3:2888", "10.0.0.3:2281"},
		{"[::]:2281", "[fd00::3]:2888", "[fd00::3]:2281"},
		{":2281", "h:2888", "h:2281"},
		// Loopback is only reachable on the member's own host.
		{"127.0.0.1:2281", "10.0.0.4:2888", "10.0.0.4:2281"},
		{"127.0.0.1:2282", "127.0.0.1:2888", "127.0.0.1:2282"},
		{"localhost:2282", "127.0.0.1:2888", "localhost:2282"},
		{"weird", "a:2888", "weird"},
	}
	for _, tt := range tests {
		got := memberClientAddr(wire.MemberStatus{ID: 1, ClientAddr: tt.client, PeerAddr: tt.peer})
		assert.Equal(t, tt.want, got, "%s via %s", tt.client, tt.peer)
	}
}

// One dead seed and one member without a client address are taken to be
// the same peer; two of either are left apart.
func TestGatherStatusPairsUnknown(t *testing.T) {
	st1 := fakeStatus(1, "leading", 5, 1)
	st1.Members = []wire.MemberStatus{
		{ID: 1, PeerAddr: "a:2888", ClientAddr: "a:2281"},
		{ID: 2, PeerAddr: "b:2888", ClientAddr: "b:2281"},
		{ID: 3, PeerAddr: "c:2888"}, // dead: gossip forgot its address
	}
	st2 := fakeStatus(2, "following", 5, 1)
	st2.Members = st1.Members
	f := &fakePeers{byAdr: map[string]*wire.PeerStatus{"a:2281": st1, "b:2281": st2}}
	rep := gatherStatus(context.Background(), []string{"a:2281", "b:2281", "c:2281"}, f.ask)
	require.Len(t, rep.rows, 3)
	assert.Equal(t, uint32(3), rep.rows[2].id)
	assert.Equal(t, "c:2281", rep.rows[2].addr)
	assert.ErrorContains(t, rep.rows[2].err, "connection refused")

	rep = gatherStatus(context.Background(), []string{"a:2281", "c:2281", "x:2281"}, f.ask)
	require.Len(t, rep.rows, 5, "a, b (found from a), 2 dead seeds, member 3: not paired")
}
