// Package ensemble is a zabkit peer: the client listener, sessions, the
// request pipeline and durability. With no Config.Members it runs
// standalone (one peer that orders and persists its own writes); with
// Members it is one member of a ZAB ensemble (see "The ensemble" below).
//
//	srv, err := ensemble.New(ensemble.Config{DataDir: "zabkit-data"})
//	if err != nil { ... }
//	if err := srv.Start(ctx); err != nil { ... } // recover, then listen on 127.0.0.1:2281
//	defer srv.Stop(ctx)
//
// # The ensemble
//
// A member runs the ZAB core (package broadcast) in one driver goroutine
// that carries out each of its Ready steps in order: install a snapshot
// the leader sent, truncate, append and fsync (one fsync per batch), write
// acceptedEpoch/currentEpoch (temp file, fsync, rename), then send, then
// hand committed txns to the applier goroutine. A leader sends proposals
// before its own fsync (its own ack counts only once durable), so leader
// and followers write in parallel. Peer messages travel over
// broadcast/transport (authenticated by server id, cluster id and an
// optional secret); gossip (ensemble/membership, when members have gossip
// addresses) maps ids to current addresses and gives failure hints, never
// votes.
//
// Every txn is wrapped with the id of the peer that built it and a
// sequence number. A follower or observer forwards its clients' txns to the
// leader and answers them when the commit reaches it; reads are served
// from local memory. Sync and linearizable reads are no-op txns through
// the leader, applied in order with the session's writes, so the answer
// reflects every write committed before the request. On start a member
// loads its newest snapshot and hands the log after it to the core
// unapplied: a txn is applied only once a leader's sync shows it
// committed, so the tree never holds an uncommitted txn.
//
// Sessions are global: created and closed by txns. The leader decides
// expiry; followers report the sessions their clients kept alive twice a
// tick, and a new leader gives every session a full timeout. A member that
// has no established leader refuses clients and drops the ones it had (they
// reconnect to a serving peer within their session timeout, keeping the
// session, its ephemerals and watches); what it had in flight fails with a
// connection loss (the outcome is unknown: the txn may still commit).
//
// # Connections
//
// Each client connection has two goroutines. The reader reads a frame
// (its length checked against Config.MaxFrame before anything is
// allocated), decodes it (hostile length claims rejected first), and
// dispatches it. The writer owns the socket's write side: everything queued
// for the connection (replies and watch events) since its last write goes
// out in one write. Enqueuing never blocks.
//
// Limits, each answered clearly while every other connection is served:
//   - more than MaxConnsPerIP connections from one IP: the handshake is
//     answered CodeTooManyConnections and the connection closed;
//   - MaxOutstanding requests read but not yet answered on one connection:
//     the reader stops reading until replies drain (back-pressure; the
//     client sees latency, never an error);
//   - a frame over MaxFrame: CodeFrameTooLarge, then close;
//   - a body that does not decode: CodeMarshalling, then close;
//   - a request before the handshake, or a wrong protocol version:
//     CodeBadProtocol, then close; a wrong password on resume:
//     CodeAuthFailed, then close;
//   - an unknown op: CodeUnimplemented; the connection stays;
//   - an outbound queue over 64 MiB (a client that stopped reading):
//     close.
//
// # The pipeline
//
// A write (create, delete, setData, check, multi, session open/close, and
// the container/TTL deletions the peer proposes itself each tick) is
// checked for what needs no tree (path, data size, mode), built into a
// tree.Txn, and handed to the proposer, which stamps the next zxid, encodes
// it and appends it to the txn log's buffer (no I/O yet), all under one lock
// so that log order is zxid order. One group-commit goroutine takes
// everything queued, fsyncs once for all of it, and only then hands the
// batch to the apply goroutine (so the next fsync overlaps the apply). The
// applier, holding the tree's write lock, applies each txn in
// zxid order, triggers the watches its events match into the watchers'
// outbound queues, and queues the writer's reply: a watch event is always
// queued before the reply that shows its change, and a write is never
// answered before it is on disk. If an append or an fsync fails, the peer
// stops accepting writes (each is answered CodeSystemError) and logs at
// error level: it never continues on a failed fsync.
//
// Reads (getData, exists, getChildren, countChildren, getEphemerals, watch
// registration) are served from memory by the connection's reader under the
// tree's read lock, so they run in parallel with each other; a watch is
// registered under the same lock as the read, atomically. A connection's
// answers come out in the order its requests came in (FIFO per session): a
// read that arrives while a write of the same connection is in the pipeline
// waits behind it and is answered by the applier right after that write's
// reply. Sync and linearizable reads go through the pipeline as barriers:
// they are answered once every write accepted before them is applied.
//
// Every reply carries the last applied zxid; a client that has seen a
// newer zxid than this peer has is refused with CodeStaleServer.
//
// # Sessions
//
// A new session is a TxnCreateSession (id = ServerID<<56 | a counter seeded
// from the clock, so ids never repeat across restarts; a random 16-byte
// password; the timeout clamped to [MinSessionTimeout, MaxSessionTimeout]).
// The session tracker on this peer decides expiry: every request or ping
// refreshes a session; each tick, a session unseen for its timeout is
// closed by a TxnCloseSession, which deletes its ephemerals in one txn and
// fires their watches. A dropped connection does not end its session; a
// session has at most one connection (resuming moves it and closes the old
// one). Watches belong to the connection: a client re-registers them on a
// new connection with OpSetWatches, which fires at once those whose node
// changed since the client's last zxid. After a restart every session
// restored from disk gets a fresh full timeout.
//
// # Durability
//
// Start loads the newest valid snapshot and replays the log after it,
// checking each record follows the one before; a log that does not continue
// the snapshot (or, without a snapshot, does not begin at the first zxid)
// stops Start with ErrLogGap. Every SnapshotEvery txns the applier takes a
// frozen view of the tree (cheap, under the lock) and a background
// goroutine writes it without any lock; then old snapshots beyond
// SnapshotRetain are dropped and the log segments older than the oldest kept
// snapshot purged. Stop drains the pipeline and writes a last snapshot.
//
// # Concurrency
//
// New, Start, Stop, Addr and Status are safe to call from any goroutine.
// Every goroutine the server starts is waited for by Stop.
package ensemble
