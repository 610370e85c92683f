// Package barrier is ZooKeeper's barrier and double barrier recipes on
// zabkit (Curator's DistributedBarrier and DistributedDoubleBarrier).
//
//	// One process holds the others until it is ready.
//	b := barrier.NewBarrier(conn, "/jobs/42/start")
//	err := b.Set(ctx)    // raise it
//	err = b.Wait(ctx)    // elsewhere: blocks while it is raised
//	err = b.Remove(ctx)  // release every waiter
//
//	// n processes start together and finish together.
//	d := barrier.NewDoubleBarrier(conn, "/jobs/42/workers", n)
//	if err := d.Enter(ctx); err != nil { ... } // blocks until n are in
//	compute()
//	if err := d.Leave(ctx); err != nil { ... } // blocks until all are out
//
// Several DoubleBarriers on the same Conn and path are distinct members.
//
// # Znode layout
//
//	<path>                              Barrier: persistent node; its
//	                                    parents are created as containers
//
//	<path>                              DoubleBarrier: container
//	<path>/_c_<guid>-member-0000000007  ephemeral sequential, one per member
//	                                    in (protected; data: WithData)
//	<path>/ready                        persistent; data: the decimal
//	                                    sequence number of the highest
//	                                    member of the round it opened
//
// Other children of a DoubleBarrier's path are ignored. Member names are
// protected (recipe.CreateProtected): after a lost create reply the member
// finds its node by its GUID (syncing its server with the leader first),
// so a lost reply leaves no orphan; should a second node with its GUID
// still show up in a listing, the member deletes it before counting.
// The container path may be deleted by the server once empty; creates
// that lose that race start over.
//
// # Double barrier rounds
//
// The member that finds n or more members (after creating its own node)
// opens a round: it creates the ready node (or, if a stale one is left,
// sets it with a version check) with the highest sequence number it
// counted, and every member up to that number goes through Enter. A round
// lasts until all its members have left; the last one out deletes the
// ready node in the same Multi as its own node. A member that arrives
// while a round is in progress is not part of it: it waits for the round
// to end and counts towards the next one, and Leave never waits for it.
// A ready node whose round has no member left (they all lost their
// sessions) is stale and treated as absent. Enter returns only when the
// server shows a ready node whose number is at or above the member's own
// sequence number: at least n members were in at once, this one included.
//
// A member whose session expires while it is in (between Enter and
// Leave) loses its node: for everyone else it counts as having left, so
// the others' Leave does not wait for it. Its own Leave returns an error
// wrapping ErrLost. A member whose session expires during Enter is not
// counted once its node is gone (Enter returns ErrLost).
//
// # Guarantees
//
// Barrier.Wait returns nil only after the server said the barrier node
// does not exist. DoubleBarrier.Enter returns nil only after the server
// showed this member in an opened round; Leave returns nil only after the
// server listed no member of its round. Every wait re-reads its condition
// from the server after any wake-up: a watch event, a watch ended by a
// session event, a reconnect. A spurious wake-up (a connection loss, a
// change to an unrelated node, a ready node from an older round) never
// lets a member through.
//
// # Connection loss and session expiry
//
// Calls made while disconnected wait for the next connection; a request
// lost in flight (ErrConnectionLoss) is followed by reading the state
// from the server (a member's create is found again by its GUID, so a
// lost reply never leaves a second node or an orphan). Watches survive
// reconnects, and a reconnect wakes every waiter to look again. When the
// session expires or the client is closed, waiting calls return an error
// wrapping client.ErrSessionExpired or client.ErrClosed (and ErrLost for
// the DoubleBarrier): nothing hangs on a dead session.
//
// # Cancellation
//
// When Enter's ctx ends, it deletes its member node (also one whose create
// reply was lost). When Leave's ctx ends, it deletes its member node if
// still there; the member has then left, and calling Leave again waits
// for the others. Barrier.Wait has nothing to clean up.
//
// # Herd effect
//
// Barrier: every waiter watches the one barrier node, so all wake when it
// is removed; that is inherent to a barrier, which releases everyone at
// once. DoubleBarrier.Enter: waiting members watch the one ready node
// (ZooKeeper's recipe), so all of them wake when it is created, which is
// again the point; members that arrive during a round watch one member of
// that round. DoubleBarrier.Leave has no herd: the lowest member watches
// the highest, the others watch the lowest, which leaves last, so each of
// them wakes once, when it is done.
//
// # Errors
//
// ErrEntered, ErrNotEntered, ErrBusy and ErrLost are this package's;
// compare with errors.Is. Client errors (client.ErrSessionExpired,
// client.ErrClosed, tree.ErrBadArguments for a bad path or n) and ctx's
// errors come wrapped. Each method's comment says which it returns.
//
// # Tests
//
// The tests run against an in-process 3-peer ensemble (enstest) with
// faults: killed peers, cut connections, lost create replies, expired
// sessions. ZABKIT_LONG=1 makes the many-members test run more rounds.
package barrier
