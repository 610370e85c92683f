// Package client is the Go client for zabkit: a session with an ensemble,
// the znode operations, watches delivered on channels, and automatic
// reconnection.
//
//	c, err := client.Connect(ctx, []string{"127.0.0.1:2281"})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	path, err := c.Create(ctx, "/app", []byte("hello"), tree.ModePersistent)
//	data, stat, events, err := c.GetW(ctx, "/app")
//	...
//	ev := <-events // one Event, then the channel is closed
//
// # Sessions and connection states
//
// Connect opens a session on one of the listed servers (tried in a random
// order) and returns once the server has granted it. From then on the
// Client keeps it alive: it pings when idle, and when the connection breaks
// it reconnects to any listed server and resumes the same session (same id
// and password), refusing servers that have not yet seen the last zxid this
// client saw. State and Subscribe report the states: StateConnected,
// StateDisconnected while reconnecting, StateExpired, StateClosed.
//
// A session expires when the server says so on a reconnect, or when no
// server could be reached for longer than the session timeout. The client
// never opens a new session on its own: after expiry every call returns
// ErrSessionExpired and the application decides what to do, typically
// Close and Connect again. Close ends the session at once (the server
// deletes its ephemeral nodes) and returns once every goroutine the Client
// started has stopped.
//
// # Ordering
//
// Requests go to the server in the order the calls were made, on one
// connection, and the server answers them in that order. Watch events and
// replies are handled in the order the server sent them, and a watch event
// is delivered to its channel before the reply that follows it is returned,
// so a caller that sees new data has its watch event already.
//
// # Watches
//
// GetW, ExistsW and ChildrenW set one-shot watches: each returns a channel
// with a buffer of one that receives exactly one Event and is then closed.
// AddWatch sets a persistent (or persistent recursive) watch whose C gets
// every matching event until Watch.Remove; the client queues events for a
// slow receiver without limit and never blocks on it. Watches survive
// reconnects: the client re-registers them and the server fires at once
// those whose node changed meanwhile. When the session expires or the
// Client is closed every watch channel gets one last Event whose Err is
// ErrSessionExpired or ErrClosed, and is closed.
//
// # Errors
//
// The errors are sentinels compared with errors.Is. The tree's (ErrNoNode,
// ErrNodeExists, ErrBadVersion, ErrNotEmpty, ErrNoChildrenForEphemerals,
// ErrBadArguments, ErrSequenceOverflow) are the very values package tree
// defines, and the protocol's (ErrSessionExpired, ErrAuthFailed,
// ErrNoWatcher, ...) those of package wire, so errors.Is(err, tree.ErrNoNode)
// holds as well. Each method's comment says which it returns. Besides those,
// any call may return:
//
//   - ErrConnectionLoss: the connection broke while the request was in
//     flight; it may or may not have been applied. Calls made while
//     disconnected wait for the next connection instead.
//   - ErrSessionExpired, ErrClosed: see above.
//   - ctx.Err(): the call's ctx ended first.
//
// # Cancellation
//
// Every call takes a context. If it ends before the reply, the call returns
// ctx.Err() at once; a request not yet written is then never sent, but one
// already written may still be applied by the server, exactly as with
// ErrConnectionLoss, and a watch it set on the server is not delivered.
//
// # Concurrency
//
// A Client is safe for concurrent use, and concurrent calls are pipelined
// on its one connection: a writer goroutine batches their frames into few
// writes and a reader goroutine matches the replies to the calls by xid.
package client
