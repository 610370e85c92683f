package election

import (
	"context"
	"errors"

	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/recipes/internal/recipe"
	"github.com/zabkit/zabkit/tree"
)

// syncedConn is the Conn this package hands to recipe.CreateProtected.
// After a lost create reply, CreateProtected looks for its node among the
// session's ephemerals before creating again; the client may have
// reconnected to a server that has not applied that create yet, and would
// then create a second node with the same GUID, leaving the first as an
// orphan ahead of it in line (a leader nobody knows of).
// Syncing the server with the leader first makes the lookup see every
// create committed before it.
//
// TODO(lead): this belongs in recipe.FindProtected (a Sync before the
// lookup, for both modes); drop this wrapper once it is there.
type syncedConn struct{ recipes.Conn }

// GetEphemerals syncs, then lists this session's ephemerals under prefix.
// It returns the client's errors.
func (c syncedConn) GetEphemerals(ctx context.Context, prefix string) ([]string, error) {
	if err := c.Conn.Sync(ctx, "/"); err != nil {
		return nil, err
	}
	return c.Conn.GetEphemerals(ctx, prefix)
}

// createTries bounds how often createProtected starts over when a parent
// vanished under it.
const createTries = 10

// createProtected is recipe.CreateProtected on a syncedConn, started over
// when it fails with ErrNoNode: the parent is a container, which the
// server deletes once its last child is gone, so it can vanish between
// recipe.EnsurePath creating (or finding) it and the create below it.
// Nothing was created then, so trying again is safe.
//
// TODO(lead): EnsurePath itself could start over on ErrNoNode.
func createProtected(ctx context.Context, c recipes.Conn, parent, name string, data []byte, mode tree.CreateMode) (string, error) {
	for try := 1; ; try++ {
		node, err := recipe.CreateProtected(ctx, syncedConn{c}, parent, name, data, mode)
		if err == nil || !errors.Is(err, tree.ErrNoNode) || try == createTries || ctx.Err() != nil {
			return node, err
		}
	}
}
