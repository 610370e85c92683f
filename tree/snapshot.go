package tree

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// Snapshot format, version 1. Integers are little endian; uvarint is
// encoding/binary's.
//
//	magic     "zabtree" (7 bytes) and the version byte 0x01
//	header    lastZxid i64, nodes u64, sessions u32
//	sessions  sorted by id: id i64, timeout i32, uvarint len, password
//	nodes     depth first, children sorted by name, the root first:
//	          mode u8, czxid i64, mzxid i64, pzxid i64, ctime i64, mtime i64,
//	          version i32, cversion i32, [owner i64 if ephemeral],
//	          [ttl i64 if TTL], uvarint children, uvarint name length,
//	          uvarint data length, name, data
//	trailer   "END\x00", nodes u64, digest u64, then xxhash64 of every byte
//	          before it (u64)
//
// A reader checks every record (names, order, modes, owners, zxids, sizes),
// rebuilds the digest and compares it and the checksum with the trailer.
const (
	snapMagic   = "zabtree"
	snapVersion = 1
	trailerTag  = "END\x00"
)

// Frozen is a consistent, read-only view of a Tree at one zxid, made by
// Tree.Snapshot. Its WriteTo may run in another goroutine while the tree
// goes on applying transactions.
type Frozen struct {
	root     *node
	zxid     Zxid
	count    int
	digest   uint64
	sessions map[SessionID]Session
	rel      *frozenRelease
}

type frozenRelease struct {
	done atomic.Bool
	live *atomic.Int64
}

func (r *frozenRelease) release() {
	if r.done.CompareAndSwap(false, true) {
		r.live.Add(-1)
	}
}

// Snapshot returns a consistent view of the tree as of LastZxid, in O(1):
// from now on Apply copies a node (and the path to it) before its first
// change, so the view never changes. Call Release when done with the view
// (a view that is dropped without Release is released when the garbage
// collector finds it); until then the first change to each node after the
// snapshot costs a copy. Snapshot must not run concurrently with Apply.
func (t *Tree) Snapshot() *Frozen {
	t.refreshCow()
	f := &Frozen{
		root:     t.root,
		zxid:     t.lastZxid,
		count:    t.count,
		digest:   t.digest,
		sessions: t.sessions,
		rel:      &frozenRelease{live: t.live},
	}
	t.sessShared = true
	t.cowGen = t.gen
	t.gen++
	t.live.Add(1)
	runtime.AddCleanup(f, func(r *frozenRelease) { r.release() }, f.rel)
	return f
}

// Zxid returns the zxid of the last transaction the view holds.
func (f *Frozen) Zxid() Zxid { return f.zxid }

// NodeCount returns the number of nodes in the view, including "/".
func (f *Frozen) NodeCount() int { return f.count }

// Digest returns the tree's digest as of the view.
func (f *Frozen) Digest() uint64 { return f.digest }

// Release tells the tree the view is no longer read, so Apply can stop
// copying for it. It must not run concurrently with WriteTo on f; it is
// idempotent. WriteTo after Release returns ErrReleased.
func (f *Frozen) Release() {
	if f.rel == nil {
		return
	}
	f.rel.release()
	f.root, f.sessions = nil, nil
}

// WriteTo writes the view to w in the snapshot format (see ReadSnapshot),
// streaming: it holds only a small buffer, whatever the tree's size. It
// returns the bytes written and the first error from w, or an error
// wrapping ErrCorruptSnapshot if the digest recomputed from the view
// differs from the tree's (a broken invariant: the tree is damaged), or
// ErrReleased.
func (f *Frozen) WriteTo(w io.Writer) (int64, error) {
	if f.root == nil {
		return 0, ErrReleased
	}
	e := &encoder{w: w, buf: make([]byte, 0, 256<<10)}
	e.sum.Reset()

	e.buf = append(e.buf, snapMagic...)
	e.buf = append(e.buf, snapVersion)
	e.buf = binary.LittleEndian.AppendUint64(e.buf, uint64(f.zxid))
	e.buf = binary.LittleEndian.AppendUint64(e.buf, uint64(f.count))
	e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(len(f.sessions)))
	for _, id := range slices.Sorted(maps.Keys(f.sessions)) {
		s := f.sessions[id]
		e.buf = binary.LittleEndian.AppendUint64(e.buf, uint64(s.ID))
		e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(s.Timeout))
		e.buf = binary.AppendUvarint(e.buf, uint64(len(s.Password)))
		e.buf = append(e.buf, s.Password...)
		if err := e.maybeFlush(); err != nil {
			return e.n, err
		}
	}

	// Depth first, iteratively: deep trees must not grow the stack.
	var h hasher
	var digest uint64
	count := 0
	path := []byte{'/'}
	type frame struct {
		e     *nodeExt
		ci, i int
		plen  int // length of this node's path
	}
	var stack []frame
	visit := func(n *node) error {
		count++
		digest += h.nodeB(path, n)
		e.record(n)
		if err := e.maybeFlush(); err != nil {
			return err
		}
		if n.ext != nil && n.ext.nkids > 0 {
			stack = append(stack, frame{e: n.ext, plen: len(path)})
		}
		return nil
	}
	if err := visit(f.root); err != nil {
		return e.n, err
	}
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if top.ci >= len(top.e.kids) {
			stack = stack[:len(stack)-1]
			continue
		}
		if top.i == 0 {
			e.touched += touch(top.e.kids[top.ci].nodes)
		}
		c := top.e.kids[top.ci].nodes[top.i]
		if top.i++; top.i >= len(top.e.kids[top.ci].nodes) {
			top.ci, top.i = top.ci+1, 0
		}
		path = path[:top.plen]
		if top.plen > 1 {
			path = append(path, '/')
		}
		path = append(path, c.name()...)
		if err := visit(c); err != nil {
			return e.n, err
		}
	}
	if count != f.count || digest != f.digest {
		return e.n, fmt.Errorf("%w: the view fails its self-check: %d nodes and digest %x, the tree said %d and %x",
			ErrCorruptSnapshot, count, digest, f.count, f.digest)
	}

	e.buf = append(e.buf, trailerTag...)
	e.buf = binary.LittleEndian.AppendUint64(e.buf, uint64(count))
	e.buf = binary.LittleEndian.AppendUint64(e.buf, digest)
	_, _ = e.sum.Write(e.buf)
	e.buf = binary.LittleEndian.AppendUint64(e.buf, e.sum.Sum64())
	return e.n, e.flush(false)
}

// touch reads the start of each node's kd in a tight loop of independent
// loads, so their cache misses overlap instead of coming one per record.
func touch(nodes []*node) byte {
	var x byte
	for _, n := range nodes {
		x += n.kd[0]
	}
	return x
}

type encoder struct {
	w       io.Writer
	buf     []byte
	sum     xxhash.Digest
	n       int64
	touched byte // keeps touch's loads alive
}

func (e *encoder) record(n *node) {
	b := e.buf
	m := n.mode()
	b = append(b, byte(m))
	b = binary.LittleEndian.AppendUint64(b, uint64(n.czxid))
	b = binary.LittleEndian.AppendUint64(b, uint64(n.mzxid))
	b = binary.LittleEndian.AppendUint64(b, uint64(n.pzxid()))
	b = binary.LittleEndian.AppendUint64(b, uint64(n.ctime))
	b = binary.LittleEndian.AppendUint64(b, uint64(n.mtime))
	b = binary.LittleEndian.AppendUint32(b, uint32(n.version))
	b = binary.LittleEndian.AppendUint32(b, uint32(n.cversion()))
	if m.IsEphemeral() {
		b = binary.LittleEndian.AppendUint64(b, uint64(n.owner()))
	}
	if m.IsTTL() {
		b = binary.LittleEndian.AppendUint64(b, uint64(n.ttl()))
	}
	b = binary.AppendUvarint(b, uint64(n.nkids()))
	ns, ne := nameBounds(n.kd)
	b = binary.AppendUvarint(b, uint64(ne-ns))
	b = binary.AppendUvarint(b, uint64(len(n.kd)-ne))
	b = append(b, n.kd[ns:]...)
	e.buf = b
}

func (e *encoder) maybeFlush() error {
	if len(e.buf) < cap(e.buf)-cap(e.buf)/4 {
		return nil
	}
	return e.flush(true)
}

func (e *encoder) flush(hash bool) error {
	if hash {
		_, _ = e.sum.Write(e.buf)
	}
	m, err := e.w.Write(e.buf)
	e.n += int64(m)
	if err == nil && m < len(e.buf) {
		err = io.ErrShortWrite
	}
	e.buf = e.buf[:0]
	return err
}

// ReadSnapshot decodes a snapshot written by Frozen.WriteTo into a new
// Tree (configured by cfg), reading r to its end. Every record is checked
// (valid and sorted names, known modes, owners in the session table, no
// children under ephemerals, zxids not above the snapshot's, data within
// cfg's limit), as are the node count, the digest and the checksum; a
// length field is trusted only as far as bytes actually arrive, so hostile
// input cannot make it allocate much more than its own size. Any failure,
// including a read error from r, returns an error wrapping
// ErrCorruptSnapshot.
func ReadSnapshot(r io.Reader, cfg Config) (*Tree, error) {
	d := &decoder{
		s: sreader{r: r, buf: make([]byte, 64<<10)},
		t: newTree(cfg),
	}
	d.s.h.Reset()
	if err := d.decode(); err != nil {
		if errors.Is(err, ErrCorruptSnapshot) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrCorruptSnapshot, err)
	}
	return d.t, nil
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorruptSnapshot}, args...)...)
}

type decoder struct {
	s sreader
	t *Tree
	h hasher
}

// dframe is a node whose children are still being read.
type dframe struct {
	n    *node
	left uint64 // children still to come
	plen int    // length of n's path
	last string // name of the last child read
}

func (d *decoder) decode() error {
	s, t := &d.s, d.t
	b, err := s.need(len(snapMagic) + 1 + 8 + 8 + 4)
	if err != nil {
		return err
	}
	if string(b[:len(snapMagic)]) != snapMagic {
		return corrupt("bad magic")
	}
	if v := b[len(snapMagic)]; v != snapVersion {
		return corrupt("unknown version %d", v)
	}
	b = b[len(snapMagic)+1:]
	lastZxid := Zxid(binary.LittleEndian.Uint64(b))
	nodes := binary.LittleEndian.Uint64(b[8:])
	nsess := binary.LittleEndian.Uint32(b[16:])
	if lastZxid < 0 {
		return corrupt("negative zxid")
	}
	if nodes == 0 {
		return corrupt("no root")
	}
	t.lastZxid = lastZxid

	var prev SessionID
	for i := uint32(0); i < nsess; i++ {
		b, err := s.need(12)
		if err != nil {
			return err
		}
		id := SessionID(binary.LittleEndian.Uint64(b))
		timeout := int32(binary.LittleEndian.Uint32(b[8:]))
		if id == 0 || (i > 0 && id <= prev) {
			return corrupt("session %v out of order", id)
		}
		prev = id
		pl, err := s.uvarint()
		if err != nil {
			return err
		}
		if pl > 1<<20 {
			return corrupt("session password of %d bytes", pl)
		}
		pw, err := s.need(int(pl))
		if err != nil {
			return err
		}
		var pass []byte
		if pl > 0 {
			pass = slices.Clone(pw)
		}
		t.sessions[id] = Session{ID: id, Timeout: timeout, Password: pass}
	}

	var digest uint64
	var stack []dframe
	path := make([]byte, 0, 256)
	for count := uint64(0); count < nodes; count++ {
		n, nk, err := d.record(count == 0)
		if err != nil {
			return err
		}
		name := n.name()
		if count == 0 {
			path = append(path[:0], '/')
			t.root = n
		} else {
			if len(stack) == 0 {
				return corrupt("node %d is outside the tree", count)
			}
			top := &stack[len(stack)-1]
			if top.last != "" && name <= top.last {
				return corrupt("child %q after %q", name, top.last)
			}
			if !validName(name) {
				return corrupt("invalid name %q", name)
			}
			top.last = name
			top.left--
			pe := top.n.ext
			if k := len(pe.kids); k == 0 || len(pe.kids[k-1].nodes) == chunkMax {
				c := int(min(top.left+1, chunkMax))
				pe.kids = append(pe.kids, &chunk{gen: t.gen, nodes: make([]*node, 0, c), hashes: make([]uint32, 0, c)})
			}
			last := pe.kids[len(pe.kids)-1]
			last.nodes = append(last.nodes, n)
			last.hashes = append(last.hashes, nameHash(name))
			if top.left == 0 || len(last.nodes) == chunkMax {
				last.last = strings.Clone(name)
			}
			path = path[:top.plen]
			if top.plen > 1 {
				path = append(path, '/')
			}
			path = append(path, name...)
		}
		digest += d.h.nodeB(path, n)
		switch m := n.mode(); {
		case m.IsEphemeral():
			if _, ok := t.sessions[n.ext.owner]; !ok {
				return corrupt("ephemeral %s owned by unknown session %v", path, n.ext.owner)
			}
			p := string(path)
			set := t.eph[n.ext.owner]
			if set == nil {
				set = map[string]struct{}{}
				t.eph[n.ext.owner] = set
			}
			set[p] = struct{}{}
		case m.IsContainer() || m.IsTTL():
			t.expirable[string(path)] = struct{}{}
		}
		if nk > 0 {
			n.ext.nkids = int32(nk)
			n.ext.kidsGen = t.gen
			stack = append(stack, dframe{n: n, left: nk, plen: len(path)})
		}
		for len(stack) > 0 && stack[len(stack)-1].left == 0 {
			stack = stack[:len(stack)-1]
		}
		if count > 0 && len(stack) == 0 && count+1 < nodes {
			return corrupt("node %d is outside the tree", count+1)
		}
	}
	if len(stack) != 0 {
		return corrupt("%d nodes end before their children", len(stack))
	}
	t.count = int(nodes)
	t.digest = digest

	b, err = s.need(len(trailerTag) + 16)
	if err != nil {
		return err
	}
	if string(b[:len(trailerTag)]) != trailerTag {
		return corrupt("bad trailer")
	}
	if c := binary.LittleEndian.Uint64(b[4:]); c != nodes {
		return corrupt("trailer counts %d nodes, header %d", c, nodes)
	}
	if dg := binary.LittleEndian.Uint64(b[12:]); dg != digest {
		return corrupt("digest %x, trailer says %x", digest, dg)
	}
	sum := s.sum()
	b, err = s.need(8)
	if err != nil {
		return err
	}
	if binary.LittleEndian.Uint64(b) != sum {
		return corrupt("checksum mismatch")
	}
	return s.atEOF()
}

// record reads one node record and returns the node (with an ext if it
// needs one) and its claimed number of children.
func (d *decoder) record(root bool) (*node, uint64, error) {
	s, t := &d.s, d.t
	b, err := s.need(1 + 5*8 + 2*4)
	if err != nil {
		return nil, 0, err
	}
	mode := CreateMode(b[0])
	n := &node{
		czxid:   Zxid(binary.LittleEndian.Uint64(b[1:])),
		mzxid:   Zxid(binary.LittleEndian.Uint64(b[9:])),
		ctime:   int64(binary.LittleEndian.Uint64(b[25:])),
		mtime:   int64(binary.LittleEndian.Uint64(b[33:])),
		version: int32(binary.LittleEndian.Uint32(b[41:])),
		gen:     t.gen,
	}
	pzxid := Zxid(binary.LittleEndian.Uint64(b[17:]))
	cversion := int32(binary.LittleEndian.Uint32(b[45:]))
	switch {
	case !mode.Valid():
		return nil, 0, corrupt("invalid mode %d", mode)
	case root && mode != ModePersistent:
		return nil, 0, corrupt("root of mode %v", mode)
	case n.czxid < 0 || n.mzxid < n.czxid || pzxid < n.czxid || n.mzxid > t.lastZxid || pzxid > t.lastZxid:
		return nil, 0, corrupt("zxids out of range")
	case cversion < 0:
		return nil, 0, corrupt("negative cversion")
	}
	var owner SessionID
	var ttl int64
	if mode.IsEphemeral() {
		if b, err = s.need(8); err != nil {
			return nil, 0, err
		}
		owner = SessionID(binary.LittleEndian.Uint64(b))
		if owner == 0 {
			return nil, 0, corrupt("ephemeral without owner")
		}
	}
	if mode.IsTTL() {
		if b, err = s.need(8); err != nil {
			return nil, 0, err
		}
		ttl = int64(binary.LittleEndian.Uint64(b))
		if ttl <= 0 || ttl > MaxTTL {
			return nil, 0, corrupt("TTL %d out of range", ttl)
		}
	}
	nk, err := s.uvarint()
	if err != nil {
		return nil, 0, err
	}
	nameLen, err := s.uvarint()
	if err != nil {
		return nil, 0, err
	}
	dataLen, err := s.uvarint()
	if err != nil {
		return nil, 0, err
	}
	switch {
	case nk > math32 || (nk > 0 && mode.IsEphemeral()):
		return nil, 0, corrupt("bad child count %d", nk)
	case root != (nameLen == 0):
		return nil, 0, corrupt("name of %d bytes", nameLen)
	case nameLen > 1<<30:
		return nil, 0, corrupt("name of %d bytes", nameLen)
	case dataLen > uint64(t.maxData):
		return nil, 0, corrupt("data of %d bytes over the %d byte limit", dataLen, t.maxData)
	}
	kd, err := s.need(int(nameLen + dataLen))
	if err != nil {
		return nil, 0, err
	}
	var sb strings.Builder
	var tmp [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(tmp[:], nameLen)
	sb.Grow(k + len(kd))
	sb.Write(tmp[:k])
	sb.Write(kd)
	n.kd = sb.String()
	if mode != ModePersistent || pzxid != n.czxid || cversion != 0 || nk > 0 {
		n.ext = &nodeExt{pzxid: pzxid, cversion: cversion, owner: owner, ttl: ttl, mode: mode}
	}
	return n, nk, nil
}

const math32 = 1<<31 - 1

// sreader is a buffered reader that hands out slices of its buffer, grows
// the buffer only as bytes arrive (so a length claim costs no more memory
// than the input really holds), and checksums what it consumes.
type sreader struct {
	r     io.Reader
	buf   []byte
	pos   int // next byte to hand out
	end   int // end of the bytes read
	hpos  int // bytes before hpos are in h
	h     xxhash.Digest
	empty int
}

// need returns the next n bytes; the slice is valid until the next call.
func (s *sreader) need(n int) ([]byte, error) {
	if s.end-s.pos >= n {
		b := s.buf[s.pos : s.pos+n : s.pos+n]
		s.pos += n
		return b, nil
	}
	return s.fill(n)
}

func (s *sreader) fill(n int) ([]byte, error) {
	if n < 0 {
		return nil, corrupt("length overflow")
	}
	if s.pos > 0 {
		_, _ = s.h.Write(s.buf[s.hpos:s.pos])
		copy(s.buf, s.buf[s.pos:s.end])
		s.end -= s.pos
		s.pos, s.hpos = 0, 0
	}
	for s.end < n {
		if s.end == len(s.buf) {
			nb := make([]byte, 2*len(s.buf))
			copy(nb, s.buf[:s.end])
			s.buf = nb
		}
		m, err := s.r.Read(s.buf[s.end:])
		s.end += m
		if m > 0 {
			s.empty = 0
		}
		if s.end >= n {
			break
		}
		switch {
		case errors.Is(err, io.EOF):
			return nil, corrupt("unexpected end of snapshot")
		case err != nil:
			return nil, corrupt("reading: %w", err)
		case m == 0:
			if s.empty++; s.empty > 100 {
				return nil, corrupt("reading: %w", io.ErrNoProgress)
			}
		}
	}
	s.pos = n
	return s.buf[0:n:n], nil
}

// uvarint reads one uvarint.
func (s *sreader) uvarint() (uint64, error) {
	if s.end-s.pos < binary.MaxVarintLen64 {
		// Near the end of the buffer: go byte by byte.
		var x uint64
		for i := 0; i < binary.MaxVarintLen64; i++ {
			b, err := s.need(1)
			if err != nil {
				return 0, err
			}
			if b[0] < 0x80 {
				if i == binary.MaxVarintLen64-1 && b[0] > 1 {
					return 0, corrupt("uvarint overflow")
				}
				return x | uint64(b[0])<<(7*i), nil
			}
			x |= uint64(b[0]&0x7f) << (7 * i)
		}
		return 0, corrupt("uvarint overflow")
	}
	x, k := binary.Uvarint(s.buf[s.pos:s.end])
	if k <= 0 {
		return 0, corrupt("uvarint overflow")
	}
	s.pos += k
	return x, nil
}

// sum returns the checksum of every byte handed out so far.
func (s *sreader) sum() uint64 {
	_, _ = s.h.Write(s.buf[s.hpos:s.pos])
	s.hpos = s.pos
	return s.h.Sum64()
}

// atEOF checks that nothing follows.
func (s *sreader) atEOF() error {
	if s.end > s.pos {
		return corrupt("trailing bytes")
	}
	var one [1]byte
	for range 100 {
		m, err := s.r.Read(one[:])
		if m > 0 {
			return corrupt("trailing bytes")
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return corrupt("reading: %w", err)
		}
	}
	return corrupt("reading: %w", io.ErrNoProgress)
}
