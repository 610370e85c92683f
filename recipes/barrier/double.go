package barrier

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/recipes/internal/recipe"
	"github.com/zabkit/zabkit/tree"
)

const (
	// memberPrefix is the recipe's own part of a member node's name:
	// _c_<guid>-member-<seq>.
	memberPrefix = "member-"
	// readyName is the node the member that completes a round creates.
	readyName = "ready"
)

// Option configures a DoubleBarrier.
type Option func(*options)

type options struct {
	data []byte
}

// WithData sets the data of the member's node (an id, an address), which
// Members lists with it. The default is none.
func WithData(data []byte) Option {
	return func(o *options) { o.data = append([]byte(nil), data...) }
}

// DoubleBarrier is one member of a double barrier of n at a path: Enter
// blocks until n members are in, Leave until every member of the round has
// left. Several DoubleBarriers on the same Conn and path are distinct
// members. Its methods are safe for concurrent use, but Enter and Leave do
// not run concurrently on one member (ErrBusy).
type DoubleBarrier struct {
	conn  recipes.Conn
	path  string
	ready string
	n     int
	data  []byte
	err   error

	mu struct {
		sync.Mutex
		busy    bool
		entered bool
		node    string // this member's node; "" once deleted
		round   int64  // the sequence number that opened its round
		version int32  // the ready node's version when it entered
	}
}

// NewDoubleBarrier returns a member of the double barrier of n (at least
// 1) at path. It does not touch the server. A bad path, n < 1 or a nil
// conn is reported by every method (wrapping tree.ErrBadArguments).
func NewDoubleBarrier(conn recipes.Conn, path string, n int, opts ...Option) *DoubleBarrier {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	d := &DoubleBarrier{conn: conn, path: path, n: n, data: o.data, err: checkArgs(conn, path)}
	if d.err == nil && n < 1 {
		d.err = fmt.Errorf("barrier: n = %d, want at least 1: %w", n, tree.ErrBadArguments)
	}
	if d.err == nil {
		d.ready = recipe.Join(path, readyName)
	}
	return d
}

// Path returns the double barrier's path.
func (d *DoubleBarrier) Path() string { return d.path }

// Node returns the full path of this member's node while it is in (after
// Enter, until Leave deletes it), else "".
func (d *DoubleBarrier) Node() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.mu.entered {
		return ""
	}
	return d.mu.node
}

// begin marks the member busy; entered says which state the call needs.
func (d *DoubleBarrier) begin(entered bool) error {
	if d.err != nil {
		return d.err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.mu.busy:
		return ErrBusy
	case entered && !d.mu.entered:
		return ErrNotEntered
	case !entered && d.mu.entered:
		return ErrEntered
	}
	d.mu.busy = true
	return nil
}

func (d *DoubleBarrier) done() {
	d.mu.Lock()
	d.mu.busy = false
	d.mu.Unlock()
}

// Enter joins the barrier and blocks until at least n members are in.
//
// It creates a protected ephemeral sequential member node, watches the
// ready node and counts the members; the member that finds n or more
// creates the ready node, recording the highest sequence number it
// counted, and every member with a sequence number up to that one goes
// through. A member that arrives while a round is still in progress (the
// ready node was made for members before it, and some of them are still
// in) waits for that round to end and counts towards the next. After
// every wake-up (a watch event, a reconnect) it reads the ready node and
// the members from the server again: no event, session change or
// unrelated change lets a member through.
//
// When ctx ends, Enter deletes its node and returns an error wrapping
// ctx.Err(). It returns ErrEntered if this member is in, ErrBusy if
// another call on it runs, an error wrapping ErrLost if its node or
// session went away while it waited (with client.ErrSessionExpired or
// client.ErrClosed when that was why), and the client's other errors.
func (d *DoubleBarrier) Enter(ctx context.Context) error {
	if err := d.begin(false); err != nil {
		return err
	}
	defer d.done()
	node, err := recipe.CreateProtected(ctx, d.conn, d.path, memberPrefix, d.data, tree.ModeEphemeralSequential)
	if err != nil {
		return d.wrap("enter", err)
	}
	seq, _ := recipe.Seq(recipe.Base(node))
	round, version, err := d.enter(ctx, node, seq)
	if err != nil {
		if !errors.Is(err, ErrLost) && !sessionGone(err) {
			err = d.cleanup(node, err)
		}
		return d.wrap("enter", err)
	}
	d.mu.Lock()
	d.mu.entered, d.mu.node, d.mu.round, d.mu.version = true, node, round, version
	d.mu.Unlock()
	return nil
}

// enter is Enter's loop. It returns the round's opening sequence number
// and the ready node's version once the server says this member is in.
func (d *DoubleBarrier) enter(ctx context.Context, node string, seq int64) (int64, int32, error) {
	states, unsubscribe := subscribe(d.conn)
	defer unsubscribe()
	name := recipe.Base(node)
	var readyCh <-chan client.Event
	for {
		// Watch the ready node first, so that its creation after the count
		// below is not missed. The watch is kept until it fires.
		if fired(readyCh) {
			readyCh = nil
		}
		var (
			ready bool
			err   error
		)
		if readyCh == nil {
			ready, _, readyCh, err = d.conn.ExistsW(ctx, d.ready)
		} else {
			ready, _, err = d.conn.Exists(ctx, d.ready)
		}
		if errors.Is(err, client.ErrConnectionLoss) {
			continue
		}
		if err != nil {
			return 0, 0, err
		}
		open, version := int64(-1), int32(0)
		if ready {
			data, stat, err := d.conn.Get(ctx, d.ready)
			switch {
			case err == nil:
				open, version = parseOpen(data), stat.Version
			case errors.Is(err, tree.ErrNoNode):
				ready = false
			case errors.Is(err, client.ErrConnectionLoss):
				continue
			default:
				return 0, 0, err
			}
		}
		members, err := d.members(ctx)
		switch {
		case err == nil:
		case errors.Is(err, client.ErrConnectionLoss):
			continue
		case errors.Is(err, tree.ErrNoNode):
			return 0, 0, fmt.Errorf("member node %s is gone (so is its parent): %w", node, ErrLost)
		default:
			return 0, 0, err
		}
		if indexOf(members, name) < 0 {
			return 0, 0, fmt.Errorf("member node %s is gone: %w", node, ErrLost)
		}
		if dup := duplicates(members, name); len(dup) > 0 {
			if err := d.deleteAll(ctx, dup); err != nil {
				return 0, 0, err
			}
			continue
		}
		if ready && open >= seq {
			return open, version, nil // counted in the open round
		}
		if ready {
			if earlier := upTo(members, open); len(earlier) > 0 {
				// A round this member is too late for is still in progress:
				// wait for it to end, watching the last of its members.
				_, _, ch, err := d.conn.GetW(ctx, recipe.Join(d.path, earlier[len(earlier)-1]))
				switch {
				case err == nil:
				case errors.Is(err, client.ErrConnectionLoss), errors.Is(err, tree.ErrNoNode):
					continue
				default:
					return 0, 0, err
				}
				if err := wake(ctx, &states, ch, readyCh); err != nil {
					return 0, 0, err
				}
				continue
			}
			// else the ready node is stale: every member of its round left
		}
		if len(members) >= d.n {
			// Open the round for every member counted here; the loop then
			// reads it back from the server.
			top, _ := recipe.Seq(members[len(members)-1])
			data := strconv.AppendInt(nil, top, 10)
			if ready {
				_, err = d.conn.Set(ctx, d.ready, data, version)
			} else {
				_, err = d.conn.Create(ctx, d.ready, data, tree.ModePersistent)
			}
			switch {
			case err == nil, errors.Is(err, client.ErrConnectionLoss), errors.Is(err, tree.ErrNodeExists),
				errors.Is(err, tree.ErrBadVersion), errors.Is(err, tree.ErrNoNode):
				continue
			default:
				return 0, 0, err
			}
		}
		if err := wake(ctx, &states, readyCh, nil); err != nil {
			return 0, 0, err
		}
	}
}

// Leave leaves the barrier and blocks until every member of this member's
// round is out (members that entered a later round are not waited for).
//
// It follows ZooKeeper's scheme, which has no herd: the lowest member of
// the round waits for the highest to go; every other member deletes its
// node and waits for the lowest, which goes last; each re-reads the
// members from the server after every wake-up. The last member out also
// deletes the ready node, in the same Multi as its own node.
//
// When ctx ends, Leave deletes this member's node if it is still there
// (it has left, but has not seen the others leave) and returns an error
// wrapping ctx.Err(); calling Leave again waits for the others. It returns
// ErrNotEntered if this member is not in, ErrBusy if another call on it
// runs, an error wrapping ErrLost (and client.ErrSessionExpired or
// client.ErrClosed) if the session went away: its node is gone with it
// and the member is out. A member whose session expired while in counts
// as having left for everyone else.
func (d *DoubleBarrier) Leave(ctx context.Context) error {
	if err := d.begin(true); err != nil {
		return err
	}
	defer d.done()
	d.mu.Lock()
	node, round, version := d.mu.node, d.mu.round, d.mu.version
	d.mu.Unlock()

	node, err := d.leave(ctx, node, round, version)
	switch {
	case err == nil:
	case sessionGone(err):
		err = fmt.Errorf("%w: %w", ErrLost, err)
	case node != "":
		if err = d.cleanup(node, err); !errors.Is(err, errLeftBehind) {
			node = ""
		}
	}
	d.mu.Lock()
	d.mu.node = node
	if err == nil || errors.Is(err, ErrLost) {
		d.mu.entered, d.mu.node = false, ""
	}
	d.mu.Unlock()
	return d.wrap("leave", err)
}

// leave is Leave's loop. It returns this member's node, "" once deleted.
func (d *DoubleBarrier) leave(ctx context.Context, node string, round int64, version int32) (string, error) {
	states, unsubscribe := subscribe(d.conn)
	defer unsubscribe()
	for {
		members, err := d.members(ctx)
		switch {
		case err == nil:
		case errors.Is(err, client.ErrConnectionLoss):
			continue
		case errors.Is(err, tree.ErrNoNode):
			return "", nil // the path is gone: nobody is in
		default:
			return node, err
		}
		if node != "" {
			if dup := duplicates(members, recipe.Base(node)); len(dup) > 0 {
				if err := d.deleteAll(ctx, dup); err != nil {
					return node, err
				}
				continue
			}
		}
		in := upTo(members, round)
		me := -1
		if node != "" {
			me = indexOf(in, recipe.Base(node))
			if me < 0 {
				node = "" // gone (deleted by someone else)
			}
		}
		switch {
		case len(in) == 0:
			return "", nil
		case me == 0 && len(in) == 1:
			// The last one out: delete the ready node with this member's,
			// so the next round starts clean; if the ready node is no
			// longer this round's, delete only this member's node.
			_, err := d.conn.Multi(ctx, client.DeleteOp(node, tree.AnyVersion), client.DeleteOp(d.ready, version))
			switch {
			case err == nil:
				return "", nil
			case errors.Is(err, client.ErrConnectionLoss):
				continue // the listing says whether it was applied
			case errors.Is(err, tree.ErrNoNode), errors.Is(err, tree.ErrBadVersion):
				if err := recipe.DeleteNode(ctx, d.conn, node); err != nil {
					return node, err
				}
				return "", nil
			default:
				return node, err
			}
		case me > 0:
			if err := recipe.DeleteNode(ctx, d.conn, node); err != nil {
				return node, err
			}
			node = ""
			continue
		}
		// The lowest waits for the highest; the others (already out) wait
		// for the lowest, which goes last.
		target := in[0]
		if me == 0 {
			target = in[len(in)-1]
		}
		_, _, ch, err := d.conn.GetW(ctx, recipe.Join(d.path, target))
		switch {
		case err == nil:
		case errors.Is(err, client.ErrConnectionLoss), errors.Is(err, tree.ErrNoNode):
			continue
		default:
			return node, err
		}
		if err := wake(ctx, &states, ch, nil); err != nil {
			return node, err
		}
	}
}

// Members returns the full paths of the member nodes (every round), in
// sequence order. It returns an empty list when the path does not exist,
// and the client's errors (ErrConnectionLoss is retried) or an error
// wrapping ctx.Err().
func (d *DoubleBarrier) Members(ctx context.Context) ([]string, error) {
	if d.err != nil {
		return nil, d.err
	}
	for {
		names, err := d.members(ctx)
		switch {
		case err == nil:
			out := make([]string, len(names))
			for i, n := range names {
				out[i] = recipe.Join(d.path, n)
			}
			return out, nil
		case errors.Is(err, tree.ErrNoNode):
			return nil, nil
		case errors.Is(err, client.ErrConnectionLoss):
			continue
		default:
			return nil, fmt.Errorf("barrier: members %s: %w", d.path, err)
		}
	}
}

// members lists the member node names from the server, in sequence order.
func (d *DoubleBarrier) members(ctx context.Context) ([]string, error) {
	names, _, err := d.conn.Children(ctx, d.path)
	if err != nil {
		return nil, err
	}
	out := names[:0:0]
	for _, n := range names {
		if _, ok := recipe.Seq(n); ok && recipe.Prefix(n) == memberPrefix {
			out = append(out, n)
		}
	}
	return recipe.SortBySeq(out), nil
}

// duplicates returns the names other than name that carry name's GUID:
// nodes this member created itself when a create whose reply was lost was
// not found at once and was made again (see recipe.FindProtected). They are its own
// and must go, or they would count as members nobody owns.
func duplicates(names []string, name string) []string {
	guid, ok := recipe.GUIDOf(name)
	if !ok {
		return nil
	}
	var out []string
	for _, n := range names {
		if g, ok := recipe.GUIDOf(n); ok && g == guid && n != name {
			out = append(out, n)
		}
	}
	return out
}

// deleteAll deletes the named children of the path.
func (d *DoubleBarrier) deleteAll(ctx context.Context, names []string) error {
	for _, n := range names {
		if err := recipe.DeleteNode(ctx, d.conn, recipe.Join(d.path, n)); err != nil {
			return err
		}
	}
	return nil
}

// errLeftBehind marks a cancelled call whose node could not be deleted.
var errLeftBehind = errors.New("barrier: member node left behind")

// cleanup deletes node after a call gave up with err (on a context of its
// own: the call's has usually ended) and returns err, noting a node it
// could not delete.
func (d *DoubleBarrier) cleanup(node string, err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), recipe.CleanupTimeout)
	defer cancel()
	if derr := recipe.DeleteNode(ctx, d.conn, node); derr != nil && !sessionGone(derr) {
		return fmt.Errorf("%w (%w: %s: %v)", err, errLeftBehind, node, derr)
	}
	return err
}

// wrap adds the call and path to err, and ErrLost when the session is
// gone.
func (d *DoubleBarrier) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case sessionGone(err) && !errors.Is(err, ErrLost):
		return fmt.Errorf("barrier: %s %s: %w: %w", op, d.path, ErrLost, err)
	default:
		return fmt.Errorf("barrier: %s %s: %w", op, d.path, err)
	}
}

// subscribe returns the conn's state changes, without the current state
// Subscribe sends first when it is already there.
func subscribe(c recipes.Conn) (<-chan client.State, func()) {
	states, unsubscribe := c.Subscribe()
	select {
	case <-states:
	default:
	}
	return states, unsubscribe
}

// wake blocks until one of the watch channels fires, the connection state
// changes (a session event is not a node event: the caller looks again),
// or ctx ends (its error is returned). A closed states channel is set to
// nil.
func wake(ctx context.Context, states *<-chan client.State, a, b <-chan client.Event) error {
	select {
	case <-a:
	case <-b:
	case _, ok := <-*states:
		if !ok {
			*states = nil
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// fired reports whether the one-shot watch ch has fired (it is then
// closed); a nil ch has not.
func fired(ch <-chan client.Event) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// upTo returns the names (sorted by sequence) whose sequence number is at
// most top.
func upTo(names []string, top int64) []string {
	for i, n := range names {
		if s, _ := recipe.Seq(n); s > top {
			return names[:i]
		}
	}
	return names
}

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

// parseOpen reads the ready node's data; anything unreadable counts as a
// round nobody is in.
func parseOpen(data []byte) int64 {
	n, err := strconv.ParseInt(string(data), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func sessionGone(err error) bool {
	return errors.Is(err, client.ErrSessionExpired) || errors.Is(err, client.ErrClosed)
}
