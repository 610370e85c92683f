package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zabkit/zabkit/ensemble/wire"
	"github.com/zabkit/zabkit/tree"
)

// Every method below takes a ctx. If ctx ends before the reply, the method
// returns ctx.Err() at once, but a request already written may still be
// applied by the server: as with ErrConnectionLoss, the outcome of a write
// is then unknown. A request not yet written when ctx ends is never sent.
// Every method returns ErrClosed after Close and ErrSessionExpired after the
// session expired. The data slices passed in are not kept after a method
// returns; those returned belong to the caller.

// statOf returns *s, or the zero Stat for nil.
func statOf(s *tree.Stat) tree.Stat {
	if s == nil {
		return tree.Stat{}
	}
	return *s
}

// Create creates path with data in mode and returns the path created (with
// the sequence suffix for sequential modes). It fails with ErrNodeExists,
// ErrNoNode (no parent), ErrNoChildrenForEphemerals, ErrBadArguments (bad
// path, data too large, a TTL mode: use CreateTTL) or ErrSequenceOverflow.
func (c *Client) Create(ctx context.Context, path string, data []byte, mode tree.CreateMode) (string, error) {
	return c.create(ctx, path, data, mode, 0)
}

// CreateTTL is Create for the TTL modes (ModePersistentWithTTL,
// ModePersistentSequentialWithTTL): the server deletes the node once it has
// had no children and no change for ttl. It fails with ErrBadArguments for
// another mode or a ttl under a millisecond, and as Create otherwise.
func (c *Client) CreateTTL(ctx context.Context, path string, data []byte, mode tree.CreateMode, ttl time.Duration) (string, error) {
	if !mode.IsTTL() {
		return "", fmt.Errorf("%w: CreateTTL with mode %v", ErrBadArguments, mode)
	}
	if ttl < time.Millisecond {
		return "", fmt.Errorf("%w: ttl %v", ErrBadArguments, ttl)
	}
	return c.create(ctx, path, data, mode, ttl.Milliseconds())
}

func (c *Client) create(ctx context.Context, path string, data []byte, mode tree.CreateMode, ttl int64) (string, error) {
	if err := checkPath(path, mode.IsSequential()); err != nil {
		return "", err
	}
	cl := getCall(wire.OpCreate, path)
	defer putCall(cl)
	cl.req.Data = data
	cl.req.Mode = mode
	cl.req.TTL = ttl
	if err := c.do(ctx, cl); err != nil {
		return "", err
	}
	return cl.resp.Path, nil
}

// Get returns path's data and Stat, or ErrNoNode.
func (c *Client) Get(ctx context.Context, path string) ([]byte, tree.Stat, error) {
	return c.get(ctx, wire.OpGetData, path)
}

// GetLinearizable is Get, but the server answers only after it has applied
// every write committed before the request arrived (a read-index read), so
// the data is never older than any acknowledged write. It costs a round to
// the leader.
func (c *Client) GetLinearizable(ctx context.Context, path string) ([]byte, tree.Stat, error) {
	return c.get(ctx, wire.OpLinearizedRead, path)
}

func (c *Client) get(ctx context.Context, op wire.OpCode, path string) ([]byte, tree.Stat, error) {
	if err := checkPath(path, false); err != nil {
		return nil, tree.Stat{}, err
	}
	cl := getCall(op, path)
	defer putCall(cl)
	if err := c.do(ctx, cl); err != nil {
		return nil, tree.Stat{}, err
	}
	return cl.resp.Data, statOf(cl.resp.Stat), nil
}

// GetW is Get that also sets a one-shot data watch: the channel (buffered,
// capacity 1) receives one Event when path's data changes or path is
// deleted, and is then closed. It fails with ErrNoNode, and then sets no
// watch.
func (c *Client) GetW(ctx context.Context, path string) ([]byte, tree.Stat, <-chan Event, error) {
	if err := checkPath(path, false); err != nil {
		return nil, tree.Stat{}, nil, err
	}
	ch := make(chan Event, 1)
	cl := newCall(wire.OpGetData, path)
	cl.req.Watch = true
	cl.reg = &watchReg{kind: kindData, ch: ch}
	if err := c.do(ctx, cl); err != nil {
		return nil, tree.Stat{}, nil, err
	}
	return cl.resp.Data, statOf(cl.resp.Stat), ch, nil
}

// Set replaces path's data if its version is version (tree.AnyVersion: any)
// and returns the new Stat. It fails with ErrNoNode, ErrBadVersion or
// ErrBadArguments (data too large).
func (c *Client) Set(ctx context.Context, path string, data []byte, version int32) (tree.Stat, error) {
	if err := checkPath(path, false); err != nil {
		return tree.Stat{}, err
	}
	cl := getCall(wire.OpSetData, path)
	defer putCall(cl)
	cl.req.Data = data
	cl.req.Version = version
	if err := c.do(ctx, cl); err != nil {
		return tree.Stat{}, err
	}
	return statOf(cl.resp.Stat), nil
}

// Delete deletes path if its version is version (tree.AnyVersion: any). It
// fails with ErrNoNode, ErrBadVersion or ErrNotEmpty.
func (c *Client) Delete(ctx context.Context, path string, version int32) error {
	if err := checkPath(path, false); err != nil {
		return err
	}
	cl := getCall(wire.OpDelete, path)
	defer putCall(cl)
	cl.req.Version = version
	return c.do(ctx, cl)
}

// Exists reports whether path exists, with its Stat if it does. A missing
// node is not an error.
func (c *Client) Exists(ctx context.Context, path string) (bool, tree.Stat, error) {
	ok, st, _, err := c.exists(ctx, path, false)
	return ok, st, err
}

// ExistsW is Exists that also sets a one-shot watch, whether or not path
// exists: the channel (buffered, capacity 1) receives one Event when path is
// created, deleted or its data changes, and is then closed.
func (c *Client) ExistsW(ctx context.Context, path string) (bool, tree.Stat, <-chan Event, error) {
	return c.exists(ctx, path, true)
}

func (c *Client) exists(ctx context.Context, path string, watch bool) (bool, tree.Stat, <-chan Event, error) {
	if err := checkPath(path, false); err != nil {
		return false, tree.Stat{}, nil, err
	}
	cl := getCall(wire.OpExists, path)
	defer putCall(cl)
	var ch chan Event
	if watch {
		ch = make(chan Event, 1)
		cl.req.Watch = true
		cl.reg = &watchReg{kind: kindData, exists: true, ch: ch}
	}
	err := c.do(ctx, cl)
	switch {
	case err == nil:
		return true, statOf(cl.resp.Stat), ch, nil
	case errors.Is(err, ErrNoNode):
		return false, tree.Stat{}, ch, nil
	}
	return false, tree.Stat{}, nil, err
}

// maxListingRestarts bounds how often Children starts over when the
// children change between its pages.
const maxListingRestarts = 4

// Children returns path's children's names, sorted, and path's Stat. It
// fails with ErrNoNode. A large listing is fetched in pages (the server
// sizes them under its frame limit); if the children change between pages,
// Children starts over, a few times at most, and after that returns a
// listing that may mix states.
func (c *Client) Children(ctx context.Context, path string) ([]string, tree.Stat, error) {
	names, st, _, err := c.children(ctx, path, false)
	return names, st, err
}

// ChildrenW is Children that also sets a one-shot child watch, with the
// first page: the channel (buffered, capacity 1) receives one Event when a
// child is created or deleted or path is deleted, and is then closed. It
// fails with ErrNoNode, and then sets no watch.
func (c *Client) ChildrenW(ctx context.Context, path string) ([]string, tree.Stat, <-chan Event, error) {
	return c.children(ctx, path, true)
}

func (c *Client) children(ctx context.Context, path string, watch bool) ([]string, tree.Stat, <-chan Event, error) {
	if err := checkPath(path, false); err != nil {
		return nil, tree.Stat{}, nil, err
	}
	var ch chan Event
	for attempt := 0; ; attempt++ {
		var names []string
		var first tree.Stat
		after := ""
		restart := false
		for page := 0; ; page++ {
			cl := newCall(wire.OpGetChildren, path)
			cl.req.After = after
			if watch && ch == nil {
				ch = make(chan Event, 1)
				cl.req.Watch = true
				cl.reg = &watchReg{kind: kindChild, ch: ch}
			}
			if err := c.do(ctx, cl); err != nil {
				return nil, tree.Stat{}, nil, err
			}
			st := statOf(cl.resp.Stat)
			if page == 0 {
				first = st
				names = cl.resp.Children
			} else {
				if st.Cversion != first.Cversion && attempt < maxListingRestarts {
					restart = true
					break
				}
				names = append(names, cl.resp.Children...)
			}
			if !cl.resp.More || len(cl.resp.Children) == 0 {
				break
			}
			after = names[len(names)-1]
		}
		if !restart {
			if names == nil {
				names = []string{}
			}
			return names, first, ch, nil
		}
	}
}

// ChildrenPage returns at most max of path's children's names (max <= 0:
// as many as fit in a frame), sorted, starting after the name after ("" for
// the first), and whether more follow. Pages fetched one after the other are
// not one snapshot. It fails with ErrNoNode.
func (c *Client) ChildrenPage(ctx context.Context, path, after string, max int) (names []string, more bool, err error) {
	if err := checkPath(path, false); err != nil {
		return nil, false, err
	}
	cl := newCall(wire.OpGetChildren, path)
	cl.req.After = after
	if max > 0 {
		cl.req.Max = int32(min(max, 1<<31-1))
	}
	if err := c.do(ctx, cl); err != nil {
		return nil, false, err
	}
	return cl.resp.Children, cl.resp.More, nil
}

// CountChildren returns the number of path's descendants, at every depth
// (ZooKeeper's getAllChildrenNumber). It fails with ErrNoNode.
func (c *Client) CountChildren(ctx context.Context, path string) (int64, error) {
	if err := checkPath(path, false); err != nil {
		return 0, err
	}
	cl := newCall(wire.OpCountChildren, path)
	if err := c.do(ctx, cl); err != nil {
		return 0, err
	}
	return cl.resp.Count, nil
}

// Sync makes the server this client is connected to catch up with every
// write committed before the call, so that reads after it see them.
func (c *Client) Sync(ctx context.Context, path string) error {
	if err := checkPath(path, false); err != nil {
		return err
	}
	return c.do(ctx, newCall(wire.OpSync, path))
}

// GetEphemerals returns the full paths of this session's ephemeral nodes
// that start with prefix ("" or "/" for all), sorted.
func (c *Client) GetEphemerals(ctx context.Context, prefix string) ([]string, error) {
	if prefix == "" {
		prefix = "/"
	}
	cl := newCall(wire.OpGetEphemerals, prefix)
	if err := c.do(ctx, cl); err != nil {
		return nil, err
	}
	return cl.resp.Children, nil
}

// MultiResult is one op's outcome in a Multi.
type MultiResult struct {
	Type tree.OpType
	Path string    // tree.OpCreate: the path created
	Stat tree.Stat // the node's Stat after the op (zero for delete and check)
	Err  error     // nil, the op's error, ErrRolledBack or ErrRuntimeInconsistency
}

// CreateOp returns an op for Multi that creates path with data in mode.
func CreateOp(path string, data []byte, mode tree.CreateMode) tree.Op {
	return tree.Op{Type: tree.OpCreate, Path: path, Data: data, Mode: mode}
}

// CreateTTLOp returns an op for Multi that creates path in a TTL mode.
func CreateTTLOp(path string, data []byte, mode tree.CreateMode, ttl time.Duration) tree.Op {
	return tree.Op{Type: tree.OpCreate, Path: path, Data: data, Mode: mode, TTL: ttl.Milliseconds()}
}

// DeleteOp returns an op for Multi that deletes path at version (-1: any).
func DeleteOp(path string, version int32) tree.Op {
	return tree.Op{Type: tree.OpDelete, Path: path, Version: version}
}

// SetOp returns an op for Multi that sets path's data at version (-1: any).
func SetOp(path string, data []byte, version int32) tree.Op {
	return tree.Op{Type: tree.OpSetData, Path: path, Data: data, Version: version}
}

// CheckOp returns an op for Multi that fails unless path exists at version
// (-1: any).
func CheckOp(path string, version int32) tree.Op {
	return tree.Op{Type: tree.OpCheck, Path: path, Version: version}
}

// Multi applies ops atomically: all or none. It returns one MultiResult per
// op. When the multi failed it returns the results (the failing op carries
// its error, the others ErrRolledBack or ErrRuntimeInconsistency) and the
// failing op's error, wrapped with its index; when the request failed as a
// whole (ctx, connection, a bad path) it returns nil results and the error.
func (c *Client) Multi(ctx context.Context, ops ...tree.Op) ([]MultiResult, error) {
	for i, op := range ops {
		if err := checkPath(op.Path, op.Type == tree.OpCreate && op.Mode.IsSequential()); err != nil {
			return nil, fmt.Errorf("multi op %d: %w", i, err)
		}
	}
	cl := newCall(wire.OpMulti, "")
	cl.req.Ops = ops
	err := c.do(ctx, cl)
	if err != nil && len(cl.resp.Results) == 0 {
		return nil, err
	}
	results := make([]MultiResult, len(cl.resp.Results))
	var failed error
	for i, r := range cl.resp.Results {
		e := r.Code.Err("")
		results[i] = MultiResult{Type: r.Type, Path: r.Path, Stat: statOf(r.Stat), Err: e}
		if failed == nil && e != nil && !errors.Is(e, ErrRolledBack) && !errors.Is(e, ErrRuntimeInconsistency) {
			p := ""
			if i < len(ops) {
				p = ops[i].Path
			}
			failed = fmt.Errorf("multi op %d (%v %s): %w", i, r.Type, p, e)
		}
	}
	if failed == nil {
		failed = err
	}
	return results, failed
}

// AddWatch sets a persistent watch on path (recursive: on path and every
// descendant) and returns it. Unlike one-shot watches it stays until
// Watch.Remove, Close or expiry, and is re-registered after reconnects. A
// persistent watch gets every event on path; a recursive one gets created,
// deleted and data-changed events on path and below, never
// children-changed.
func (c *Client) AddWatch(ctx context.Context, path string, recursive bool) (*Watch, error) {
	if err := checkPath(path, false); err != nil {
		return nil, err
	}
	w := newWatch(c, path, recursive)
	cl := newCall(wire.OpAddWatch, path)
	if recursive {
		cl.req.WatchMode = wire.WatchPersistentRecursive
	}
	cl.reg = &watchReg{w: w}
	if err := c.do(ctx, cl); err != nil {
		return nil, err
	}
	return w, nil
}

// RemoveWatches removes this session's watches of type t on path, on the
// server and here: wire.WatchTypeData removes data and exists watches,
// WatchTypeChildren child watches, WatchTypePersistent and
// WatchTypePersistentRecursive that persistent watch, WatchTypeAny every
// watch including persistent ones. Each removed channel gets Event{Err: ErrWatchRemoved}
// and is closed. It fails with ErrNoWatcher when the server had none.
func (c *Client) RemoveWatches(ctx context.Context, path string, t wire.WatchType) error {
	if err := checkPath(path, false); err != nil {
		return err
	}
	if t < wire.WatchTypeChildren || t > wire.WatchTypePersistentRecursive {
		return fmt.Errorf("%w: watch type %d", ErrBadArguments, t)
	}
	cl := newCall(wire.OpRemoveWatches, path)
	cl.req.WatchType = t
	return c.do(ctx, cl)
}

// checkPath applies ZooKeeper's path rules (tree.ValidatePath) before
// anything is sent; it returns an error wrapping ErrBadArguments.
func checkPath(path string, sequential bool) error {
	return tree.ValidatePath(path, sequential)
}
