package election

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/zabkit/zabkit/ensemble/client"
	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/recipes/internal/recipe"
	"github.com/zabkit/zabkit/tree"
)

// candidatePrefix is the recipe's own part of a candidate node's name:
// _c_<guid>-candidate-<seq>.
const candidatePrefix = "candidate-"

// Option configures an Election.
type Option func(*options)

type options struct {
	logger *slog.Logger
}

// WithLogger sets the logger for what the Election does in the background
// (a failed clean-up of a lost leadership's node); nil, the default,
// discards.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// Election is one participant in the election at a path: it campaigns
// with one candidate node at a time. Several Elections on the same Conn
// and path are distinct participants. Its methods are safe for concurrent
// use, but only one Campaign runs at a time.
type Election struct {
	conn recipes.Conn
	path string
	err  error // a bad path or conn, returned by every method
	log  *slog.Logger

	mu struct {
		sync.Mutex
		campaigning bool
		lead        *Leadership // the last leadership won, until Resign confirms
	}
}

// NewElection returns a participant in the election at path (the parent of
// the candidate nodes; created as a container when missing). It does not
// touch the server. A bad path or a nil conn is reported by every method
// (wrapping tree.ErrBadArguments).
func NewElection(conn recipes.Conn, path string, opts ...Option) *Election {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	e := &Election{conn: conn, path: path, log: o.logger}
	switch {
	case conn == nil:
		e.err = fmt.Errorf("election: nil conn: %w", tree.ErrBadArguments)
	case path == "/":
		e.err = fmt.Errorf("election: path %q: %w", path, tree.ErrBadArguments)
	default:
		if err := tree.ValidatePath(path, false); err != nil {
			e.err = fmt.Errorf("election: path %q: %w", path, err)
		}
	}
	return e
}

// Path returns the election's path.
func (e *Election) Path() string { return e.path }

// Campaign puts this participant up for election with value as its
// leader value, and blocks until it leads. It returns the Leadership won.
//
// It creates a protected ephemeral sequential node under the election's
// path (data: value); the lowest sequence number leads. While waiting it
// watches only the candidate just before it, and after every wake-up (that
// candidate's change or deletion, a reconnect) it lists the candidates
// again from the server; it leads only when the server's listing shows its
// node first.
//
// If this Election already leads (its Leadership is not lost and not
// resigned), Campaign proclaims value and returns that same Leadership,
// as etcd's Campaign does. If it holds a lost Leadership that Resign has
// not yet released, Campaign releases it first.
//
// When ctx ends, Campaign deletes its node (within recipe.CleanupTimeout)
// and returns an error wrapping ctx.Err(). It returns ErrCampaigning while
// another Campaign on e runs; an error wrapping ErrLost if the node or
// session went away while waiting (with client.ErrSessionExpired or
// client.ErrClosed when that was why); tree.ErrBadArguments for a bad
// path or a value over the server's data limit; and the client's other
// errors.
func (e *Election) Campaign(ctx context.Context, value []byte) (*Leadership, error) {
	if e.err != nil {
		return nil, e.err
	}
	e.mu.Lock()
	if e.mu.campaigning {
		e.mu.Unlock()
		return nil, ErrCampaigning
	}
	e.mu.campaigning = true
	held := e.mu.lead
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.mu.campaigning = false
		e.mu.Unlock()
	}()

	if held != nil {
		if held.live() {
			err := e.proclaim(ctx, held, value)
			if err == nil {
				return held, nil
			}
			if !errors.Is(err, ErrNotLeader) {
				return nil, err
			}
		}
		if err := e.Resign(ctx); err != nil {
			return nil, fmt.Errorf("election: campaign: releasing the lost leadership: %w", err)
		}
	}

	node, err := recipe.CreateProtected(ctx, e.conn, e.path, candidatePrefix, value, tree.ModeEphemeralSequential)
	if err != nil {
		return nil, e.campaignErr(err)
	}
	l, err := e.wait(ctx, node)
	if err != nil {
		if !errors.Is(err, ErrLost) {
			e.deleteAfter(node)
		}
		return nil, e.campaignErr(err)
	}
	e.mu.Lock()
	e.mu.lead = l
	e.mu.Unlock()
	return l, nil
}

// campaignErr wraps err for Campaign's caller, adding ErrLost when the
// session is gone.
func (e *Election) campaignErr(err error) error {
	if errors.Is(err, ErrLost) {
		return fmt.Errorf("election: campaign %s: %w", e.path, err)
	}
	if errors.Is(err, client.ErrSessionExpired) || errors.Is(err, client.ErrClosed) {
		return fmt.Errorf("election: campaign %s: %w: %w", e.path, ErrLost, err)
	}
	return fmt.Errorf("election: campaign %s: %w", e.path, err)
}

// deleteAfter deletes node on a context of its own, after the caller's
// call gave up.
func (e *Election) deleteAfter(node string) {
	ctx, cancel := context.WithTimeout(context.Background(), recipe.CleanupTimeout)
	defer cancel()
	if err := recipe.DeleteNode(ctx, e.conn, node); err != nil && !sessionGone(err) {
		e.log.Warn("candidate node left behind", "path", node, "err", err)
	}
}

// wait is the candidate's loop: it returns the Leadership once the
// server lists node first.
func (e *Election) wait(ctx context.Context, node string) (*Leadership, error) {
	states, unsubscribe := e.conn.Subscribe()
	defer unsubscribe()
	name := recipe.Base(node)
	for {
		names, err := e.candidates(ctx)
		if err != nil {
			if errors.Is(err, client.ErrConnectionLoss) {
				continue
			}
			if errors.Is(err, tree.ErrNoNode) {
				return nil, fmt.Errorf("candidate node %s is gone (so is its parent): %w", node, ErrLost)
			}
			return nil, err
		}
		me := indexOf(names, name)
		if me < 0 {
			return nil, fmt.Errorf("candidate node %s is gone: %w", node, ErrLost)
		}
		if dup := duplicates(names, name); len(dup) > 0 {
			// This candidate's own second node (see recipe.FindProtected), ahead of
			// it in line: it would lead with nobody knowing.
			for _, n := range dup {
				if err := recipe.DeleteNode(ctx, e.conn, recipe.Join(e.path, n)); err != nil {
					return nil, err
				}
			}
			continue
		}
		if me == 0 {
			// The server lists this node first: it leads. Read its czxid
			// (the token) and set the watch that tells the Leadership when
			// the node goes.
			_, stat, ch, err := e.conn.GetW(ctx, node)
			switch {
			case err == nil:
				return newLeadership(e.conn, node, int64(stat.Czxid), ch, e.log), nil
			case errors.Is(err, client.ErrConnectionLoss):
				continue
			case errors.Is(err, tree.ErrNoNode):
				return nil, fmt.Errorf("candidate node %s is gone: %w", node, ErrLost)
			default:
				return nil, err
			}
		}
		// Watch only the candidate just before this one (no herd). GetW
		// sets no watch on a node that is already gone.
		_, _, ch, err := e.conn.GetW(ctx, recipe.Join(e.path, names[me-1]))
		switch {
		case err == nil:
		case errors.Is(err, client.ErrConnectionLoss), errors.Is(err, tree.ErrNoNode):
			continue
		default:
			return nil, err
		}
		if err := waitWake(ctx, ch, &states); err != nil {
			return nil, err
		}
	}
}

// waitWake blocks until the watch ch fires, the connection state changes
// (a reconnect: look again, a session event is not a node event), or ctx
// ends (its error is returned). A closed states channel is set to nil.
func waitWake(ctx context.Context, ch <-chan client.Event, states *<-chan client.State) error {
	select {
	case <-ch:
	case _, ok := <-*states:
		if !ok {
			*states = nil
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// candidates returns the candidate node names under the election's path,
// in sequence order (leader first), as the server lists them.
func (e *Election) candidates(ctx context.Context) ([]string, error) {
	names, _, err := e.conn.Children(ctx, e.path)
	if err != nil {
		return nil, err
	}
	return filterCandidates(names), nil
}

// filterCandidates keeps the names of candidate nodes, sorted by sequence.
func filterCandidates(names []string) []string {
	out := names[:0:0]
	for _, n := range names {
		if _, ok := recipe.Seq(n); ok && recipe.Prefix(n) == candidatePrefix {
			out = append(out, n)
		}
	}
	return recipe.SortBySeq(out)
}

// duplicates returns the names other than name that carry name's GUID:
// nodes this participant created itself when a create whose reply was
// lost was not found at once and was made again.
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

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

// sessionGone reports whether err says the session is gone, and with it
// every ephemeral node it owned.
func sessionGone(err error) bool {
	return errors.Is(err, client.ErrSessionExpired) || errors.Is(err, client.ErrClosed)
}

// Resign gives up the leadership this Election holds: it cancels the
// Leadership's Context (Lost is not closed), then deletes its node, so the
// next candidate leads. It returns nil once the server confirmed the node
// is gone (or the session is, which takes its ephemerals with it); only
// then does the Election forget the Leadership. It is idempotent: with no
// leadership held it returns nil at once. On failure (ctx ended: an error
// wrapping ctx.Err(); or another client error) the node may still exist
// and Resign can be called again.
//
// Resign does not withdraw a Campaign that is still waiting: cancel that
// Campaign's ctx instead (it deletes its node).
func (e *Election) Resign(ctx context.Context) error {
	if e.err != nil {
		return e.err
	}
	e.mu.Lock()
	l := e.mu.lead
	e.mu.Unlock()
	if l == nil {
		return nil
	}
	l.release()
	if !l.isGone() {
		err := recipe.DeleteNode(ctx, e.conn, l.node)
		if err != nil && !sessionGone(err) {
			return fmt.Errorf("election: resign %s: %w", l.node, err)
		}
		l.markGone()
	}
	e.mu.Lock()
	if e.mu.lead == l {
		e.mu.lead = nil
	}
	e.mu.Unlock()
	return nil
}

// Proclaim replaces the leader value with value, only while this Election
// still leads: one Multi checks that its node exists and sets its data,
// so a participant that lost its node can never overwrite a newer
// leader's value. It retries after a connection loss (setting the same
// value twice is harmless). It returns an error wrapping ErrNotLeader if
// this Election does not lead, or the server says its node or session is
// gone (then the Leadership is marked lost); an error wrapping ctx.Err()
// when ctx ends; tree.ErrBadArguments for a value over the data limit.
func (e *Election) Proclaim(ctx context.Context, value []byte) error {
	if e.err != nil {
		return e.err
	}
	e.mu.Lock()
	l := e.mu.lead
	e.mu.Unlock()
	if l == nil {
		return fmt.Errorf("election: proclaim %s: %w", e.path, ErrNotLeader)
	}
	return e.proclaim(ctx, l, value)
}

func (e *Election) proclaim(ctx context.Context, l *Leadership, value []byte) error {
	for {
		if !l.live() {
			return fmt.Errorf("election: proclaim %s: %w", l.node, ErrNotLeader)
		}
		_, err := e.conn.Multi(ctx, client.CheckOp(l.node, tree.AnyVersion), client.SetOp(l.node, value, tree.AnyVersion))
		switch {
		case err == nil:
			return nil
		case errors.Is(err, client.ErrConnectionLoss):
			continue
		case errors.Is(err, tree.ErrNoNode), sessionGone(err):
			l.markGone()
			l.lose()
			return fmt.Errorf("election: proclaim %s: %w: %w", l.node, ErrNotLeader, err)
		default:
			return fmt.Errorf("election: proclaim %s: %w", l.node, err)
		}
	}
}

// Leader returns the current leader as the server sees it: the first
// candidate node, its value and token. It syncs this client's server with
// the leader of the ensemble first, so the answer is no older than any
// change committed before the call. It returns ErrNoLeader when no
// candidate stands (or the election's path does not exist), an error
// wrapping ctx.Err() when ctx ends, and the client's other errors
// (ErrConnectionLoss is retried).
func (e *Election) Leader(ctx context.Context) (Leader, error) {
	if e.err != nil {
		return Leader{}, e.err
	}
	for {
		ld, _, err := e.readLeader(ctx, false, true)
		if errors.Is(err, client.ErrConnectionLoss) {
			continue
		}
		if err != nil {
			return Leader{}, fmt.Errorf("election: leader %s: %w", e.path, err)
		}
		if ld.None() {
			return Leader{}, fmt.Errorf("election: leader %s: %w", e.path, ErrNoLeader)
		}
		return ld, nil
	}
}

// readLeader reads the leader from the server: the zero Leader when there
// is none. With watch it returns a watch channel that fires when that
// changes (the leader node's data or deletion; with no leader, the path's
// children or, if the path is missing, its creation).
func (e *Election) readLeader(ctx context.Context, watch, sync bool) (Leader, <-chan client.Event, error) {
	if sync {
		if err := e.conn.Sync(ctx, e.path); err != nil && !errors.Is(err, tree.ErrNoNode) {
			return Leader{}, nil, err
		}
	}
	for {
		names, err := e.candidates(ctx)
		if errors.Is(err, tree.ErrNoNode) {
			if !watch {
				return Leader{}, nil, nil
			}
			ok, _, ch, err := e.conn.ExistsW(ctx, e.path)
			if err != nil {
				return Leader{}, nil, err
			}
			if ok {
				continue
			}
			return Leader{}, ch, nil
		}
		if err != nil {
			return Leader{}, nil, err
		}
		if len(names) == 0 {
			if !watch {
				return Leader{}, nil, nil
			}
			// Nobody stands: watch the children (a new candidate), after
			// listing again with the watch set so none is missed.
			all, _, ch, err := e.conn.ChildrenW(ctx, e.path)
			if errors.Is(err, tree.ErrNoNode) {
				continue
			}
			if err != nil {
				return Leader{}, nil, err
			}
			if len(filterCandidates(all)) > 0 {
				continue
			}
			return Leader{}, ch, nil
		}
		node := recipe.Join(e.path, names[0])
		var (
			data []byte
			stat tree.Stat
			ch   <-chan client.Event
		)
		if watch {
			data, stat, ch, err = e.conn.GetW(ctx, node)
		} else {
			data, stat, err = e.conn.Get(ctx, node)
		}
		if errors.Is(err, tree.ErrNoNode) {
			continue // the leader went between the listing and the read
		}
		if err != nil {
			return Leader{}, nil, err
		}
		return Leader{Node: node, Value: data, Token: int64(stat.Czxid), Version: stat.Version}, ch, nil
	}
}

// Candidates returns the full paths of the candidate nodes standing, in
// order: the leader first, then the order in which they will lead. It
// returns an empty list when the path does not exist, and the client's
// errors (ErrConnectionLoss is retried) or an error wrapping ctx.Err().
func (e *Election) Candidates(ctx context.Context) ([]string, error) {
	if e.err != nil {
		return nil, e.err
	}
	for {
		names, err := e.candidates(ctx)
		switch {
		case err == nil:
			out := make([]string, len(names))
			for i, n := range names {
				out[i] = recipe.Join(e.path, n)
			}
			return out, nil
		case errors.Is(err, tree.ErrNoNode):
			return nil, nil
		case errors.Is(err, client.ErrConnectionLoss):
			continue
		default:
			return nil, fmt.Errorf("election: candidates %s: %w", e.path, err)
		}
	}
}

// Leader is a leader as read from the server. The zero Leader (None) means
// no candidate stands.
type Leader struct {
	// Node is the full path of the leader's candidate node ("" for none).
	Node string
	// Value is the leader's value: what it passed to Campaign, or its last
	// Proclaim.
	Value []byte
	// Token is the leader node's czxid: the leadership's fencing token.
	// It strictly increases from one leader to the next.
	Token int64
	// Version is the node's data version: 0 after Campaign, one more after
	// each Proclaim.
	Version int32
}

// None reports whether l stands for "no leader".
func (l Leader) None() bool { return l.Node == "" }

// String describes l for logs.
func (l Leader) String() string {
	if l.None() {
		return "no leader"
	}
	return fmt.Sprintf("leader %s (token %d, version %d): %q", l.Node[strings.LastIndexByte(l.Node, '/')+1:], l.Token, l.Version, l.Value)
}
