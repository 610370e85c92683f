// Package election is leader election on zabkit: Apache Curator's
// LeaderLatch/LeaderSelector semantics with etcd's concurrency.Election
// API shape.
//
//	e := election.NewElection(conn, "/services/orders/leader")
//	l, err := e.Campaign(ctx, []byte("host-a:8080")) // blocks until leader
//	if err != nil {
//		return err
//	}
//	defer e.Resign(context.Background())
//	go serve(l.Context(), l.Token()) // stops when leadership is lost
//	select {
//	case <-l.Lost(): // session lost or node gone: stop acting as leader
//	case <-shutdown:
//	}
//
// Every participant is an Election value; several on the same Conn and path
// are distinct participants (each with its own candidate node). Leader and
// Observe need no candidacy: any Election value can read who leads.
//
// # Znode layout
//
//	<path>                                    container (created on first use)
//	<path>/_c_<guid>-candidate-0000000007     ephemeral sequential, one per
//	                                          candidate; data: its value
//
// The candidate with the lowest sequence number leads; the others are in
// line in sequence order (Candidates lists them). Names are protected
// (recipe.CreateProtected): the GUID lets a candidate find its own node
// after a lost create reply, so a lost reply never leaves an orphan or a
// second node. The lookup syncs the client's server with the leader first
// (it may have reconnected to a server that has not applied the create
// yet), and should a second node with the candidate's GUID still appear
// in a listing, the candidate deletes it: it is its own, and would
// otherwise stand ahead of it in line. Other children of <path> are
// ignored; the container <path> may be deleted by the server when no
// candidate is left, and is created again (retried) as needed.
//
// # Guarantees
//
// At most one Leadership is live (neither lost nor resigned) at a time
// for a path, as long as the clients' clocks run at the same rate: a
// leader's node is deleted only after its Context was cancelled (Resign),
// or by the server once its session expired, which the leader's Guard
// reports after half the session timeout of silence, before the server
// can expire it. A candidate leads only when a listing read from the
// server after its create shows its node first; it never concludes so
// from local state, and after a reconnect a leader reads its node again.
//
// Token() is the leader node's czxid, which strictly increases from one
// leader to the next (sequence numbers restart when the container path is
// recreated; zxids never do). Fencing covers what the loss signal cannot,
// a leader paused longer than half the session timeout: a store that
// keeps the highest token it accepted refuses the late writes of an older
// leader. Proclaim is itself fenced: a Multi that checks the leader node
// still exists.
//
// # Connection loss and session expiry
//
// Calls made while disconnected wait for the next connection; requests
// lost in flight (ErrConnectionLoss) are retried after finding out what
// happened (the create by its GUID, deletes and Proclaim are idempotent).
// A Leadership is lost (Lost closed, Context cancelled) at the first of:
// the session expired or the client was closed; the client has been
// disconnected without hearing from any server for half the session
// timeout; the server says the leader node is gone. A leadership lost to
// a long disconnection may find its session alive when the client
// reconnects: its node is then deleted in the background, so it does not
// block the next candidate, and the participant must Campaign again.
// A waiting Campaign returns an error wrapping ErrLost when its session
// expires or its node is deleted.
//
// # Cancellation
//
// When Campaign's ctx ends, it deletes its candidate node (also one
// whose create reply was lost) and returns ctx's error. Resign cancels
// the Leadership's Context before deleting the node, so the next leader
// starts only after the previous one was told to stop. Resign is
// idempotent and retryable: the Election forgets a Leadership only once
// the server confirmed its node is gone (or the session is).
//
// # Herd effect
//
// A waiting candidate watches only the candidate just before it, so a
// leader's departure wakes exactly one candidate (and a candidate that
// leaves the line wakes only the one behind it). Observers are different:
// every observer watches the leader node, so all of them wake when the
// leader changes, which is inherent to observing it.
//
// # Errors
//
// ErrNotLeader (Proclaim), ErrNoLeader (Leader), ErrLost and ErrCampaigning
// (Campaign) are this package's; compare with errors.Is. Client errors
// (client.ErrSessionExpired, client.ErrClosed, tree.ErrBadArguments for a
// bad path or value) and ctx's errors come wrapped. Each method's comment
// says which it returns.
//
// # Tests
//
// The tests run against an in-process 3-peer ensemble (enstest) with
// faults: killed peers, cut and paused connections, lost create replies.
// ZABKIT_LONG=1 makes the many-candidates test run more rounds, with more
// connection cuts.
package election
