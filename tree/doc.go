// Package tree is the znode data tree: nodes with ZooKeeper's Stat, path
// rules, transaction apply, watch matching and snapshot encoding.
//
//	t := tree.New(tree.Config{})
//	res, events, err := t.Apply(&tree.Txn{
//		Zxid: tree.MakeZxid(1, 1), Time: nowMs, Kind: tree.TxnOps,
//		Ops: []tree.Op{{Type: tree.OpCreate, Path: "/app", Data: []byte("v1")}},
//	})
//	// err != nil only for a broken invariant (ErrZxidOrder): stop the peer.
//	// res.Err is the op's outcome (nil, tree.ErrNodeExists, ...).
//	for _, ev := range events {
//		watches.Trigger(ev, deliver) // NodeCreated /app, NodeChildrenChanged /
//	}
//	data, stat, err := t.Get("/app")
//
//	f := t.Snapshot()              // O(1), under the same lock as Apply
//	go func() {
//		defer f.Release()
//		f.WriteTo(file)            // while Apply goes on
//	}()
//	t2, err := tree.ReadSnapshot(file, tree.Config{})
//
// It is pure: no network, no disk, no clock, no goroutines, no ZAB. Apply
// takes a Txn that carries its zxid and time, so every peer that applies
// the same txns in the same order gets the same tree and the same Digest.
// It may import only the standard library, internal/ packages and small
// well-kept libraries; nothing else from zabkit.
//
// # Nodes and Stat
//
// Stat is ZooKeeper's, field for field. A create sets Czxid, Mzxid and Pzxid
// to the txn's zxid and Ctime, Mtime to its time. setData sets Mzxid and
// Mtime and adds one to Version. Creating or deleting a child sets the
// parent's Pzxid and adds one to its Cversion (ZooKeeper's sequence
// counter; it saturates at 2^31-1 rather than wrap). Aversion is always 0
// (there are no ACLs). EphemeralOwner is the owning session of an ephemeral
// and 0 for every other node, containers and TTL nodes included.
//
// Create modes:
//   - persistent, and ephemeral (dies with its session; the session must be
//     in the session table, else ErrNoSession; it can have no children:
//     ErrNoChildrenForEphemerals);
//   - sequential variants: the name gets the parent's Cversion before the
//     create, as ten zero-padded digits ("/q/n" -> "/q/n0000000003"; a
//     parent path with a trailing slash, "/q/", gives "/q/0000000003"); if
//     the counter is at 2^31-1 the create fails with ErrSequenceOverflow,
//     it never wraps;
//   - container: a persistent node that Expired proposes for deletion once
//     it has had children (Cversion > 0) and has none;
//   - TTL (ModePersistentWithTTL, ModePersistentSequentialWithTTL): a
//     persistent node that Expired proposes for deletion when it has no
//     children and now > Mtime+TTL. TTL is in ms, 1..MaxTTL for these modes
//     and 0 for every other mode (else ErrBadArguments).
//
// OpDeleteExpired deletes a node only if, at the txn's Time, it still
// qualifies; otherwise it fails (ErrNotEmpty, or ErrBadArguments).
//
// Paths follow ZooKeeper's PathUtils.validatePath (see ValidatePath). "/"
// can be read and its data set, but not created (ErrNodeExists) nor deleted
// (ErrBadArguments). Data is at most Config.MaxDataBytes (1 MiB by default).
//
// # Transactions
//
// TxnOps applies its single op. setData, delete and check are conditional
// on Version unless it is AnyVersion (-1). Deleting a node with children
// fails with ErrNotEmpty. TxnMulti applies its ops in order, each seeing
// the ones before, all or nothing: on failure the failing op carries its
// error, the ops before it ErrRolledBack, the ops after it
// ErrRuntimeInconsistency, Result.Err is the failing op's error, and the
// tree (nodes, counters, indexes and digest) is exactly as before.
// TxnCreateSession adds (or replaces) a row of the session table,
// TxnCloseSession removes one and deletes every ephemeral it owns in that
// one txn (in path order, with their events), TxnNoop changes nothing.
// Every applied txn, failed or not, advances LastZxid.
//
// Apply returns the watch events in the order ZooKeeper fires them: a
// create of /a/b gives NodeCreated /a/b then NodeChildrenChanged /a; a
// delete gives NodeDeleted /a/b then NodeChildrenChanged /a; setData gives
// NodeDataChanged. A failed txn gives none.
//
// # Reads
//
// Get returns a copy of the data. Children returns sorted names, paged:
// the names after a given one, at most max of them, and whether more
// follow, so no reply need be bigger than a frame. CountDescendants counts
// a subtree. Ephemerals lists ephemeral paths by session and path prefix.
// Digest is a 64-bit sum of per-node hashes of path, Stat and data,
// updated in O(1) by each change: equal trees have equal digests whatever
// their history, so peers can compare them.
//
// # Watches
//
// Watches is a per-peer table (watches are not replicated) with ZooKeeper
// 3.6 semantics: NodeCreated and NodeDataChanged on P fire data and exist
// watches on P; NodeDeleted on P fires data, exist and child watches on P;
// NodeChildrenChanged on P fires child watches on P. Those are one-shot. A
// persistent watch on P gets every event on P, NodeChildrenChanged
// included; a persistent-recursive watch on P gets NodeCreated, NodeDeleted
// and NodeDataChanged on P and every path below it, never
// NodeChildrenChanged. Both stay until removed. A watcher gets at most one
// delivery per event.
//
// # Snapshots
//
// Snapshot returns a Frozen view in O(1): the tree copies a node (and the
// path to it, and the child chunk that points to it) before its first
// change after the snapshot, so the view never changes and can be written
// by another goroutine while Apply goes on. Release the view when done, or
// the copying goes on until the garbage collector finds it. The format is
// versioned (magic "zabtree", a version byte), streams depth first, and
// ends with the node count, the digest and a checksum. ReadSnapshot checks
// every record, the digest and the checksum, and never allocates more than
// the input really holds, whatever its length fields claim.
//
// # Errors
//
// Read methods return ErrNoNode for a missing node and an error wrapping
// ErrBadArguments for an invalid path. Apply reports op outcomes in Result
// (ErrNoNode, ErrNodeExists, ErrBadVersion, ErrNotEmpty,
// ErrNoChildrenForEphemerals, ErrBadArguments (wrapped, saying why),
// ErrSequenceOverflow, ErrNoSession, and in a failed multi ErrRolledBack
// and ErrRuntimeInconsistency); its own error is only ErrZxidOrder, a
// broken invariant. ReadSnapshot returns errors wrapping
// ErrCorruptSnapshot; Frozen.WriteTo returns the writer's error or
// ErrReleased. Compare with errors.Is.
//
// # Concurrency
//
// A Tree is not safe for concurrent use, except that its read methods
// (Get, Exists, Children, CountDescendants, Ephemerals, Session, Sessions,
// LastZxid, NodeCount, Digest, Expired) change nothing and may run
// concurrently with each other. Apply and Snapshot need exclusive access:
// the caller holds a write lock around them and a read lock around reads.
// A Frozen view's methods may run in any goroutine, concurrently with
// anything the tree does; Release must not run concurrently with WriteTo
// on the same view. Watches is not safe for concurrent use.
//
// # Memory
//
// A node is 64 bytes plus one string holding its name and data; there is
// no global path map. Children are kept sorted in chunks of at most 256
// with a 4-byte name hash each, so lookups scan a few cache lines and a
// directory of 100,000 children lists and pages quickly. A million znodes
// with 128-byte data take about 222 bytes each (ZooKeeper: about 450).
package tree
