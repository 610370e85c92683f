package broadcast

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestPeer(t *testing.T, id uint64, voters []uint64, st *MemoryStorage, maxCounter uint32) *Peer {
	t.Helper()
	p, err := NewPeer(Config{ID: id, Voters: voters, Rand: rand.New(rand.NewPCG(id, 1)), Storage: st, MaxCounter: maxCounter})
	require.NoError(t, err)
	return p
}

// drive persists and advances every Ready of a lone peer.
func drive(t *testing.T, p *Peer, st *MemoryStorage) []Entry {
	t.Helper()
	var delivered []Entry
	for p.HasReady() {
		rd := p.Ready()
		if rd.Truncate != nil {
			st.TruncateAfter(*rd.Truncate)
		}
		require.NoError(t, st.Append(rd.Entries...))
		if rd.AcceptedEpoch != 0 {
			st.HardState.AcceptedEpoch = rd.AcceptedEpoch
		}
		if rd.CurrentEpoch != 0 {
			st.HardState.CurrentEpoch = rd.CurrentEpoch
		}
		delivered = append(delivered, rd.Committed...)
		p.Advance(rd)
	}
	return delivered
}

func TestNewPeerBadConfig(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	st := &MemoryStorage{}
	for name, cfg := range map[string]Config{
		"no rand":        {ID: 1, Voters: []uint64{1}, Storage: st},
		"no storage":     {ID: 1, Voters: []uint64{1}, Rand: r},
		"not a voter":    {ID: 4, Voters: []uint64{1, 2, 3}, Rand: r, Storage: st},
		"duplicate":      {ID: 1, Voters: []uint64{1, 1, 2}, Rand: r, Storage: st},
		"commit too far": {ID: 1, Voters: []uint64{1}, Rand: r, Storage: &MemoryStorage{HardState: HardState{Committed: 5}}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewPeer(cfg)
			assert.ErrorIs(t, err, ErrBadConfig)
		})
	}
}

// TestCounterExhaustion: a leader whose counter runs out steps down and
// the next election starts a new epoch (ZOOKEEPER-1277).
func TestCounterExhaustion(t *testing.T) {
	st := &MemoryStorage{}
	p := newTestPeer(t, 1, []uint64{1}, st, 2)
	assert.ErrorIs(t, p.Propose([]byte("early")), ErrNotLeader)
	drive(t, p, st)
	require.True(t, p.Status().Established)
	require.Equal(t, uint64(1), p.Status().Epoch)
	require.NoError(t, p.Propose([]byte("a")))
	require.NoError(t, p.Propose([]byte("b")))
	got := drive(t, p, st)
	require.ErrorIs(t, p.Propose([]byte("c")), ErrCounterExhausted)
	assert.False(t, p.Status().Established, "the exhausted leader stepped down")
	got = append(got, drive(t, p, st)...)
	for i := 0; i < 5 && !p.Status().Established; i++ {
		p.Tick()
		got = append(got, drive(t, p, st)...)
	}
	require.True(t, p.Status().Established)
	require.Equal(t, uint64(2), p.Status().Epoch)
	require.NoError(t, p.Propose([]byte("c")))
	got = append(got, drive(t, p, st)...)
	require.Len(t, got, 3)
	assert.Equal(t, []Zxid{MakeZxid(1, 1), MakeZxid(1, 2), MakeZxid(2, 1)}, []Zxid{got[0].Zxid, got[1].Zxid, got[2].Zxid})
	assert.Equal(t, "0x200000001", got[2].Zxid.String())
}

// TestDivergence: the leader finds the exact last zxid both logs share
// from the follower's per-epoch summary, even where "the largest zxid we
// hold below the follower's last" would leave a hole (ZOOKEEPER-2832).
func TestDivergence(t *testing.T) {
	leaderLog := []Entry{{Zxid: MakeZxid(1, 1)}, {Zxid: MakeZxid(1, 2)}, {Zxid: MakeZxid(2, 1)}, {Zxid: MakeZxid(2, 2)}, {Zxid: MakeZxid(4, 1)}}
	p := newTestPeer(t, 1, []uint64{1, 2, 3}, &MemoryStorage{Log: leaderLog}, 0)
	for name, tc := range map[string]struct {
		summary []Zxid
		want    Zxid
	}{
		"empty follower":        {nil, 0},
		"prefix":                {[]Zxid{MakeZxid(1, 2)}, MakeZxid(1, 2)},
		"longer epoch":          {[]Zxid{MakeZxid(1, 5)}, MakeZxid(1, 2)},
		"epoch we never saw":    {[]Zxid{MakeZxid(1, 1), MakeZxid(3, 1)}, MakeZxid(1, 1)},
		"same history":          {[]Zxid{MakeZxid(1, 2), MakeZxid(2, 2), MakeZxid(4, 1)}, MakeZxid(4, 1)},
		"behind in later epoch": {[]Zxid{MakeZxid(1, 2), MakeZxid(2, 1)}, MakeZxid(2, 1)},
		"uncommitted tail":      {[]Zxid{MakeZxid(1, 2), MakeZxid(2, 2), MakeZxid(3, 4)}, MakeZxid(2, 2)},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, p.divergence(tc.summary))
		})
	}
}

// follower returns peer 2 of {1,2,3} following 3 in epoch 1, synced on
// an empty history, plus its storage.
func syncedFollower(t *testing.T) (*Peer, *MemoryStorage) {
	t.Helper()
	st := &MemoryStorage{}
	p := newTestPeer(t, 2, []uint64{1, 2, 3}, st, 0)
	drive(t, p, st)
	v := Vote{Leader: 3}
	for _, from := range []uint64{1, 3} {
		require.NoError(t, p.Step(Message{Type: MsgVote, From: from, To: 2, Round: 1, State: StateLooking, Vote: v}))
	}
	drive(t, p, st)
	for i := 0; i < 3 && p.Status().State != StateFollowing; i++ {
		p.Tick()
		drive(t, p, st)
	}
	require.Equal(t, StateFollowing, p.Status().State)
	sess := p.session
	require.NoError(t, p.Step(Message{Type: MsgNewEpoch, From: 3, To: 2, Session: sess, Epoch: 1}))
	rd := p.Ready()
	require.Equal(t, uint64(1), rd.AcceptedEpoch, "ACKEPOCH must ride with the acceptedEpoch it promises")
	require.Len(t, rd.Messages, 1)
	require.Equal(t, MsgAckEpoch, rd.Messages[0].Type)
	st.HardState.AcceptedEpoch = 1
	p.Advance(rd)
	require.NoError(t, p.Step(Message{Type: MsgNewLeader, From: 3, To: 2, Session: sess, Epoch: 1}))
	rd = p.Ready()
	require.Equal(t, uint64(1), rd.CurrentEpoch, "ACK(NEWLEADER) must ride with currentEpoch")
	st.HardState.CurrentEpoch = 1
	p.Advance(rd)
	return p, st
}

// TestProposalGapRejected: a proposal that does not continue the log is
// dropped, never logged or acked (ZOOKEEPER-2099, 4925); the follower asks
// for a resend from its last zxid, once per tick.
func TestProposalGapRejected(t *testing.T) {
	p, st := syncedFollower(t)
	sess := p.session
	prop := func(prev Zxid, z Zxid) Message {
		return Message{Type: MsgProposal, From: 3, To: 2, Session: sess, Epoch: 1, Zxid: prev, Entries: []Entry{{Zxid: z, Data: []byte("x")}}}
	}
	onlyNack := func(msg string) {
		t.Helper()
		rd := p.Ready()
		assert.Empty(t, rd.Entries, msg)
		for _, m := range rd.Messages {
			assert.Equal(t, MsgPingResp, m.Type, msg)
			assert.Equal(t, Zxid(0), m.Zxid, "resend from our last zxid")
		}
		p.Advance(rd)
	}
	require.NoError(t, p.Step(prop(MakeZxid(1, 1), MakeZxid(1, 2))))
	onlyNack("a gap must not be logged or acked")
	require.NoError(t, p.Step(prop(0, MakeZxid(1, 2))))
	assert.False(t, p.HasReady(), "a counter that skips must not be logged, and one resend request per tick is enough")
	require.NoError(t, p.Step(prop(0, MakeZxid(1, 1))))
	rd := p.Ready()
	require.Len(t, rd.Entries, 1)
	require.Len(t, rd.Messages, 1)
	assert.Equal(t, MsgAck, rd.Messages[0].Type)
	assert.Equal(t, MakeZxid(1, 1), rd.Messages[0].Zxid)
	require.NoError(t, st.Append(rd.Entries...))
	p.Advance(rd)
	// Stale messages from another session are ignored.
	require.NoError(t, p.Step(Message{Type: MsgCommit, From: 3, To: 2, Session: sess + 2, Epoch: 1, Commit: MakeZxid(1, 1)}))
	assert.False(t, p.HasReady())
	require.NoError(t, p.Step(Message{Type: MsgCommit, From: 3, To: 2, Session: sess, Epoch: 1, Commit: MakeZxid(1, 1)}))
	rd = p.Ready()
	require.Len(t, rd.Committed, 1)
	p.Advance(rd)

	// A resend that overlaps what the follower holds: only the new tail
	// is logged.
	over := Message{Type: MsgProposal, From: 3, To: 2, Session: sess, Epoch: 1, Zxid: 0,
		Entries: []Entry{{Zxid: MakeZxid(1, 1), Data: []byte("x")}, {Zxid: MakeZxid(1, 2), Data: []byte("y")}, {Zxid: MakeZxid(1, 3), Data: []byte("z")}}}
	require.NoError(t, p.Step(over))
	rd = p.Ready()
	require.Len(t, rd.Entries, 2)
	assert.Equal(t, MakeZxid(1, 2), rd.Entries[0].Zxid)
	assert.Equal(t, MakeZxid(1, 3), rd.Entries[1].Zxid)
}

// TestTruncBelowCommittedRefused: a sync that would cut a txn this peer
// knows committed is refused loudly (ZOOKEEPER-1154).
func TestTruncBelowCommittedRefused(t *testing.T) {
	p, st := syncedFollower(t)
	sess := p.session
	require.NoError(t, p.Step(Message{Type: MsgProposal, From: 3, To: 2, Session: sess, Epoch: 1, Zxid: 0,
		Entries: []Entry{{Zxid: MakeZxid(1, 1)}, {Zxid: MakeZxid(1, 2)}}}))
	drive(t, p, st)
	require.NoError(t, p.Step(Message{Type: MsgCommit, From: 3, To: 2, Session: sess, Epoch: 1, Commit: MakeZxid(1, 2)}))
	require.Len(t, drive(t, p, st), 2)
	// Re-elect with 1 as leader, which claims a shorter history.
	p.becomeLooking()
	p.becomeFollower(1)
	drive(t, p, st)
	require.NoError(t, p.Step(Message{Type: MsgNewEpoch, From: 1, To: 2, Session: p.session, Epoch: 2}))
	drive(t, p, st)
	err := p.Step(Message{Type: MsgNewLeader, From: 1, To: 2, Session: p.session, Epoch: 2, Zxid: MakeZxid(1, 1), Truncate: true})
	require.True(t, errors.Is(err, ErrInvariant), "got %v", err)
	assert.Equal(t, StateLooking, p.Status().State)
	assert.Len(t, st.Log, 2)
}

// TestDivergenceBelowSnapshot: below its snapshot the leader no longer
// knows where each epoch ended, so a follower diverging there gets SNAP
// (a result below the snapshot), never a guessed TRUNC.
func TestDivergenceBelowSnapshot(t *testing.T) {
	st := &MemoryStorage{
		Snap: Snapshot{Zxid: MakeZxid(2, 2), Data: []byte("state")},
		Log:  []Entry{{Zxid: MakeZxid(2, 3)}, {Zxid: MakeZxid(4, 1)}},
	}
	p := newTestPeer(t, 1, []uint64{1, 2, 3}, st, 0)
	assert.Equal(t, MakeZxid(4, 1), p.lastZxid())
	for name, tc := range map[string]struct {
		summary []Zxid
		want    Zxid
		snap    bool
	}{
		"empty follower":          {nil, 0, true},
		"old epoch only":          {[]Zxid{MakeZxid(1, 7)}, 0, true},
		"inside snapshot's epoch": {[]Zxid{MakeZxid(1, 3), MakeZxid(2, 1)}, MakeZxid(2, 1), true},
		"at the snapshot":         {[]Zxid{MakeZxid(1, 3), MakeZxid(2, 2)}, MakeZxid(2, 2), false},
		"in the log":              {[]Zxid{MakeZxid(2, 3), MakeZxid(3, 9)}, MakeZxid(2, 3), false},
	} {
		t.Run(name, func(t *testing.T) {
			d := p.divergence(tc.summary)
			assert.Equal(t, tc.want, d)
			assert.Equal(t, tc.snap, d < p.snapZxid)
		})
	}
}

func TestCompact(t *testing.T) {
	st := &MemoryStorage{}
	p := newTestPeer(t, 1, []uint64{1}, st, 0)
	drive(t, p, st)
	for _, d := range []string{"a", "b", "c"} {
		require.NoError(t, p.Propose([]byte(d)))
	}
	require.Len(t, drive(t, p, st), 3)
	require.ErrorIs(t, p.Compact(MakeZxid(1, 9)), ErrBadConfig, "beyond what was delivered")
	require.NoError(t, p.Compact(MakeZxid(1, 2)))
	st.Compact(Snapshot{Zxid: MakeZxid(1, 2)})
	assert.Len(t, p.log, 1)
	require.NoError(t, p.Propose([]byte("d")))
	got := drive(t, p, st)
	require.Len(t, got, 1)
	assert.Equal(t, MakeZxid(1, 4), got[0].Zxid)
	// A restart from the compacted storage continues where it was.
	q := newTestPeer(t, 1, []uint64{1}, st, 0)
	assert.Equal(t, MakeZxid(1, 4), q.Status().LastZxid)
}

// TestSuspectLeader: a follower told its leader is gone returns to
// election at once; a hint about anyone else changes nothing.
func TestSuspectLeader(t *testing.T) {
	voters := []uint64{1, 2, 3}
	peers := map[uint64]*Peer{}
	stores := map[uint64]*MemoryStorage{}
	for _, id := range voters {
		stores[id] = &MemoryStorage{}
		peers[id] = newTestPeer(t, id, voters, stores[id], 0)
	}
	// settle delivers every message until nothing is pending.
	settle := func() {
		for moved := true; moved; {
			moved = false
			for _, id := range voters {
				p := peers[id]
				for p.HasReady() {
					rd := p.Ready()
					st := stores[id]
					if rd.Truncate != nil {
						st.TruncateAfter(*rd.Truncate)
					}
					require.NoError(t, st.Append(rd.Entries...))
					p.Advance(rd)
					for _, m := range rd.Messages {
						moved = true
						require.NoError(t, peers[m.To].Step(m))
					}
				}
			}
		}
	}
	var leader uint64
	for i := 0; i < 100 && leader == 0; i++ {
		for _, id := range voters {
			peers[id].Tick()
		}
		settle()
		for _, id := range voters {
			if peers[id].Status().Established {
				leader = id
			}
		}
	}
	require.NotZero(t, leader, "no leader after 100 ticks")
	var follower, other uint64
	for _, id := range voters {
		if id != leader && follower == 0 {
			follower = id
		} else if id != leader {
			other = id
		}
	}
	require.Equal(t, StateFollowing, peers[follower].Status().State)
	require.True(t, peers[follower].Status().Serving)
	require.True(t, peers[leader].Status().Serving)
	peers[follower].Suspect(other)
	assert.Equal(t, StateFollowing, peers[follower].Status().State, "a hint about a non-leader is ignored")
	peers[leader].Suspect(follower)
	assert.Equal(t, StateLeading, peers[leader].Status().State, "a leader ignores hints")
	peers[follower].Suspect(leader)
	assert.Equal(t, StateLooking, peers[follower].Status().State)
	assert.False(t, peers[follower].Status().Serving)
}
