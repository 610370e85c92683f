// Package broadcast is where ZAB (ZooKeeper Atomic Broadcast) lives: leader
// election, discovery, synchronization and broadcast as a pure state machine
// with a thin driver around it. The protocol itself comes with the ensemble
// issue; until then the folder holds its durable state:
//
//   - broadcast/wal: the transaction log, append-only checksummed segments
//     with group commit (the "history" of the ZAB notes);
//   - broadcast/snap: snapshot files, a checksummed prefix of committed
//     history.
//
// Both know nothing of znodes: a record is opaque bytes with a uint64 zxid.
package broadcast
