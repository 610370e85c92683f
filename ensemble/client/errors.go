package client

import (
	"errors"

	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

// Errors from the tree, re-exported: a call returns these very values (maybe
// wrapped with detail) after the server's reply, so errors.Is(err,
// client.ErrNoNode) and errors.Is(err, tree.ErrNoNode) both hold.
var (
	// ErrNoNode: the node (or, for Create, its parent) does not exist.
	// Returned by Get, GetW, GetLinearizable, Set, Delete, Children,
	// ChildrenW, ChildrenPage, CountChildren, Create and Multi.
	ErrNoNode = tree.ErrNoNode
	// ErrNodeExists: Create named a node that already exists.
	ErrNodeExists = tree.ErrNodeExists
	// ErrBadVersion: a conditional Set, Delete or check saw another version.
	ErrBadVersion = tree.ErrBadVersion
	// ErrNotEmpty: Delete named a node that has children.
	ErrNotEmpty = tree.ErrNotEmpty
	// ErrNoChildrenForEphemerals: Create named a parent that is ephemeral.
	ErrNoChildrenForEphemerals = tree.ErrNoChildrenForEphemerals
	// ErrBadArguments: an invalid path, mode, TTL, data size or op. Paths are
	// checked before anything is sent; the rest by the server.
	ErrBadArguments = tree.ErrBadArguments
	// ErrSequenceOverflow: a sequential Create found its parent's counter
	// exhausted.
	ErrSequenceOverflow = tree.ErrSequenceOverflow
	// ErrRolledBack is the Err of every op of a failed Multi that would have
	// succeeded.
	ErrRolledBack = tree.ErrRolledBack
	// ErrRuntimeInconsistency is the Err of the ops of a failed Multi after
	// the failing one.
	ErrRuntimeInconsistency = tree.ErrRuntimeInconsistency
	// ErrNoSession: an ephemeral create named a session the server does not
	// know.
	ErrNoSession = tree.ErrNoSession
)

// Errors from the protocol, re-exported from ensemble/wire.
var (
	// ErrSessionExpired: the session is gone, because a server said so (or
	// refused its password) or because no server could be reached for
	// longer than the session timeout. Every call after that returns it, and every watch channel
	// gets an Event with it. Open a new Client to go on.
	ErrSessionExpired = wire.ErrSessionExpired
	// ErrAuthFailed: a server refused the session's password.
	ErrAuthFailed = wire.ErrAuthFailed
	// ErrNoWatcher: RemoveWatches found no watch of that type on the path.
	ErrNoWatcher = wire.ErrNoWatcher
	// ErrSystemError: the server failed in a way it did not classify.
	ErrSystemError = wire.ErrSystemError
	// ErrMarshalling: a message could not be encoded or decoded.
	ErrMarshalling = wire.ErrMarshalling
	// ErrUnimplemented: the server does not implement the operation.
	ErrUnimplemented = wire.ErrUnimplemented
	// ErrTooManyRequests: the connection reached the server's limit of
	// outstanding requests.
	ErrTooManyRequests = wire.ErrTooManyRequests
	// ErrFrameTooLarge: a request is larger than the server accepts (the
	// call fails without being sent), or a reply was larger than WithMaxFrame.
	ErrFrameTooLarge = wire.ErrFrameTooLarge
	// ErrShuttingDown: the server is closing; the client moves to another.
	ErrShuttingDown = wire.ErrShuttingDown
)

// The client's own errors.
var (
	// ErrConnectionLoss: the connection broke while the call was in flight.
	// The call may or may not have taken effect on the server; the client
	// reconnects on its own and resumes the session. Calls made while the
	// client is disconnected wait for the next connection instead (bounded
	// by their ctx and by the session timeout).
	ErrConnectionLoss = errors.New("zabkit: connection loss")
	// ErrClosed: the Client was closed. Every call after Close returns it,
	// and every watch channel gets an Event with it.
	ErrClosed = errors.New("zabkit: client closed")
	// ErrNoServer: Connect was given no server address, or could reach none
	// before its ctx ended (the error then also wraps ctx.Err()).
	ErrNoServer = errors.New("zabkit: no server reachable")
	// ErrWatchRemoved is the Err of the Event a watch channel gets when
	// RemoveWatches removed the watch.
	ErrWatchRemoved = errors.New("zabkit: watch removed")
)
