package barrier

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/recipes/internal/recipe"
	"github.com/zabkit/zabkit/tree"
)

// Barrier is a single barrier: while its node exists, Wait blocks. Anyone
// with a Conn can Set and Remove it. Its methods are safe for concurrent
// use.
type Barrier struct {
	conn recipes.Conn
	path string
	err  error
}

// NewBarrier returns the barrier whose node is path. It does not touch the
// server. A bad path (or "/") or a nil conn is reported by every method
// (wrapping tree.ErrBadArguments).
func NewBarrier(conn recipes.Conn, path string) *Barrier {
	return &Barrier{conn: conn, path: path, err: checkArgs(conn, path)}
}

func checkArgs(conn recipes.Conn, path string) error {
	switch {
	case conn == nil:
		return fmt.Errorf("barrier: nil conn: %w", tree.ErrBadArguments)
	case path == "/":
		return fmt.Errorf("barrier: path %q: %w", path, tree.ErrBadArguments)
	}
	if err := tree.ValidatePath(path, false); err != nil {
		return fmt.Errorf("barrier: path %q: %w", path, err)
	}
	return nil
}

// Path returns the barrier node's path.
func (b *Barrier) Path() string { return b.path }

// Set raises the barrier: it creates the barrier node (persistent, so it
// outlives the session that set it), and its missing parents as
// containers. Setting a barrier that is set is not an error. It retries
// after a connection loss, and returns an error wrapping ctx.Err() when
// ctx ends, or the client's other errors (ErrSessionExpired, ErrClosed,
// ErrNoChildrenForEphemerals for an ephemeral parent).
func (b *Barrier) Set(ctx context.Context) error {
	if b.err != nil {
		return b.err
	}
	for {
		_, err := b.conn.Create(ctx, b.path, nil, tree.ModePersistent)
		switch {
		case err == nil, errors.Is(err, tree.ErrNodeExists):
			return nil
		case errors.Is(err, client.ErrConnectionLoss):
			continue // maybe created: the next try says NodeExists
		case errors.Is(err, tree.ErrNoNode):
			// A container ancestor can vanish while EnsurePath works (the
			// server deletes empty containers): then it says ErrNoNode and
			// we start over.
			err := recipe.EnsurePath(ctx, b.conn, parentOf(b.path))
			if err != nil && (!errors.Is(err, tree.ErrNoNode) || ctx.Err() != nil) {
				return fmt.Errorf("barrier: set %s: %w", b.path, err)
			}
		default:
			return fmt.Errorf("barrier: set %s: %w", b.path, err)
		}
	}
}

// Remove lowers the barrier: it deletes the barrier node, releasing every
// Wait. Removing a barrier that is not set is not an error. It returns
// nil once the server confirmed the node is gone; an error wrapping
// ctx.Err() when ctx ends (it may then be gone or not: call Remove again);
// the client's other errors (tree.ErrNotEmpty if someone created children
// under it).
func (b *Barrier) Remove(ctx context.Context) error {
	if b.err != nil {
		return b.err
	}
	if err := recipe.DeleteNode(ctx, b.conn, b.path); err != nil {
		return fmt.Errorf("barrier: remove %s: %w", b.path, err)
	}
	return nil
}

// IsSet reports whether the barrier node exists, as this client's server
// sees it. It returns the client's errors (ErrConnectionLoss is retried).
func (b *Barrier) IsSet(ctx context.Context) (bool, error) {
	if b.err != nil {
		return false, b.err
	}
	for {
		ok, _, err := b.conn.Exists(ctx, b.path)
		if errors.Is(err, client.ErrConnectionLoss) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("barrier: is set %s: %w", b.path, err)
		}
		return ok, nil
	}
}

// Wait blocks while the barrier is set and returns nil once the server
// says the barrier node does not exist (at once if it is not set). It
// watches the barrier node and reads it again after every wake-up (any
// event, a watch re-registered after a reconnect), so only the server's
// answer lets it through. It returns an error wrapping ctx.Err() when ctx
// ends, and wrapping client.ErrSessionExpired or client.ErrClosed if the
// session goes while it waits (it never hangs on a dead session).
//
// Every waiter watches the one barrier node, so all of them wake when it
// is removed: that is inherent to a barrier, whose point is to release
// everyone at once.
func (b *Barrier) Wait(ctx context.Context) error {
	if b.err != nil {
		return b.err
	}
	if err := recipe.WaitGone(ctx, b.conn, b.path, nil, nil); err != nil {
		return fmt.Errorf("barrier: wait %s: %w", b.path, err)
	}
	return nil
}

// parentOf returns the parent of an absolute path ("/" for "/a").
func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}
