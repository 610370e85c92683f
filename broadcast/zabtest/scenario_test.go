package zabtest

import (
	"testing"

	"github.com/zabkit/zabkit/broadcast"
)

// Scripted scenarios for ZooKeeper's known ZAB bugs. They drive the same
// simulator by hand: reliable FIFO delivery, no random faults, with the
// invariants checked on every delivery as in the random runs.

func scripted(t *testing.T, peers int) *sim {
	t.Helper()
	s := newSim(Options{Peers: peers, Seed: 7})
	s.dropPct, s.dupPct = 0, 0
	s.healing = true // no torn crashes unless the script makes one
	return s
}

func (s *sim) round() {
	s.step++
	msgs := s.net
	s.net = nil
	for _, m := range msgs {
		s.deliverMsg(m)
	}
	for _, n := range s.nodes {
		s.tick(n)
	}
	s.checkLeaders()
}

func (s *sim) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if s.err != nil {
			t.Fatal(s.err)
		}
		if cond() {
			return
		}
		s.round()
	}
	t.Fatalf("no %s after 500 rounds", what)
}

func (s *sim) established() *node {
	for _, n := range s.nodes {
		if n.peer != nil && n.peer.Status().Established {
			return n
		}
	}
	return nil
}

func (s *sim) leaderAmong(ids ...uint64) *node {
	for _, id := range ids {
		if n := s.nodes[id-1]; n.peer != nil && n.peer.Status().Established {
			return n
		}
	}
	return nil
}

func (s *sim) proposeData(t *testing.T, n *node, data string) {
	t.Helper()
	s.proposed[data] = true
	if err := n.peer.Propose([]byte(data)); err != nil {
		t.Fatalf("propose %s on %d: %v", data, n.id, err)
	}
	s.process(n)
}

func (s *sim) isolate(id uint64) {
	for _, o := range s.members {
		s.blocked[id][o], s.blocked[o][id] = true, true
	}
}

func (s *sim) heal() {
	for _, b := range s.blocked {
		clear(b)
	}
}

func (s *sim) deliveredAll(data string) bool {
	for _, n := range s.nodes {
		if n.peer == nil || len(n.delivered) == 0 || string(n.delivered[len(n.delivered)-1].Data) != data {
			return false
		}
	}
	return true
}

func holds(n *node, data string) bool {
	for _, e := range n.store.Log {
		if string(e.Data) == data {
			return true
		}
	}
	return false
}

// TestOldEpochUncommittedTruncated: a leader logs txns that no follower
// receives, loses its quorum (by a partition, or by crashing), and
// returns after a new leader committed other txns in a later epoch. Its
// old-epoch txns were never committed: the new leader must TRUNC them
// exactly, and they must never be delivered anywhere (ZOOKEEPER-1154,
// 1156, 2832); the peer that stayed up must drop them from memory too
// (ZOOKEEPER-2845).
func TestOldEpochUncommittedTruncated(t *testing.T) {
	for _, crash := range []bool{false, true} {
		name := "partitioned"
		if crash {
			name = "crashed"
		}
		t.Run(name, func(t *testing.T) {
			s := scripted(t, 3)
			s.until(t, "leader", func() bool { return s.established() != nil })
			old := s.established()
			s.proposeData(t, old, "a")
			s.until(t, "commit of a", func() bool { return s.deliveredAll("a") })

			s.isolate(old.id)
			s.proposeData(t, old, "x1")
			s.proposeData(t, old, "x2")
			if !holds(old, "x2") {
				t.Fatal("the old leader did not log its own proposals")
			}
			if crash {
				s.crash(old)
			}
			var others []uint64
			for _, id := range s.voters {
				if id != old.id {
					others = append(others, id)
				}
			}
			s.until(t, "new leader", func() bool { return s.leaderAmong(others...) != nil })
			s.proposeData(t, s.leaderAmong(others...), "b")
			s.until(t, "old leader stepping down", func() bool {
				return old.peer == nil || old.peer.Status().State != broadcast.StateLeading
			})

			s.heal()
			if crash {
				s.start(old)
			}
			s.until(t, "old leader rejoined", func() bool {
				st := old.peer.Status()
				return st.State == broadcast.StateFollowing && st.Committed >= s.hist[len(s.hist)-1].Zxid
			})
			nl := s.established()
			s.proposeData(t, nl, "c")
			s.until(t, "commit of c everywhere", func() bool { return s.deliveredAll("c") })
			for _, n := range s.nodes {
				if holds(n, "x1") || holds(n, "x2") {
					t.Errorf("peer %d still holds an uncommitted old-epoch txn", n.id)
				}
				var got []string
				for _, e := range n.delivered {
					got = append(got, string(e.Data))
				}
				if len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
					t.Errorf("peer %d delivered %q, want [a b c]", n.id, got)
				}
			}
		})
	}
}

// TestNewLeaderAckedOnlyWhenDurable: a lagging follower is synced by DIFF
// while the rest of the ensemble crashes, and it crashes in the middle of
// persisting the sync. Its ACK(NEWLEADER) must not have left, and after
// everyone restarts no committed txn is lost (ZOOKEEPER-3911, 4643, 4646,
// 4685). Every message in every run is also checked against the
// sender's durable state (checkDurableBeforeSend).
func TestNewLeaderAckedOnlyWhenDurable(t *testing.T) {
	s := scripted(t, 3)
	s.until(t, "leader", func() bool { return s.established() != nil })
	l := s.established()
	var lag *node
	for _, n := range s.nodes {
		if n != l {
			lag = n
		}
	}
	s.crash(lag)
	for _, d := range []string{"a", "b", "c", "d"} {
		s.proposeData(t, l, d)
	}
	s.until(t, "commit without the lagging peer", func() bool { return len(s.hist) == 4 })
	s.start(lag)
	// Crash the lagging peer when it persists the sync, before its ACK.
	torn := false
	s.until(t, "sync reaching the lagging peer", func() bool {
		for i, m := range s.net {
			if m.Type == broadcast.MsgNewLeader && m.To == lag.id && len(m.Entries) > 0 {
				s.net = append(s.net[:i], s.net[i+1:]...)
				if err := lag.peer.Step(m); err != nil {
					t.Fatal(err)
				}
				rd := lag.peer.Ready()
				var ack bool
				for _, o := range rd.Messages {
					ack = ack || o.Type == broadcast.MsgAckNewLeader
				}
				if !ack || len(rd.Entries) == 0 || (rd.CurrentEpoch != m.Epoch && lag.store.HardState.CurrentEpoch != m.Epoch) {
					t.Fatalf("the ACK(NEWLEADER) is not in the Ready that persists the sync: %+v", rd)
				}
				// Half the synced txns reach the disk, no currentEpoch, no ACK.
				if rd.Truncate != nil {
					lag.store.TruncateAfter(*rd.Truncate)
				}
				if err := lag.store.Append(rd.Entries[:len(rd.Entries)/2]...); err != nil {
					t.Fatal(err)
				}
				s.crash(lag)
				torn = true
				return true
			}
		}
		return false
	})
	if !torn {
		t.Fatal("no sync seen")
	}
	s.start(lag)
	s.proposeData(t, s.established(), "e")
	s.until(t, "commit of e everywhere", func() bool { return s.deliveredAll("e") })
	for _, n := range s.nodes {
		if len(n.delivered) != 5 {
			t.Errorf("peer %d delivered %d txns, want 5", n.id, len(n.delivered))
		}
	}
}

// TestRestartFromDurablePrefix: every peer crashes, one losing an
// unsynced tail; after they restart from what was durable, the ensemble
// elects a leader with every committed txn, and delivery resumes exactly
// where the durable commit point left each peer.
func TestRestartFromDurablePrefix(t *testing.T) {
	s := scripted(t, 5)
	s.until(t, "leader", func() bool { return s.established() != nil })
	for i := range 20 {
		s.proposeData(t, s.established(), string(rune('a'+i)))
		s.round()
	}
	s.until(t, "commits", func() bool { return s.deliveredAll("t") })
	s.proposeData(t, s.established(), "u") // in flight when everyone dies
	for _, n := range s.nodes {
		s.crash(n)
	}
	for _, n := range s.nodes {
		s.start(n)
	}
	s.until(t, "new leader", func() bool { return s.established() != nil })
	s.proposeData(t, s.established(), "v")
	s.until(t, "commit of v everywhere", func() bool { return s.deliveredAll("v") })
	if n := len(s.hist); n != 21 && n != 22 {
		t.Fatalf("history has %d txns, want the 20 committed, perhaps u, and v", n)
	}
}

// TestSnapDurableBeforeLeaderChange: a follower too far behind the
// leader's compacted log is synced by SNAP and crashes while persisting
// it (before it, or after the snapshot but before the rest); then the
// leader crashes too. The ACK(NEWLEADER) never left, nothing depends on
// the half-persisted SNAP, and no committed txn is lost
// (ZOOKEEPER-3642).
func TestSnapDurableBeforeLeaderChange(t *testing.T) {
	for _, written := range []int{0, 1} {
		t.Run(map[int]string{0: "nothing written", 1: "snapshot written"}[written], func(t *testing.T) {
			s := scripted(t, 3)
			s.until(t, "leader", func() bool { return s.established() != nil })
			l := s.established()
			var lag *node
			for _, n := range s.nodes {
				if n != l {
					lag = n
				}
			}
			s.crash(lag)
			for _, d := range []string{"a", "b", "c", "d", "e", "f"} {
				s.proposeData(t, l, d)
			}
			s.until(t, "commits", func() bool { return len(s.hist) == 6 && len(l.delivered) == 6 })
			s.proposeData(t, l, "g")
			s.until(t, "commit of g", func() bool { return len(l.delivered) == 7 })
			s.compact(l)
			for l.store.Snap.Zxid < l.delivered[2].Zxid {
				s.compact(l)
			}
			s.start(lag)
			got := false
			s.until(t, "SNAP to the lagging peer", func() bool {
				for i, m := range s.net {
					if m.Type != broadcast.MsgNewLeader || m.To != lag.id || m.Snapshot == nil {
						continue
					}
					s.net = append(s.net[:i], s.net[i+1:]...)
					if err := lag.peer.Step(m); err != nil {
						t.Fatal(err)
					}
					rd := lag.peer.Ready()
					if rd.Snapshot == nil || len(rd.Messages) != 1 || rd.Messages[0].Type != broadcast.MsgAckNewLeader {
						t.Fatalf("SNAP and its ACK(NEWLEADER) not in one Ready: %+v", rd)
					}
					if written > 0 {
						lag.store.InstallSnapshot(*rd.Snapshot)
					}
					s.crash(lag)
					got = true
					return true
				}
				return false
			})
			if !got {
				t.Fatal("no SNAP seen")
			}
			s.crash(l)
			s.start(lag)
			s.start(l)
			s.until(t, "new leader", func() bool { return s.established() != nil })
			s.proposeData(t, s.established(), "h")
			s.until(t, "commit of h everywhere", func() bool { return s.deliveredAll("h") })
			for _, n := range s.nodes {
				if len(n.delivered) != 8 {
					t.Errorf("peer %d holds %d txns, want 8", n.id, len(n.delivered))
				}
			}
		})
	}
}
