package tree

import "errors"

// Sentinel errors, named as ZooKeeper's KeeperException codes. Apply reports
// them per op in Result; the read methods return them directly. The client
// returns these same values after a round trip, so errors.Is works end to end.
var (
	// ErrNoNode: the node (or, for create, its parent) does not exist.
	// Returned by Get, Exists, Children, and by create/delete/setData/check ops.
	ErrNoNode = errors.New("tree: node does not exist")
	// ErrNodeExists: a create named a node that already exists.
	ErrNodeExists = errors.New("tree: node already exists")
	// ErrBadVersion: a conditional delete, setData or check saw another version.
	ErrBadVersion = errors.New("tree: version does not match")
	// ErrNotEmpty: a delete named a node that has children.
	ErrNotEmpty = errors.New("tree: node has children")
	// ErrNoChildrenForEphemerals: a create named a parent that is ephemeral.
	ErrNoChildrenForEphemerals = errors.New("tree: ephemeral nodes may not have children")
	// ErrBadArguments: an invalid path, mode, TTL, data size, or op.
	// The wrapping error says which.
	ErrBadArguments = errors.New("tree: bad arguments")
	// ErrSequenceOverflow: a sequential create found its parent's counter
	// exhausted (2^31-1); the counter never wraps.
	ErrSequenceOverflow = errors.New("tree: sequential counter exhausted")
	// ErrRolledBack marks the ops of a failed multi that would have succeeded.
	ErrRolledBack = errors.New("tree: rolled back, another op of the multi failed")
	// ErrRuntimeInconsistency marks the ops of a failed multi after the failing one.
	ErrRuntimeInconsistency = errors.New("tree: not attempted, an earlier op of the multi failed")
	// ErrNoSession: an ephemeral create or a session txn named a session
	// that is not in the session table.
	ErrNoSession = errors.New("tree: session does not exist")
	// ErrZxidOrder is returned by Apply (as its error, not in Result) when a
	// txn's zxid is not greater than the last applied one: a broken invariant
	// that must stop the peer.
	ErrZxidOrder = errors.New("tree: zxid not increasing")
	// ErrCorruptSnapshot: a snapshot failed its checks while being decoded.
	ErrCorruptSnapshot = errors.New("tree: corrupt snapshot")
	// ErrReleased is returned by Frozen.WriteTo after Frozen.Release.
	ErrReleased = errors.New("tree: snapshot view already released")
)
