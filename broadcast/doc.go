// Package broadcast is ZAB (ZooKeeper Atomic Broadcast): leader election,
// discovery, synchronization and broadcast as a pure, deterministic state
// machine, with the disk and the network left to a driver around it.
//
//	p, err := broadcast.NewPeer(broadcast.Config{
//		ID: 1, Voters: []uint64{1, 2, 3},
//		ElectionTicks: 10, HeartbeatTicks: 1, SyncLimitTicks: 5,
//		Rand: rand.New(rand.NewPCG(seed, seed)), Storage: durableState,
//	})
//	for {
//		select {
//		case <-ticker.C:
//			p.Tick()
//		case m := <-network:
//			err = p.Step(m)
//		case data := <-writes:
//			err = p.Propose(data) // ErrNotLeader unless an established leader
//		}
//		for p.HasReady() {
//			rd := p.Ready()
//			// 0. rd.Snapshot (a SNAP): install it, empty the log, fsync
//			// 1. log: cut after *rd.Truncate, append rd.Entries, fsync
//			// 2. epochs: rd.AcceptedEpoch, rd.CurrentEpoch if non-zero
//			//    (temp file, fsync, rename, fsync dir)
//			// 3. only now send rd.Messages: they vouch for 1 and 2
//			// 4. apply rd.Committed in order; remember the last zxid
//			p.Advance(rd)
//		}
//		// After writing a snapshot of the applied state up to z:
//		// err = p.Compact(z), then purge the log through z.
//	}
//
// The folder also holds the durable state such a driver uses:
//
//   - broadcast/wal: the transaction log, append-only checksummed segments
//     with group commit (the "history" of the ZAB notes);
//   - broadcast/snap: snapshot files, a checksummed prefix of committed
//     history;
//   - broadcast/zabtest: a simulator that runs whole ensembles of Peers on
//     a faulty network with crashes, checking ZAB's invariants.
//
// Nothing here knows znodes: a txn is opaque bytes with a Zxid
// (epoch<<32 | counter).
//
// # Phases
//
// A Peer is looking, following, observing or leading; each role has its own step and
// tick functions.
//
//   - Election (looking): fast leader election. Votes order by (currentEpoch,
//     last zxid, id); a peer settles when a quorum of Config.Voters agrees
//     with its vote and no better vote arrived within one heartbeat. A
//     looking peer joins a running ensemble when a quorum out of election
//     names the same leader and that leader says it leads.
//   - Discovery: the follower sends FOLLOWERINFO(acceptedEpoch); with a
//     quorum the leader picks max+1 and sends NEWEPOCH, durably accepted
//     first. The follower persists acceptedEpoch before ACKEPOCH(currentEpoch,
//     last zxid, last zxid of each epoch in its log); one that accepted a
//     later epoch goes back to election, and makes the leader do so too. A
//     leader that finds a quorum member ahead of it gives up.
//   - Synchronization: NEWLEADER carries the DIFF, or TRUNC to the exact
//     last zxid both logs share and then the DIFF, computed from the whole
//     per-epoch history; or SNAP (the leader's snapshot, then its log) when
//     that point lies inside the leader's compacted prefix, where it no
//     longer knows the epochs' ends. The follower refuses a TRUNC below what it knows
//     committed, and ACKs NEWLEADER in the Ready that persists the synced
//     txns and currentEpoch. After a quorum of acks (itself included, once
//     durable) the leader is established, its whole history committed, and
//     it sends UPTODATE.
//   - Broadcast: Propose assigns the next zxid; PROPOSALs are pipelined,
//     each naming the zxid before it; a follower logs only a proposal that
//     continues its log and ACKs in the Ready that persists it; the leader
//     commits the highest zxid a quorum acked, in order, and sends COMMIT.
//     When the counter reaches Config.MaxCounter the leader steps down so
//     that the next election starts a new epoch.
//   - Heartbeats: the leader pings every HeartbeatTicks and resends missing
//     proposals to a follower whose ping response shows it behind; an
//     established leader that has not heard from a quorum within
//     SyncLimitTicks, or a follower that has not heard from its leader,
//     returns to election. Unanswered election, discovery and sync
//     messages are resent every heartbeat, and each follower's connection
//     carries a session id so that stale or duplicated messages from an
//     earlier attempt are ignored.
//
// Observers (Config.Observers) go through discovery, sync and broadcast
// like followers, but never vote, lead or count toward any quorum.
//
// The log after the last Compact is held in memory.
//
// # Errors
//
//   - ErrNotLeader: Propose on a peer that is not an established leader.
//   - ErrCounterExhausted: Propose when the epoch's counter is used up; the
//     peer has stepped down.
//   - ErrBadConfig: NewPeer with an unusable Config or Storage; Compact
//     beyond what was delivered.
//   - ErrInvariant: Step met a sync that would cut a committed txn or not
//     continue the log. The peer returns to election; treat it as a bug.
//
// # Concurrency
//
// A Peer is not safe for concurrent use: one goroutine owns it, and calls
// Advance after each Ready before calling Tick, Step, Propose or Ready
// again. It starts no goroutines, reads no clock and uses no randomness
// but Config.Rand, so the same inputs give the same outputs.
package broadcast
