package tree

import (
	"encoding/binary"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// node is one znode, kept at 64 bytes (one size class) because a big tree is
// mostly nodes. There is no parent pointer and no global path map: a path
// is found by walking from the root through each node's sorted children.
//
// A node is immutable once its gen is at or below the tree's cowGen (a
// Frozen view may be reading it); Apply copies it first (see Tree.own*).
type node struct {
	// kd is uvarint(len(name)) + name + data. Strings are immutable, so
	// names handed out by Children share it without copying.
	kd      string
	czxid   Zxid
	mzxid   Zxid
	ctime   int64
	mtime   int64
	version int32
	gen     uint32 // generation that made this copy of the node
	// ext holds what most nodes do not need: children, the pzxid/cversion
	// of a node that has or had children, the owner of an ephemeral, the
	// mode and TTL. nil means: no children, pzxid == czxid, cversion 0,
	// persistent, no owner.
	ext *nodeExt
}

// nodeExt belongs to exactly one node (it is copied with it).
type nodeExt struct {
	kids     []*chunk // sorted by name; nil when no children
	pzxid    Zxid
	ttl      int64
	owner    SessionID
	nkids    int32
	cversion int32
	kidsGen  uint32 // generation that made the kids slice (not the chunks)
	mode     CreateMode
}

// chunkMax bounds a chunk: a node's children are a sorted list of sorted
// chunks (a two-level B+ tree), so a directory of 100,000 children inserts
// by moving at most chunkMax entries and copies at most one chunk per
// generation when a snapshot view shares it.
const chunkMax = 256

// chunk is a run of children sorted by name. hashes[i] is nameHash of
// nodes[i]'s name: an exact lookup scans the 4-byte hashes (a few cache
// lines) instead of following a pointer per binary search step.
type chunk struct {
	gen    uint32
	nodes  []*node
	hashes []uint32
	// last is a copy of the last node's name, for chunkFor. A copy, not a
	// slice of the node's kd: that would keep old data alive after setData.
	last string
}

// fix refreshes c.last after c changed.
func (c *chunk) fix() {
	if len(c.nodes) > 0 {
		c.last = strings.Clone(c.nodes[len(c.nodes)-1].name())
	}
}

func nameHash(name string) uint32 { return uint32(xxhash.Sum64String(name)) }

func makeKD(name string, data []byte) string {
	var b strings.Builder
	var tmp [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(tmp[:], uint64(len(name)))
	b.Grow(k + len(name) + len(data))
	b.Write(tmp[:k])
	b.WriteString(name)
	b.Write(data)
	return b.String()
}

// nameBounds returns where the name starts and ends in kd.
func nameBounds(kd string) (start, end int) {
	if l := kd[0]; l < 0x80 {
		return 1, 1 + int(l)
	}
	return nameBoundsSlow(kd)
}

func nameBoundsSlow(kd string) (int, int) {
	var l uint64
	var s uint
	for i := 0; i < len(kd) && i < binary.MaxVarintLen64; i++ {
		b := kd[i]
		if b < 0x80 {
			l |= uint64(b) << s
			return i + 1, i + 1 + int(l)
		}
		l |= uint64(b&0x7f) << s
		s += 7
	}
	panic("tree: malformed node key") // unreachable: kd is built by makeKD or checked on decode
}

func (n *node) name() string {
	s, e := nameBounds(n.kd)
	return n.kd[s:e]
}

func (n *node) data() string {
	_, e := nameBounds(n.kd)
	return n.kd[e:]
}

func (n *node) dataLen() int {
	_, e := nameBounds(n.kd)
	return len(n.kd) - e
}

func (n *node) nkids() int32 {
	if n.ext == nil {
		return 0
	}
	return n.ext.nkids
}

func (n *node) cversion() int32 {
	if n.ext == nil {
		return 0
	}
	return n.ext.cversion
}

func (n *node) pzxid() Zxid {
	if n.ext == nil {
		return n.czxid
	}
	return n.ext.pzxid
}

func (n *node) mode() CreateMode {
	if n.ext == nil {
		return ModePersistent
	}
	return n.ext.mode
}

func (n *node) owner() SessionID {
	if n.ext == nil {
		return 0
	}
	return n.ext.owner
}

func (n *node) ttl() int64 {
	if n.ext == nil {
		return 0
	}
	return n.ext.ttl
}

func (n *node) stat() Stat {
	st := Stat{
		Czxid:      n.czxid,
		Mzxid:      n.mzxid,
		Pzxid:      n.czxid,
		Ctime:      n.ctime,
		Mtime:      n.mtime,
		Version:    n.version,
		DataLength: int32(n.dataLen()),
	}
	if e := n.ext; e != nil {
		st.Pzxid = e.pzxid
		st.Cversion = e.cversion
		st.EphemeralOwner = e.owner
		st.NumChildren = e.nkids
	}
	return st
}

// child returns the child called name, or nil.
func (n *node) child(name string) *node {
	e := n.ext
	if e == nil {
		return nil
	}
	ci, i, ok := e.find(name)
	if !ok {
		return nil
	}
	return e.kids[ci].nodes[i]
}

// chunkFor returns the first chunk whose last name is >= name, or
// len(e.kids) if there is none. e.kids must not be empty.
func (e *nodeExt) chunkFor(name string) int {
	kids := e.kids
	if len(kids) == 1 {
		return 0 // the caller checks the name against the chunk
	}
	lo, hi := 0, len(kids)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if kids[m].last < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// find returns where the child called name is, if it is there.
func (e *nodeExt) find(name string) (ci, i int, found bool) {
	if len(e.kids) == 0 {
		return 0, 0, false
	}
	ci = e.chunkFor(name)
	if ci == len(e.kids) {
		return 0, 0, false
	}
	c := e.kids[ci]
	h := nameHash(name)
	for i, x := range c.hashes {
		if x == h && c.nodes[i].name() == name {
			return ci, i, true
		}
	}
	return 0, 0, false
}

// search returns where name is or would be inserted among the children.
func (e *nodeExt) search(name string) (ci, i int, found bool) {
	kids := e.kids
	if len(kids) == 0 {
		return 0, 0, false
	}
	ci = e.chunkFor(name)
	if ci == len(kids) {
		return ci - 1, len(kids[ci-1].nodes), false
	}
	nodes := kids[ci].nodes
	l, h := 0, len(nodes)
	for l < h {
		m := int(uint(l+h) >> 1)
		if nodes[m].name() < name {
			l = m + 1
		} else {
			h = m
		}
	}
	return ci, l, l < len(nodes) && nodes[l].name() == name
}

// after returns the position of the first child whose name is > name.
func (e *nodeExt) after(name string) (ci, i int) {
	ci, i, found := e.search(name)
	if found {
		i++
	}
	if len(e.kids) > 0 && i >= len(e.kids[ci].nodes) {
		ci, i = ci+1, 0
	}
	return ci, i
}

// walk calls fn for each child in order from position (ci, i) until fn
// returns false.
func (e *nodeExt) walk(ci, i int, fn func(*node) bool) {
	for ; ci < len(e.kids); ci, i = ci+1, 0 {
		for _, c := range e.kids[ci].nodes[i:] {
			if !fn(c) {
				return
			}
		}
	}
}

// ---- copy on write ----
//
// Every node, kids slice and chunk carries the generation that made it.
// Snapshot hands the current root to a Frozen view and starts a new
// generation; from then on anything with gen <= cowGen may be read by that
// view and is copied before Apply changes it (path copying from the root).
// Once every view is released cowGen drops to 0 and Apply changes things in
// place again.

func (t *Tree) shared(gen uint32) bool { return gen <= t.cowGen }

func (t *Tree) copyNode(n *node) *node {
	c := *n
	c.gen = t.gen
	if n.ext != nil {
		e := *n.ext
		c.ext = &e
	}
	return &c
}

// ownRoot returns the root, copied first if shared.
func (t *Tree) ownRoot() *node {
	if t.shared(t.root.gen) {
		t.root = t.copyNode(t.root)
	}
	return t.root
}

// ownKids makes e's kids slice private to the current generation.
func (t *Tree) ownKids(e *nodeExt) {
	if t.shared(e.kidsGen) {
		k := make([]*chunk, len(e.kids), len(e.kids)+1)
		copy(k, e.kids)
		e.kids = k
		e.kidsGen = t.gen
	}
}

// ownChunk makes chunk ci private; e's kids must be owned.
func (t *Tree) ownChunk(e *nodeExt, ci int) *chunk {
	c := e.kids[ci]
	if t.shared(c.gen) {
		c = &chunk{gen: t.gen, nodes: slices.Clone(c.nodes), hashes: slices.Clone(c.hashes), last: c.last}
		e.kids[ci] = c
	}
	return c
}

// ownChildAt returns child (ci, i) of the owned node whose ext is e,
// copying it (and the containers that point to it) if shared.
func (t *Tree) ownChildAt(e *nodeExt, ci, i int) *node {
	c := e.kids[ci].nodes[i]
	if t.shared(c.gen) {
		t.ownKids(e)
		ch := t.ownChunk(e, ci)
		c = t.copyNode(c)
		ch.nodes[i] = c
	}
	return c
}

// ownPath returns the node at an existing valid path, with it and every
// ancestor made private to the current generation.
func (t *Tree) ownPath(path string) *node {
	n := t.ownRoot()
	if path == "/" {
		return n
	}
	for i := 1; i >= 0; {
		var seg string
		seg, i = nextSegment(path, i)
		ci, k, ok := n.ext.find(seg)
		if !ok {
			panic("tree: ownPath on a missing node") // callers look the path up first
		}
		n = t.ownChildAt(n.ext, ci, k)
	}
	return n
}

// ensureExt gives an owned node an ext.
func ensureExt(n *node) *nodeExt {
	if n.ext == nil {
		n.ext = &nodeExt{pzxid: n.czxid}
	}
	return n.ext
}

// insertKid adds child to the owned node's children; it must not be there.
func (t *Tree) insertKid(e *nodeExt, child *node) {
	e.nkids++
	name := child.name()
	h := nameHash(name)
	if len(e.kids) == 0 {
		e.kids = []*chunk{{gen: t.gen, nodes: []*node{child}, hashes: []uint32{h}, last: strings.Clone(name)}}
		e.kidsGen = t.gen
		return
	}
	ci, i, _ := e.search(name)
	t.ownKids(e)
	c := t.ownChunk(e, ci)
	if len(c.nodes) >= chunkMax {
		if ci == len(e.kids)-1 && i == len(c.nodes) {
			// Appending in order (sequential names): start a new chunk and
			// leave this one full.
			nc := &chunk{gen: t.gen, nodes: make([]*node, 1, 8), hashes: make([]uint32, 1, 8)}
			nc.nodes[0], nc.hashes[0], nc.last = child, h, strings.Clone(name)
			e.kids = append(e.kids, nc)
			return
		}
		half := len(c.nodes) / 2
		nc := &chunk{gen: t.gen, nodes: make([]*node, len(c.nodes)-half, chunkMax), hashes: make([]uint32, len(c.nodes)-half, chunkMax)}
		copy(nc.nodes, c.nodes[half:])
		copy(nc.hashes, c.hashes[half:])
		clear(c.nodes[half:])
		c.nodes, c.hashes = c.nodes[:half], c.hashes[:half]
		nc.last = c.last
		c.fix()
		e.kids = slices.Insert(e.kids, ci+1, nc)
		if i > half {
			c, i = nc, i-half
		}
	}
	c.nodes = insertAt(c.nodes, i, child)
	c.hashes = insertAt(c.hashes, i, h)
	if i == len(c.nodes)-1 {
		c.last = strings.Clone(name)
	}
}

// insertAt inserts x at i, growing s by doubling up to chunkMax (append's
// growth would overshoot the bound and waste memory).
func insertAt[T any](s []T, i int, x T) []T {
	if len(s) == cap(s) {
		ns := make([]T, len(s), min(chunkMax, max(4, 2*len(s))))
		copy(ns, s)
		s = ns
	}
	s = s[:len(s)+1]
	copy(s[i+1:], s[i:])
	s[i] = x
	return s
}

// removeKid removes the child called name from the owned node's children
// and returns it, or nil if there is none.
func (t *Tree) removeKid(e *nodeExt, name string) *node {
	ci, i, ok := e.find(name)
	if !ok {
		return nil
	}
	t.ownKids(e)
	c := t.ownChunk(e, ci)
	old := c.nodes[i]
	c.nodes = slices.Delete(c.nodes, i, i+1)
	c.hashes = slices.Delete(c.hashes, i, i+1)
	e.nkids--
	if i == len(c.nodes) {
		c.fix()
	}
	switch {
	case len(c.nodes) == 0:
		e.kids = slices.Delete(e.kids, ci, ci+1)
		if len(e.kids) == 0 {
			e.kids = nil
		}
		return old
	case ci+1 < len(e.kids) && len(c.nodes)+len(e.kids[ci+1].nodes) <= chunkMax/2:
		next := e.kids[ci+1]
		c.nodes = append(c.nodes, next.nodes...)
		c.hashes = append(c.hashes, next.hashes...)
		c.last = next.last
		e.kids = slices.Delete(e.kids, ci+1, ci+2)
	case ci > 0 && len(c.nodes)+len(e.kids[ci-1].nodes) <= chunkMax/2:
		p := t.ownChunk(e, ci-1)
		p.nodes = append(p.nodes, c.nodes...)
		p.hashes = append(p.hashes, c.hashes...)
		p.last = c.last
		e.kids = slices.Delete(e.kids, ci, ci+1)
	case cap(c.nodes) > 64 && len(c.nodes) < cap(c.nodes)/4:
		c.nodes = slices.Grow(slices.Clone(c.nodes), len(c.nodes))
		c.hashes = slices.Grow(slices.Clone(c.hashes), len(c.hashes))
	}
	return old
}
