// Package zabtest runs whole ZAB ensembles of broadcast.Peer in one
// goroutine on a simulated network driven by a seeded random schedule,
// and checks the protocol's invariants after every step.
//
//	err := zabtest.Run(zabtest.Options{Seed: 42, Peers: 5})
//
// The schedule delivers, drops, duplicates and reorders messages; cuts
// links (both ways or one way) and heals them; crashes peers and restarts
// them from what they had made durable (what Ready told them to persist
// before Advance), sometimes crashing in the middle of persisting a
// Ready so that an unsynced tail is lost; and proposes txns on whichever
// peer leads. After every step it checks:
//
//   - at most one established leader per epoch;
//   - every delivered txn was proposed (integrity);
//   - each peer delivers in strictly increasing zxid order, and its
//     delivered sequence is a prefix of one global sequence (agreement,
//     total order, prefix consistency, no gaps, and nothing delivered is
//     lost or replaced in a later epoch);
//   - when a txn is first delivered anywhere, a quorum of voters holds it
//     durably (nothing committed without a quorum of acks).
//
// At the end it heals everything and requires liveness: a leader is
// established and a final proposal is delivered by every peer.
//
// Everything is deterministic in the seed: a failure replays with the
// same Options.
package zabtest
