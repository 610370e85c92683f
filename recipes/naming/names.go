package naming

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/zabkit/zabkit/recipes"
	"github.com/zabkit/zabkit/recipes/internal/recipe"
	"github.com/zabkit/zabkit/tree"
)

// claimMagic starts the data of every claim node: "claim:" + the claim's
// 32-hex-character GUID + "\n" + the owner's data.
const claimMagic = "claim:"

// claimHeader is the length of the header before the owner's data.
const claimHeader = len(claimMagic) + 32 + 1

// encodeClaim returns the node data for a claim.
func encodeClaim(guid string, data []byte) []byte {
	b := make([]byte, 0, claimHeader+len(data))
	b = append(b, claimMagic...)
	b = append(b, guid...)
	b = append(b, '\n')
	return append(b, data...)
}

// decodeClaim splits claim node data into GUID and owner data. Data not
// written by Claim has no GUID and is returned whole.
func decodeClaim(b []byte) (guid string, data []byte) {
	if len(b) >= claimHeader && bytes.HasPrefix(b, []byte(claimMagic)) && b[claimHeader-1] == '\n' {
		return string(b[len(claimMagic) : claimHeader-1]), b[claimHeader:]
	}
	return "", b
}

// NamesOption configures NewNames.
type NamesOption func(*Names)

// WithPersistent makes claims persistent nodes: they outlive the session
// that made them and end only with Release (or a delete by hand). The
// default is ephemeral claims, which end with their session.
func WithPersistent() NamesOption { return func(n *Names) { n.persistent = true } }

// Names hands out unique names under a path: a name is claimed by
// creating <path>/<name>, so no two claims of one name can both succeed.
// Several Names (and several Claims) on one Conn are distinct claimants.
// A Names is safe for concurrent use.
type Names struct {
	conn       recipes.Conn
	path       string
	persistent bool
	err        error
}

// NewNames returns a Names claiming under path on conn. It does no I/O;
// a bad path is reported by every method.
func NewNames(conn recipes.Conn, path string, opts ...NamesOption) *Names {
	n := &Names{conn: conn, path: path, err: checkBase(path)}
	if n.err == nil && conn == nil {
		n.err = errNilConn
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

// Path returns the base path.
func (n *Names) Path() string { return n.path }

func (n *Names) mode() tree.CreateMode {
	if n.persistent {
		return tree.ModePersistent
	}
	return tree.ModeEphemeral
}

// ours reports whether a claim node with data d and Stat st is the claim
// with guid made on this Names' session (for ephemerals, the owner must
// be the session too: a GUID alone could be copied).
func (n *Names) ours(d []byte, st tree.Stat, guid string) bool {
	g, _ := decodeClaim(d)
	if g != guid {
		return false
	}
	if n.persistent {
		return st.EphemeralOwner == 0
	}
	return st.EphemeralOwner == n.conn.SessionID()
}

// Claim claims name for the caller, storing data (the owner's data, which
// Owner returns) in <path>/<name>, and returns the Claim. Exactly one of
// any number of concurrent Claims of one name succeeds, whichever
// sessions they use; the others get ErrTaken, until the winner releases
// or (ephemeral claims) its session ends.
//
// After ErrConnectionLoss on the create, Claim reads the node and decides
// by the per-claim GUID stored in its data (and, for ephemeral claims, by
// its ephemeralOwner being this session): its own node is adopted, anyone
// else's means ErrTaken, no node means create again. If ctx ends, a node
// this call created is deleted (within recipe.CleanupTimeout) and
// ctx.Err() is returned.
//
// It fails with ErrBadName, ErrTaken, ctx.Err(), client.ErrSessionExpired
// or client.ErrClosed (after which an ephemeral claim is gone; a
// persistent node whose create reply was lost with the session may stay,
// and Owner shows it), or another client error.
func (n *Names) Claim(ctx context.Context, name string, data []byte) (*Claim, error) {
	if n.err != nil {
		return nil, n.err
	}
	if err := checkName("name", n.path, name); err != nil {
		return nil, err
	}
	guid := recipe.NewGUID()
	path := recipe.Join(n.path, name)
	body := encodeClaim(guid, data)
	fail := func(err error) (*Claim, error) {
		if !n.persistent && sessionOver(err) {
			return nil, err // the node, if any, died with the session
		}
		cctx, cancel := cleanupCtx(ctx)
		defer cancel()
		_ = n.deleteOurs(cctx, path, guid)
		return nil, err
	}
	for {
		_, err := n.conn.Create(ctx, path, body, n.mode())
		switch {
		case err == nil, errors.Is(err, tree.ErrNodeExists), connLoss(err):
			// Created, taken, or unknown: the node says which.
			d, st, gerr := n.get(ctx, path)
			switch {
			case errors.Is(gerr, tree.ErrNoNode):
				continue // not created (or already deleted): try again
			case gerr != nil:
				return fail(gerr)
			case n.ours(d, st, guid):
				return n.newClaim(name, path, guid, data, st), nil
			default:
				return nil, fmt.Errorf("%w: %s", ErrTaken, path)
			}
		case errors.Is(err, tree.ErrNoNode):
			if err := recipe.EnsurePath(ctx, n.conn, n.path); err != nil {
				return fail(err)
			}
		default:
			return fail(err)
		}
	}
}

// get reads path, retrying after connection losses.
func (n *Names) get(ctx context.Context, path string) ([]byte, tree.Stat, error) {
	for {
		d, st, err := n.conn.Get(ctx, path)
		if err == nil || !connLoss(err) {
			return d, st, err
		}
		if ctx.Err() != nil {
			return nil, tree.Stat{}, ctx.Err()
		}
	}
}

// deleteOurs deletes path if it is the claim with guid (at the version
// read, so a node that changed hands meanwhile is left alone). It returns
// nil once the server confirmed no such node is left.
func (n *Names) deleteOurs(ctx context.Context, path, guid string) error {
	for {
		d, st, err := n.get(ctx, path)
		if errors.Is(err, tree.ErrNoNode) {
			return nil
		}
		if err != nil {
			return err
		}
		if !n.ours(d, st, guid) {
			return nil
		}
		err = n.conn.Delete(ctx, path, st.Version)
		switch {
		case err == nil, errors.Is(err, tree.ErrNoNode):
			return nil
		case errors.Is(err, tree.ErrBadVersion), connLoss(err):
			continue // read again
		default:
			return err
		}
	}
}

// Owner describes the current claim on a name.
type Owner struct {
	// Data is the data the owner passed to Claim (the whole node data if
	// the node was not made by Claim).
	Data []byte
	// Session is the owning session of an ephemeral claim, 0 for a
	// persistent one.
	Session tree.SessionID
	// Token is the claim node's czxid: it differs for every claim, and a
	// later claim of a name has a larger token.
	Token int64
}

// Owner returns who holds name. It fails with ErrNotClaimed, ErrBadName,
// ctx.Err() or a client error.
func (n *Names) Owner(ctx context.Context, name string) (Owner, error) {
	if n.err != nil {
		return Owner{}, n.err
	}
	if err := checkName("name", n.path, name); err != nil {
		return Owner{}, err
	}
	d, st, err := n.get(ctx, recipe.Join(n.path, name))
	if errors.Is(err, tree.ErrNoNode) {
		return Owner{}, fmt.Errorf("%w: %s", ErrNotClaimed, name)
	}
	if err != nil {
		return Owner{}, err
	}
	_, data := decodeClaim(d)
	return Owner{Data: data, Session: st.EphemeralOwner, Token: int64(st.Czxid)}, nil
}

// List returns the claimed names, sorted. It fails with ErrBadName,
// ctx.Err() or a client error.
func (n *Names) List(ctx context.Context) ([]string, error) {
	if n.err != nil {
		return nil, n.err
	}
	for {
		names, _, err := n.conn.Children(ctx, n.path)
		switch {
		case err == nil:
			return names, nil
		case errors.Is(err, tree.ErrNoNode):
			return []string{}, nil
		case connLoss(err) && ctx.Err() == nil:
			continue
		default:
			return nil, err
		}
	}
}

// Claim is a name held by one claimant. Its methods are safe for
// concurrent use.
//
// Lost is closed, and Context cancelled, at the first of:
//   - the claim node is deleted, or replaced by another claim, as a watch
//     on it shows (for a persistent claim, only while the session lives:
//     a persistent claim outlives its session, which is not a loss);
//   - for an ephemeral claim, the session is lost as recipe.Guard says:
//     expired, client closed, or disconnected with nothing heard for half
//     the session timeout (so the holder learns before the server could
//     expire the session).
//
// Release also cancels Context, without closing Lost. A lost claim stops
// its goroutines by itself; a held one needs Release.
type Claim struct {
	names   *Names
	name    string
	path    string
	guid    string
	data    []byte
	token   int64
	lost    chan struct{}
	lostOne sync.Once
	ctx     context.Context
	cancel  context.CancelFunc
	guard   *recipe.Guard // nil for persistent claims
	wg      sync.WaitGroup
	mu      struct {
		sync.Mutex
		releasing     bool // Release is deleting the node: a delete seen is ours
		lostMeanwhile bool // a loss seen while releasing, for a Release that fails
		released      bool
	}
}

func (n *Names) newClaim(name, path, guid string, data []byte, st tree.Stat) *Claim {
	c := &Claim{
		names: n, name: name, path: path, guid: guid,
		data: bytes.Clone(data), token: int64(st.Czxid),
		lost: make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if !n.persistent {
		c.guard = recipe.NewGuard(n.conn)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer c.guard.Stop()
			select {
			case <-c.guard.Lost():
				c.markLost()
			case <-c.ctx.Done():
			}
		}()
	}
	c.wg.Add(1)
	go c.watch()
	return c
}

// Name returns the claimed name.
func (c *Claim) Name() string { return c.name }

// Path returns the claim node's path.
func (c *Claim) Path() string { return c.path }

// Data returns the owner data given to Claim.
func (c *Claim) Data() []byte { return bytes.Clone(c.data) }

// Token returns the claim node's czxid: unique to this claim, and larger
// than the token of every earlier claim of the name.
func (c *Claim) Token() int64 { return c.token }

// Lost is closed when the claim is lost (see Claim).
func (c *Claim) Lost() <-chan struct{} { return c.lost }

// Context is cancelled when the claim is lost or released.
func (c *Claim) Context() context.Context { return c.ctx }

func (c *Claim) markLost() {
	c.mu.Lock()
	if c.mu.releasing {
		c.mu.lostMeanwhile = true // probably our own delete; Release decides
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.lostOne.Do(func() { close(c.lost) })
	c.cancel()
}

// watch watches the claim node until it is gone or no longer ours, or
// the claim ends.
func (c *Claim) watch() {
	defer c.wg.Done()
	n := c.names
	for {
		d, st, ch, err := n.conn.GetW(c.ctx, c.path)
		switch {
		case err == nil:
		case connLoss(err):
			continue
		case errors.Is(err, tree.ErrNoNode):
			c.markLost()
			return
		case sessionOver(err):
			if !n.persistent {
				c.markLost()
			}
			return // a persistent claim outlives the session; nothing to watch with
		default:
			if c.ctx.Err() != nil {
				return
			}
			continue // a transient server error: look again
		}
		if !n.ours(d, st, c.guid) {
			c.markLost()
			return
		}
		select {
		case <-ch: // look again: an event is a hint
		case <-c.ctx.Done():
			return
		}
	}
}

// Release gives the name up: it deletes the claim node if it is still
// this claim's (at the version read, so a node that changed hands is left
// alone) and ends the claim. It returns nil once the server confirmed the
// node is gone or not this claim's, or, for an ephemeral claim, once the
// session is gone. It is idempotent, and retryable after an error: ctx's,
// or for a persistent claim client.ErrSessionExpired/ErrClosed (the node
// stays; delete it with another session).
func (c *Claim) Release(ctx context.Context) error {
	c.mu.Lock()
	if c.mu.released {
		c.mu.Unlock()
		return nil
	}
	c.mu.releasing = true
	c.mu.Unlock()
	err := c.names.deleteOurs(ctx, c.path, c.guid)
	if err != nil && !(c.guard != nil && sessionOver(err)) {
		c.mu.Lock()
		c.mu.releasing = false
		lost := c.mu.lostMeanwhile
		c.mu.lostMeanwhile = false
		c.mu.Unlock()
		if lost {
			c.markLost()
		}
		return err
	}
	c.mu.Lock()
	c.mu.released = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	return nil
}
