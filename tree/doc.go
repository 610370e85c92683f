// Package tree is the znode data tree: nodes with ZooKeeper's Stat, path
// rules, transaction apply, watch matching and snapshot encoding.
//
// It is pure: no network, no disk, no clock, no ZAB. Apply takes a Txn that
// carries its zxid and time, so every peer that applies the same txns in the
// same order gets the same tree and the same Digest.
//
// It may import only the standard library, internal/ packages and small
// well-kept libraries; nothing else from zabkit.
package tree
