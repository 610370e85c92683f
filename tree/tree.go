package tree

import (
	"slices"
	"strings"
	"sync/atomic"
)

// DefaultMaxDataBytes is the data size limit when Config.MaxDataBytes is 0.
const DefaultMaxDataBytes = 1 << 20

// MaxTTL is the longest TTL a node may have, in milliseconds: ZooKeeper's
// limit (40 bits, about 34 years).
const MaxTTL int64 = 1<<40 - 1

// Config configures a Tree.
type Config struct {
	// MaxDataBytes bounds the data of one node; 0 (or less) means
	// DefaultMaxDataBytes (1 MiB). A snapshot must be read with a limit at
	// least as large as the one it was written with.
	MaxDataBytes int
}

func (c Config) maxData() int {
	if c.MaxDataBytes <= 0 {
		return DefaultMaxDataBytes
	}
	return c.MaxDataBytes
}

// Tree is the znode data tree. See the package documentation for its
// concurrency contract.
type Tree struct {
	maxData  int
	root     *node
	lastZxid Zxid
	count    int // nodes, including "/"
	digest   uint64

	// Copy on write for Frozen views (see node.go).
	gen    uint32        // generation of everything made from now on
	cowGen uint32        // things with gen <= cowGen may be shared; 0: none
	live   *atomic.Int64 // Frozen views not yet released

	// sessions is replaced, never changed, while a Frozen view holds it.
	sessions   map[SessionID]Session
	sessShared bool

	eph       map[SessionID]map[string]struct{} // ephemeral paths by owner
	expirable map[string]struct{}               // paths of container and TTL nodes

	h hasher

	// Multi rollback.
	recording bool
	undo      []undoRec
}

// New returns an empty tree: just "/" with a zero Stat, LastZxid 0 and no
// sessions.
func New(cfg Config) *Tree {
	t := newTree(cfg)
	t.root = &node{kd: "\x00", gen: t.gen}
	t.count = 1
	t.digest = t.h.node("/", t.root)
	return t
}

func newTree(cfg Config) *Tree {
	return &Tree{
		maxData:   cfg.maxData(),
		gen:       1,
		live:      new(atomic.Int64),
		sessions:  map[SessionID]Session{},
		eph:       map[SessionID]map[string]struct{}{},
		expirable: map[string]struct{}{},
	}
}

// lookup returns the node at a valid path, or nil.
func (t *Tree) lookup(path string) *node {
	n := t.root
	if path == "/" {
		return n
	}
	for i := 1; n != nil; {
		var seg string
		seg, i = nextSegment(path, i)
		n = n.child(seg)
		if i < 0 {
			return n
		}
	}
	return nil
}

// lookupRead validates path for a read and looks it up.
func (t *Tree) lookupRead(path string) (*node, error) {
	if err := ValidatePath(path, false); err != nil {
		return nil, err
	}
	n := t.lookup(path)
	if n == nil {
		return nil, ErrNoNode
	}
	return n, nil
}

// Get returns a copy of the data at path and its Stat. It returns an error
// wrapping ErrBadArguments for an invalid path, or ErrNoNode.
func (t *Tree) Get(path string) ([]byte, Stat, error) {
	n, err := t.lookupRead(path)
	if err != nil {
		return nil, Stat{}, err
	}
	d := n.data()
	out := make([]byte, len(d))
	copy(out, d)
	return out, n.stat(), nil
}

// Exists returns the Stat of the node at path. It returns an error wrapping
// ErrBadArguments for an invalid path, or ErrNoNode.
func (t *Tree) Exists(path string) (Stat, error) {
	n, err := t.lookupRead(path)
	if err != nil {
		return Stat{}, err
	}
	return n.stat(), nil
}

// Children returns, sorted, the names of path's children that sort after
// after ("" starts at the first), at most max of them (max <= 0: all),
// with path's Stat and whether more children follow the last one returned.
// The names are never nil; they share memory with the tree's immutable
// node records (no copy is made), which is invisible to the caller. It
// returns an error wrapping ErrBadArguments for an invalid path, or
// ErrNoNode.
func (t *Tree) Children(path, after string, max int) (names []string, st Stat, more bool, err error) {
	n, err := t.lookupRead(path)
	if err != nil {
		return nil, Stat{}, false, err
	}
	st = n.stat()
	e := n.ext
	if e == nil || e.nkids == 0 {
		return []string{}, st, false, nil
	}
	ci, i := 0, 0
	size := int(e.nkids)
	if after != "" {
		ci, i = e.after(after)
		size = 0
		for k := ci; k < len(e.kids); k++ {
			size += len(e.kids[k].nodes)
		}
		size -= i
	}
	if max > 0 && size > max {
		size, more = max, true
	}
	names = make([]string, 0, size)
	e.walk(ci, i, func(c *node) bool {
		if len(names) == size {
			return false
		}
		names = append(names, c.name())
		return true
	})
	return names, st, more, nil
}

// CountDescendants returns how many nodes are below path (not counting
// path itself). It returns an error wrapping ErrBadArguments for an
// invalid path, or ErrNoNode.
func (t *Tree) CountDescendants(path string) (int64, error) {
	n, err := t.lookupRead(path)
	if err != nil {
		return 0, err
	}
	if n == t.root {
		return int64(t.count - 1), nil
	}
	var total int64
	stack := []*node{n}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if x.ext == nil || x.ext.nkids == 0 {
			continue
		}
		total += int64(x.ext.nkids)
		for _, c := range x.ext.kids {
			for _, k := range c.nodes {
				if k.ext != nil && k.ext.nkids > 0 {
					stack = append(stack, k)
				}
			}
		}
	}
	return total, nil
}

// Ephemerals returns, sorted, the paths of the ephemeral nodes owned by
// session s (every session's when s is 0) that start with prefix (a plain
// string prefix, as ZooKeeper's getEphemerals; "" or "/" match all).
func (t *Tree) Ephemerals(s SessionID, prefix string) []string {
	if prefix == "/" {
		prefix = ""
	}
	out := []string{}
	add := func(set map[string]struct{}) {
		for p := range set {
			if strings.HasPrefix(p, prefix) {
				out = append(out, p)
			}
		}
	}
	if s != 0 {
		add(t.eph[s])
	} else {
		for _, set := range t.eph {
			add(set)
		}
	}
	slices.Sort(out)
	return out
}

// Session returns the session table's row for id, and whether there is one.
func (t *Tree) Session(id SessionID) (Session, bool) {
	s, ok := t.sessions[id]
	if !ok {
		return Session{}, false
	}
	s.Password = slices.Clone(s.Password)
	return s, true
}

// Sessions returns every row of the session table, sorted by ID.
func (t *Tree) Sessions() []Session {
	out := make([]Session, 0, len(t.sessions))
	for _, s := range t.sessions {
		s.Password = slices.Clone(s.Password)
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Session) int { return cmpInt(a.ID, b.ID) })
	return out
}

func cmpInt[T ~int64 | ~uint64 | ~int](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// LastZxid returns the zxid of the last applied transaction (0 for none).
func (t *Tree) LastZxid() Zxid { return t.lastZxid }

// NodeCount returns the number of nodes, including "/".
func (t *Tree) NodeCount() int { return t.count }

// Digest returns the tree's digest: a 64-bit hash of every node's path,
// Stat and data, kept up to date by Apply. Two trees with the same nodes
// have the same digest, however they got there.
func (t *Tree) Digest() uint64 { return t.digest }

// Expired returns an OpDeleteExpired for every container that has had
// children and has none, and every TTL node without children whose TTL has
// passed since its mtime (now > mtime+ttl, now in ms since the Unix epoch),
// sorted by path. The leader proposes them; Apply checks again.
func (t *Tree) Expired(now int64) []Op {
	var ops []Op
	for p := range t.expirable {
		n := t.lookup(p)
		if n != nil && expired(n, now) {
			ops = append(ops, Op{Type: OpDeleteExpired, Path: p})
		}
	}
	slices.SortFunc(ops, func(a, b Op) int { return strings.Compare(a.Path, b.Path) })
	return ops
}

// expired reports whether n may be removed by an OpDeleteExpired at now.
func expired(n *node, now int64) bool {
	e := n.ext
	if e == nil || e.nkids > 0 {
		return false
	}
	switch {
	case e.mode.IsContainer():
		return e.cversion > 0
	case e.mode.IsTTL():
		return e.ttl > 0 && now-n.mtime > e.ttl
	}
	return false
}
