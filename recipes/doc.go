// Package recipes is the home of zabkit's coordination recipes, built on
// the public client API only, with Apache Curator's words and semantics:
//
//   - recipes/lock: Mutex (fair, with fencing tokens), RWMutex, Revocable,
//     Semaphore and MultiLock;
//   - recipes/election: leader election with Campaign, Resign, Observe;
//   - recipes/barrier: Barrier and DoubleBarrier;
//   - recipes/queue: FIFO, priority and delay queues, at-least-once mode;
//   - recipes/config: a watched configuration service and a local Cache,
//     plus a shared counter;
//   - recipes/naming: unique ids and names, and a service registry.
//
// This package holds what they share: Conn, the part of *client.Client
// they use (so a test can wrap it to inject faults).
//
// # Rules every recipe keeps
//
// Every blocking call takes a context.Context. When it ends, the call
// deletes whatever node it created before returning ctx.Err().
//
// Sequential nodes are created "protected", as Curator does: the name
// carries a fresh GUID (_c_<guid>-<name>), and after ErrConnectionLoss the
// recipe looks for its own node (by GUID, and for ephemerals among its own
// session's) before creating again, so a lost reply never leaves an orphan
// or a second node.
//
// Waiters watch the one node they wait for, never the whole parent, so a
// release wakes one waiter, not all of them (a herd). Every wait re-reads
// its condition from the server after any wake-up: a session event is not
// a node event.
//
// What a recipe holds (a lock, a lease, a leadership) can be lost without
// the holder doing anything: the session expires, or the client is
// disconnected long enough that the ensemble may have expired it. The
// recipes report the loss at once, on a channel or by cancelling a context
// they returned, at the first of: the session expired or the client was
// closed; or the client has been disconnected and has heard nothing from
// any server for half the session timeout (the server expires the session
// after a full timeout of silence, so the holder learns first, with half a
// timeout to spare). Fencing tokens cover what a loss signal cannot: a
// holder paused longer than that.
//
// Releases are idempotent and retryable: a release that fails with
// ErrConnectionLoss can be called again, and local state is dropped only
// once the server confirmed the delete or the session is gone.
package recipes
