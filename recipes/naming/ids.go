package naming

import (
	"context"

	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/recipes/internal/recipe"
	"github.com/zabkit/zabkit/tree"
)

// idPrefix is the recipe's name for the nodes IDs draws ids from:
// <path>/_c_<guid>-id-<seq>.
const idPrefix = "id-"

// IDs hands out unique, increasing int64 ids. Each id is the creation
// zxid (czxid) of a node IDs creates under its path and deletes at once,
// so ids are unique across the whole ensemble (every path, every client)
// and each is greater than every id any client got before the call
// began. See the package doc, "Unique ids".
//
// An IDs is safe for concurrent use; it holds no state besides its Conn
// and path.
type IDs struct {
	conn recipes.Conn
	path string
	err  error
}

// NewIDs returns an IDs drawing ids under path on conn. It does no I/O;
// a bad path is reported by Next.
func NewIDs(conn recipes.Conn, path string) *IDs {
	g := &IDs{conn: conn, path: path, err: checkBase(path)}
	if g.err == nil && conn == nil {
		g.err = errNilConn
	}
	return g
}

// Path returns the base path.
func (g *IDs) Path() string { return g.path }

// Next returns a new id: a positive int64 greater than every id Next
// returned, to any client on any path, before this call began. Ids are
// not dense: they jump by the number of writes the ensemble applied in
// between, and by 2^32 steps across leader elections.
//
// It creates an ephemeral protected sequential node
// <path>/_c_<guid>-id-<seq> (missing parents as containers), reads its
// czxid and deletes it. After ErrConnectionLoss on the create it adopts
// its own node (found by GUID among its session's ephemerals) instead of
// creating another, so a lost reply neither skips nor repeats an id and
// leaves no node behind. If ctx ends, the node is deleted (within
// recipe.CleanupTimeout) and ctx.Err() is returned; once the id is known
// the delete runs even if ctx ended meanwhile, and a delete that cannot
// finish leaves an ephemeral node that dies with the session.
//
// It fails with ErrBadName, ctx.Err(), client.ErrSessionExpired,
// client.ErrClosed, or a tree error (e.g. tree.ErrNoChildrenForEphemerals
// if path is under an ephemeral node).
func (g *IDs) Next(ctx context.Context) (int64, error) {
	if g.err != nil {
		return 0, g.err
	}
	for {
		p, err := recipe.CreateProtected(ctx, g.conn, g.path, idPrefix, nil, tree.ModeEphemeralSequential)
		if err != nil {
			return 0, err
		}
		ok, st, err := g.stat(ctx, p)
		dctx, cancel := cleanupCtx(ctx)
		_ = recipe.DeleteNode(dctx, g.conn, p) // ephemeral: an unfinished delete ends with the session
		cancel()
		if err != nil {
			return 0, err
		}
		if ok {
			return int64(st.Czxid), nil
		}
		// Someone deleted our node before we read it: its czxid is lost,
		// draw again.
		if err := ctx.Err(); err != nil {
			return 0, err
		}
	}
}

// stat reads p's Stat, retrying after connection losses.
func (g *IDs) stat(ctx context.Context, p string) (bool, tree.Stat, error) {
	for {
		ok, st, err := g.conn.Exists(ctx, p)
		if err == nil || !connLoss(err) {
			return ok, st, err
		}
		if ctx.Err() != nil {
			return false, tree.Stat{}, ctx.Err()
		}
	}
}
